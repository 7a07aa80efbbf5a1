package main

import (
	"os"
	"path/filepath"
	"testing"
)

// TestMQTTConfigSubscriberBytes: mqtt.max_subscriber_bytes reaches the
// broker's options.
func TestMQTTConfigSubscriberBytes(t *testing.T) {
	file := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(file, []byte("mqtt:\n  max_subscriber_bytes: 134217728\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := loadConfig([]string{"--config", file})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MQTT.MaxSubscriberBytes != 128<<20 {
		t.Fatalf("max_subscriber_bytes = %d", cfg.MQTT.MaxSubscriberBytes)
	}
}
