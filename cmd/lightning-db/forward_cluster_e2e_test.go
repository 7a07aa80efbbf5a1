package main

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestForwardEdgeToCluster: an edge server forwards its WAL by remote
// write to a cluster's ingest node (3 nats-servers at R=3, 3 storage
// nodes). The ingest node is frozen (SIGSTOP) mid-load, so the edge's
// requests time out and are retried, some of them after the cluster
// stored them; afterwards the storage nodes hold exactly the edge's
// samples, each (series, timestamp) on one node once.
func TestForwardEdgeToCluster(t *testing.T) {
	c := startTestCluster(t)
	cfg := filepath.Join(t.TempDir(), "edge.yaml")
	yaml := fmt.Sprintf("forward:\n  url: %s\n  max_backoff: 200ms\n  timeout: 1s\n  batch_samples: 5000\n",
		c.ingest.url("/api/v1/write"))
	if err := os.WriteFile(cfg, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	edge := startServer(t, t.TempDir(), "--config", cfg)
	w := &fwdWriter{t: t, base: time.Now().Add(-time.Hour).UnixMilli()}
	w.write(edge, 10)
	waitCaughtUp(t, edge, w.acked, 30*time.Second)

	// Freeze the ingest node while the edge keeps writing: the edge's
	// forwarding times out and retries until the node runs again.
	c.ingest.cmd.Process.Signal(syscall.SIGSTOP)
	retries := metricValue(t, edge, "lightningdb_forward_retries_total")
	w.write(edge, 10)
	poll(t, 20*time.Second, 50*time.Millisecond, func() string {
		if metricValue(t, edge, "lightningdb_forward_retries_total") > retries {
			return ""
		}
		return "the edge did not retry while the ingest node was frozen"
	})
	c.ingest.cmd.Process.Signal(syscall.SIGCONT)
	w.write(edge, 10)
	waitCaughtUp(t, edge, w.acked, 60*time.Second)

	const sel = `{__name__=~"fw_.*"}`
	want := unionSamples(t, sel, edge)
	if len(want) != w.acked {
		t.Fatalf("edge holds %d samples, acknowledged %d", len(want), w.acked)
	}
	waitAllStored(t, want, sel, c.storage...)
	waitApplied(t, c.storage...)
	total := 0
	for _, p := range c.storage {
		total += len(unionSamples(t, sel, p))
	}
	if total != len(want) {
		t.Fatalf("the storage nodes hold %d samples between them, the edge %d", total, len(want))
	}
}
