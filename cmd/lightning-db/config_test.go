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
influx:
  tokens: [a, b]
`), 0o644)
	cfg, err := loadConfig([]string{"--config", file, "--http-addr", "127.0.0.1:1234"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.DataDir != "/from/file" || cfg.HTTPAddr != "127.0.0.1:1234" || cfg.LogFormat != "json" ||
		cfg.Engine.SyncMode != "interval" || cfg.Engine.SyncInterval != 250*time.Millisecond ||
		cfg.Engine.MaxSeries != 10 || len(cfg.Influx.Tokens) != 2 || cfg.engineOptions().MemtableFlushBytes != 8<<20 {
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

// TestForwardConfig: off by default, --forward-url turns it on, bad
// settings are named.
func TestForwardConfig(t *testing.T) {
	cfg, err := loadConfig(nil)
	if err != nil || cfg.Forward.URL != "" {
		t.Fatalf("default forward %+v, %v", cfg.Forward, err)
	}
	cfg, err = loadConfig([]string{"--forward-url", "https://central:8086/api/v1/write"})
	if err != nil || cfg.Forward.URL != "https://central:8086/api/v1/write" {
		t.Fatalf("--forward-url: %+v, %v", cfg.Forward, err)
	}
	file := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(file, []byte("forward:\n  url: central:8086\n  max_wal_bytes: -1\n  bearer_token: a\n  bearer_token_file: /x\n"), 0o644)
	_, err = loadConfig([]string{"--config", file})
	for _, want := range []string{"forward.url", "forward.max_wal_bytes", "bearer_token_file"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("want %s named: %v", want, err)
		}
	}
}
