package main

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// Edge-to-cloud forwarding (docs/forwarding.md): an edge server forwards
// what it stores to a central one over remote write 1.0.

// startServerAt starts the server on a given HTTP address (a central
// server restarted where the edge forwards to) and waits until it is ready.
func startServerAt(t *testing.T, dataDir, addr string, args ...string) *proc {
	t.Helper()
	p, busy := launch(t, dataDir, addr, func(p *proc) bool { return readyAt(p.url("/ready")) }, append([]string{"--mqtt-addr", ""}, args...)...)
	if busy {
		t.Fatalf("server could not bind %s again; log:\n%s", addr, p.log)
	}
	return p
}

// fwdWriter writes line protocol to the edge: 50 series, 20 timestamps
// per request (1,000 samples), timestamps never repeated.
type fwdWriter struct {
	t     *testing.T
	base  int64 // ms
	reqs  int
	acked int // samples acknowledged (204)
}

func (w *fwdWriter) write(p *proc, n int) {
	w.t.Helper()
	for range n {
		var b strings.Builder
		for s := range 50 {
			for i := range 20 {
				ts := w.base + int64(w.reqs*20+i)
				fmt.Fprintf(&b, "fw,host=h%d v=%d.25 %d\n", s, w.reqs*20+i, ts)
			}
		}
		resp := post(w.t, p.url("/write?db=fwd&precision=ms"), "", []byte(b.String()), nil)
		resp.Body.Close()
		if resp.StatusCode != 204 {
			w.t.Fatalf("write: %d", resp.StatusCode)
		}
		w.reqs++
		w.acked += 1000
	}
}

// waitCaughtUp polls until the edge's forwarding lag is 0 and it has
// forwarded at least minSamples since it started; it returns how long
// that took.
func waitCaughtUp(t *testing.T, edge *proc, minSamples int, timeout time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	poll(t, timeout, 20*time.Millisecond, func() string {
		lag := metricValue(t, edge, "lightningdb_forward_lag_bytes")
		lagS := metricValue(t, edge, "lightningdb_forward_lag_seconds")
		n := metricValue(t, edge, "lightningdb_forward_samples_total")
		if lag == 0 && lagS == 0 && n >= float64(minSamples) {
			return ""
		}
		return fmt.Sprintf("edge forwarding lag %v bytes, %v s, %v samples forwarded of %d; edge log:\n%s",
			lag, lagS, n, minSamples, tail(edge.log.String(), 3000))
	})
	return time.Since(start)
}

func tail(s string, n int) string { return s[max(0, len(s)-n):] }

// requireSameExport polls until the edge's and the central's exports of
// the forwarded series are equal and the edge holds the acknowledged
// samples.
func requireSameExport(t *testing.T, edge, central *proc, acked int) {
	t.Helper()
	poll(t, 20*time.Second, 50*time.Millisecond, func() string {
		e, c := edge.export(`{db="fwd"}`), central.export(`{db="fwd"}`)
		n := 0
		for k, es := range e {
			n += len(es.Timestamps)
			cs, ok := c[k]
			if !ok {
				return fmt.Sprintf("series %s is not in the central server", k)
			}
			if !reflect.DeepEqual(es.Timestamps, cs.Timestamps) || !reflect.DeepEqual(es.Values, cs.Values) {
				return fmt.Sprintf("series %s: edge has %d samples, central %d (or other values)", k, len(es.Timestamps), len(cs.Timestamps))
			}
		}
		if n != acked || len(c) != len(e) {
			return fmt.Sprintf("edge holds %d samples in %d series, acknowledged %d; central has %d series", n, len(e), acked, len(c))
		}
		return ""
	})
}

// TestForwardOutage: the central server stops while the edge is written
// to; the edge holds the WAL (small segments, flushes meanwhile), catches
// up once the central server is back, and the two exports are equal. Then
// the edge is killed (SIGKILL) while forwarding and restarted: it resumes
// from its cursor and nothing is lost. LDB_FORWARD_OUTAGE=60s makes the
// outage last that long, LDB_FORWARD_BATCH sets forward.batch_samples
// (manual runs; docs/forwarding.md has their figures).
// The edge runs with encryption at rest too (sealed WAL frames).
func TestForwardOutage(t *testing.T) {
	t.Run("plain", func(t *testing.T) { forwardOutage(t, "") })
	if os.Getenv("LDB_FORWARD_OUTAGE") != "" {
		return
	}
	t.Run("sealed", func(t *testing.T) {
		key := filepath.Join(t.TempDir(), "keys")
		if err := os.WriteFile(key, []byte(strings.Repeat("ab", 32)+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		forwardOutage(t, "encryption:\n  key_file: "+key+"\n")
	})
}

func forwardOutage(t *testing.T, extraYAML string) {
	centralDir, edgeDir := t.TempDir(), t.TempDir()
	caddr := freeAddr(t)
	central := startServerAt(t, centralDir, caddr)
	batch := "20000"
	if b := os.Getenv("LDB_FORWARD_BATCH"); b != "" { // manual runs: forward.batch_samples
		batch = b
	}
	cfg := filepath.Join(t.TempDir(), "edge.yaml")
	yaml := fmt.Sprintf("engine:\n  wal_segment_size: 262144\n  memtable_flush_bytes: 1048576\n"+
		"forward:\n  url: http://%s/api/v1/write\n  max_backoff: 200ms\n  batch_samples: %s\n", caddr, batch) + extraYAML
	if err := os.WriteFile(cfg, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	edge := startServer(t, edgeDir, "--config", cfg)
	w := &fwdWriter{t: t, base: time.Now().Add(-time.Hour).UnixMilli()}

	w.write(edge, 20)
	waitCaughtUp(t, edge, w.acked, 20*time.Second)
	requireSameExport(t, edge, central, w.acked)

	// Outage: write until the lag passes 4 WAL segments (event-driven),
	// or for LDB_FORWARD_OUTAGE.
	central.stop()
	outage, _ := time.ParseDuration(os.Getenv("LDB_FORWARD_OUTAGE"))
	start, before := time.Now(), w.acked
	for i := 0; ; i++ {
		w.write(edge, 5)
		if outage > 0 {
			if time.Since(start) >= outage {
				break
			}
			continue
		}
		if metricValue(t, edge, "lightningdb_forward_lag_bytes") > 4*262144 {
			break
		}
		if i == 2000 {
			t.Fatalf("lag did not grow during the outage; edge log:\n%s", tail(edge.log.String(), 3000))
		}
	}
	down := time.Since(start)
	lagBytes := metricValue(t, edge, "lightningdb_forward_lag_bytes")
	if metricValue(t, edge, "lightningdb_forward_retries_total") == 0 {
		t.Fatal("no retry counted during the outage")
	}
	sent := metricValue(t, edge, "lightningdb_forward_samples_total")
	central = startServerAt(t, centralDir, caddr)
	took := waitCaughtUp(t, edge, w.acked, 120*time.Second)
	caught := metricValue(t, edge, "lightningdb_forward_samples_total") - sent
	t.Logf("outage %v: %d samples written to the edge, lag %.0f bytes; caught up %.0f samples in %v: %.0f samples/s",
		down.Round(time.Millisecond), w.acked-before, lagBytes, caught, took.Round(time.Millisecond), caught/took.Seconds())
	requireSameExport(t, edge, central, w.acked)

	// SIGKILL the edge while it forwards a burst, restart it.
	central.stop()
	w.write(edge, 200) // 10 batches: the kill comes after the first
	central = startServerAt(t, centralDir, caddr)
	poll(t, 20*time.Second, 5*time.Millisecond, func() string {
		if metricValue(t, edge, "lightningdb_forward_samples_total") > caught+sent {
			return ""
		}
		return "edge did not resume forwarding"
	})
	t.Logf("SIGKILL with %.0f bytes of WAL not forwarded", metricValue(t, edge, "lightningdb_forward_lag_bytes"))
	edge.kill()
	edge = startServer(t, edgeDir, "--config", cfg)
	waitCaughtUp(t, edge, 0, 30*time.Second)
	requireSameExport(t, edge, central, w.acked)
	edge.stop()
	central.stop()
}
