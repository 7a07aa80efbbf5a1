package main

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/lightningdb/lightningdb/internal/mosquittotest"
)

// subscriptionConfig writes a server config subscribing to m with the
// given topics YAML (indented list items) and returns its path.
func subscriptionConfig(t testing.TB, m *mosquittotest.Broker, clientID, topics string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "lightning-db.yaml")
	cfg := fmt.Sprintf(`mqtt:
  subscriptions:
    - name: plant
      brokers: ["tcp://%s"]
      client_id: %s
      max_reconnect_interval: 1s
      dead_letter_topic: dead
      topics:
%s`, m.Addr, clientID, topics)
	if err := os.WriteFile(p, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
