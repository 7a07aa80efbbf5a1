package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestClusterConfig(t *testing.T) {
	cfg, err := loadConfig(nil)
	if err != nil || len(cfg.Cluster.NATSURLs) != 0 {
		t.Fatalf("default cluster %+v, %v", cfg.Cluster, err)
	}
	cfg, err = loadConfig([]string{"--http-addr", "0.0.0.0:9000", "--cluster-nats-urls", "nats://a:4222, nats://b:4222",
		"--cluster-node-id", "s1", "--cluster-roles", "storage", "--cluster-partitions", "16", "--cluster-replicas", "1"})
	if err != nil {
		t.Fatal(err)
	}
	o, err := cfg.Cluster.options(cfg.HTTPAddr)
	if err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	if strings.Join(o.URLs, " ") != "nats://a:4222 nats://b:4222" || o.NodeID != "s1" || o.Ingest || !o.Storage ||
		o.Partitions != 16 || o.Replicas != 1 || o.Stream != "LIGHTNING" || o.MemberTTL != 10*time.Second ||
		!strings.HasPrefix(o.AdvertiseURL, "http://"+host) {
		t.Fatalf("options %+v", o)
	}

	file := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(file, []byte("cluster:\n  nats_urls: [nats://a:4222]\n  node_id: a.b\n  roles: [query2]\n  partitions: 5000\n  tls: {cert_file: /c}\n"), 0o644)
	_, err = loadConfig([]string{"--config", file})
	for _, want := range []string{`unknown role "query2"`, "cluster.node_id", "cluster.partitions 5000", "cert_file and key_file"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("want %s named: %v", want, err)
		}
	}
}
