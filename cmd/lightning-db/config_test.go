package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestConfigFileAndFlags(t *testing.T) {
	file := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(file, []byte(`
data_dir: /from/file
http_addr: 127.0.0.1:9999
log_format: json
engine:
  sync_mode: interval
  sync_interval: 250ms
  max_series: 10
  memtable_flush_bytes: 8388608
  retention: 90m
influx:
  tokens: [a, b]
`), 0o644)
	cfg, err := loadConfig([]string{"--config", file, "--http-addr", "127.0.0.1:1234"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.DataDir != "/from/file" || cfg.HTTPAddr != "127.0.0.1:1234" || cfg.LogFormat != "json" ||
		cfg.Engine.SyncMode != "interval" || cfg.Engine.SyncInterval != 250*time.Millisecond ||
		cfg.Engine.MaxSeries != 10 || len(cfg.Influx.Tokens) != 2 || cfg.engineOptions().MemtableFlushBytes != 8<<20 ||
		cfg.engineOptions().Retention != 90*time.Minute {
		t.Fatalf("config %+v", cfg)
	}
	if cfg.Engine.MemtableBudget != defaultConfig().Engine.MemtableBudget {
		t.Fatal("unset field lost its default")
	}
	os.WriteFile(file, []byte("engine:\n  sync_mod: fsync\n"), 0o644)
	if _, err := loadConfig([]string{"--config", file}); err == nil || !strings.Contains(err.Error(), "sync_mod") {
		t.Fatalf("unknown key not reported: %v", err)
	}
	if _, err := loadConfig([]string{"--sync-mode", "sometimes", "--log-format", "xml"}); err == nil ||
		!strings.Contains(err.Error(), "sometimes") || !strings.Contains(err.Error(), "xml") {
		t.Fatalf("want both problems reported: %v", err)
	}
	// The example shipped in deploy/ must load.
	if _, err := loadConfig([]string{"--config", "../../deploy/lightning-db.example.yaml"}); err != nil {
		t.Fatalf("deploy example: %v", err)
	}
}

// TestMemoryLimit checks the soft memory limit: none by default, explicit,
// or none again when negative.
func TestMemoryLimit(t *testing.T) {
	cfg, err := loadConfig(nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.memoryLimit(); got != 0 {
		t.Fatalf("default memory limit %d, want none", got)
	}
	for _, c := range []struct {
		arg  string
		want int64
	}{{"134217728", 128 << 20}, {"-1", 0}} {
		cfg, err := loadConfig([]string{"--memory-limit", c.arg})
		if err != nil {
			t.Fatal(err)
		}
		if got := cfg.memoryLimit(); got != c.want {
			t.Fatalf("--memory-limit %s: %d, want %d", c.arg, got, c.want)
		}
	}
}
