package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestClusterQueryConfig(t *testing.T) {
	file := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(file, []byte("cluster:\n  query_peers: [http://10.0.0.2:8086, https://b:8086/]\n  query_peer_timeout: 3s\n  partial_response: false\n"), 0o644)
	cfg, err := loadConfig([]string{"--config", file})
	if err != nil {
		t.Fatal(err)
	}
	c := cfg.Cluster
	if len(c.QueryPeers) != 2 || c.QueryPeerTimeout != 3*time.Second || c.PartialResponse == nil || *c.PartialResponse {
		t.Fatalf("cluster %+v", c)
	}
	os.WriteFile(file, []byte("cluster:\n  query_peers: [10.0.0.2:8086, \"ftp://x\"]\n  query_peer_timeout: -1s\n"), 0o644)
	_, err = loadConfig([]string{"--config", file})
	for _, want := range []string{`"10.0.0.2:8086"`, `"ftp://x"`, "query_peer_timeout"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("want %s reported: %v", want, err)
		}
	}
}
