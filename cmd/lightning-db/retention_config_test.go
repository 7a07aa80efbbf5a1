package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRetentionConfig: the retention section, the --retention flag (which
// wins over the file's default), and errors that name the bad key.
func TestRetentionConfig(t *testing.T) {
	file := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(file, []byte(`
retention:
  default: 90d
  check_interval: 1m
  databases:
    factory: 1w
  rules:
    - match: '{db="factory", sensor=~"vib.*"}'
      keep: 7d
`), 0o644)
	cfg, err := loadConfig([]string{"--config", file, "--retention", "30d"})
	if err != nil {
		t.Fatal(err)
	}
	r, err := cfg.Retention.Compile()
	if err != nil {
		t.Fatal(err)
	}
	if r.Default != 30*24*time.Hour || r.Databases["factory"] != 7*24*time.Hour || len(r.Rules) != 1 ||
		cfg.Retention.CheckInterval != time.Minute {
		t.Fatalf("retention %+v, check interval %v", r, cfg.Retention.CheckInterval)
	}
	if _, err := loadConfig([]string{"--retention", "30 days"}); err == nil || !strings.Contains(err.Error(), "retention.default") {
		t.Fatalf("bad --retention: %v", err)
	}
	os.WriteFile(file, []byte("retention:\n  rules:\n    - match: '{db=~\"(\"}'\n      keep: 7d\n"), 0o644)
	if _, err := loadConfig([]string{"--config", file}); err == nil || !strings.Contains(err.Error(), "retention.rules[0].match") {
		t.Fatalf("bad rule: %v", err)
	}
}
