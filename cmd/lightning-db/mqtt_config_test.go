package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestMQTTConfigSubscriberBytes: mqtt.max_subscriber_bytes and
// subscriber_stall reach the configuration.
func TestMQTTConfigSubscriberBytes(t *testing.T) {
	file := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(file, []byte("mqtt:\n  max_subscriber_bytes: 134217728\n  subscriber_stall: 3s\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := loadConfig([]string{"--config", file})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MQTT.MaxSubscriberBytes != 128<<20 || cfg.MQTT.SubscriberStall != 3*time.Second {
		t.Fatalf("max_subscriber_bytes = %d, subscriber_stall = %v", cfg.MQTT.MaxSubscriberBytes, cfg.MQTT.SubscriberStall)
	}
}
