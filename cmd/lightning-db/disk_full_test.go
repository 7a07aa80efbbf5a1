package main

import (
	"bytes"
	"fmt"
	"math/rand"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The full-disk test's workload: each write request holds fillPoints
// points of each of fillSeries series, random floats (so segments do not
// compress them away and the disk fills from segments and WAL alike).
const (
	fillSeries  = 100
	fillPoints  = 100
	fillBase    = int64(1_700_000_000) * 1e9 // ns
	fillMaxReqs = 400                        // the disk fills long before
)

// TestDiskFull puts the data directory on a 16 MiB tmpfs, beside a filler
// file, and writes until the disk is full. Writes then get 503 with
// Retry-After naming "no space left on device" and no server path; reads
// keep working; every acknowledged point stays readable, also after a
// restart; and once the filler is deleted, writes are accepted again
// without anyone touching the server (failed flushes are retried).
func TestDiskFull(t *testing.T) {
	mnt := mountTmpfs(t, "16m")
	filler := filepath.Join(mnt, "filler")
	if err := os.WriteFile(filler, make([]byte, 10<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(mnt, "data")
	cfg := filepath.Join(t.TempDir(), "config.yaml")
	// A small WAL segment and memtable, so that WAL rotation, flushes and
	// compactions all run into the full disk, not only WAL writes.
	conf := "engine:\n  wal_segment_size: 1048576\n  memtable_flush_bytes: 2097152\n"
	if err := os.WriteFile(cfg, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	p := startServer(t, dir, "--config", cfg)
	w := &fillWriter{t: t, p: p, rng: rand.New(rand.NewSource(1)), c: &http.Client{Timeout: 30 * time.Second}}
	status, msg := http.StatusNoContent, ""
	for i := 0; i < fillMaxReqs && status == http.StatusNoContent; i++ {
		status, msg = w.write()
	}
	w.requireFull(status, msg, mnt)
	t.Logf("disk full after %d acknowledged requests (%d points): %d %s",
		len(w.acked), len(w.acked)*fillSeries*fillPoints, status, msg)

	// Reads keep working while the disk is full.
	w.requireAcked(p)
	w.requireQuery(p)
	p.requireAlive()

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	w.waitAccepted(30 * time.Second)
	for range 5 {
		if status, msg := w.write(); status != http.StatusNoContent {
			t.Fatalf("write after space was freed: %d %s", status, msg)
		}
	}
	w.requireAcked(p)
	p.stop()
	p = startServer(t, dir, "--config", cfg)
	defer p.stop()
	w.requireAcked(p)
}

// mountTmpfs mounts a tmpfs of the given size on a new temporary directory
// and unmounts it when the test ends. Without the right to mount it skips
// the test, unless CI=true, where it fails.
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	mnt := t.TempDir()
	if err := unix.Mount("tmpfs", mnt, "tmpfs", 0, "size="+size); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("mount a %s tmpfs on %s: %v (CI runs as root and must run this test)", size, mnt, err)
		}
		t.Skipf("cannot mount a tmpfs (%v): this test needs root or CAP_SYS_ADMIN; under CI=true it fails instead", err)
	}
	// Cleanups run last-in first-out: this one after the servers started
	// later are killed, before t.TempDir removes the directory.
	t.Cleanup(func() {
		if err := unix.Unmount(mnt, 0); err != nil {
			t.Errorf("unmount %s: %v", mnt, err)
			unix.Unmount(mnt, unix.MNT_DETACH)
		}
	})
	return mnt
}

// fillWriter writes the full-disk workload and remembers what was
// acknowledged.
type fillWriter struct {
	t     *testing.T
	p     *proc
	rng   *rand.Rand
	c     *http.Client
	next  int         // the next request's number; its timestamps follow the last's
	acked [][]float64 // per acknowledged request, its values by series then point
	first []int       // per acknowledged request, its number
}

// write sends the next request and returns its status and body; a 204
// is remembered as acknowledged.
func (w *fillWriter) write() (int, string) {
	w.t.Helper()
	i := w.next
	w.next++
	vals := make([]float64, fillSeries*fillPoints)
	var body bytes.Buffer
	for s := range fillSeries {
		for k := range fillPoints {
			v := w.rng.Float64()
			vals[s*fillPoints+k] = v
			fmt.Fprintf(&body, "fill,s=%d v=%s %d\n", s, strconv.FormatFloat(v, 'g', -1, 64), fillTS(i, k))
		}
	}
	resp, err := w.c.Post(w.p.url("/write?db=fill"), "text/plain", &body)
	if err != nil {
		w.t.Fatalf("write %d: %v", i, err)
	}
	msg := readBody(w.t, resp)
	switch resp.StatusCode {
	case http.StatusNoContent:
		w.acked = append(w.acked, vals)
		w.first = append(w.first, i)
	case http.StatusServiceUnavailable, http.StatusInsufficientStorage:
		if resp.Header.Get("Retry-After") == "" {
			w.t.Fatalf("write %d: %d without Retry-After: %s", i, resp.StatusCode, msg)
		}
	default:
		w.t.Fatalf("write %d: %d %s", i, resp.StatusCode, msg)
	}
	return resp.StatusCode, msg
}

func fillTS(req, point int) int64 { return fillBase + int64(req*fillPoints+point)*1e9 }

// requireFull checks the answer to a write on a full disk: 503 (or 507)
// naming the cause, and no server path.
func (w *fillWriter) requireFull(status int, msg, mnt string) {
	w.t.Helper()
	if status != http.StatusServiceUnavailable && status != http.StatusInsufficientStorage {
		w.t.Fatalf("the disk never filled in %d requests: %d %s", w.next, status, msg)
	}
	if !strings.Contains(msg, "no space left on device") || strings.Contains(msg, mnt) || strings.Contains(msg, "/") {
		w.t.Fatalf("write on a full disk: %d %q, want the cause and no path", status, msg)
	}
	if len(w.acked) == 0 {
		w.t.Fatal("no write was acknowledged before the disk filled")
	}
}

// requireQuery runs a PromQL query over the acknowledged data: it must
// see every series.
func (w *fillWriter) requireQuery(p *proc) {
	w.t.Helper()
	at := fillTS(w.first[len(w.first)-1], fillPoints-1) / 1e9
	resp, err := w.c.Get(p.url(fmt.Sprintf("/api/v1/query?query=count(fill_v)&time=%d", at)))
	if err != nil {
		w.t.Fatal(err)
	}
	body := readBody(w.t, resp)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, fmt.Sprintf(`"%d"`, fillSeries)) {
		w.t.Fatalf("query on a full disk: %d %s", resp.StatusCode, body)
	}
}

// waitAccepted writes until a write is acknowledged, at most for d.
func (w *fillWriter) waitAccepted(d time.Duration) {
	w.t.Helper()
	poll(w.t, d, 100*time.Millisecond, func() string {
		if status, msg := w.write(); status != http.StatusNoContent {
			return fmt.Sprintf("writes still refused %v after space was freed: %d %s", d, status, msg)
		}
		return ""
	})
}

// requireAcked reads every series back and checks that each acknowledged
// point is there with its value.
func (w *fillWriter) requireAcked(p *proc) {
	w.t.Helper()
	got := p.export(`{__name__="fill_v"}`)
	for s := range fillSeries {
		key := fmt.Sprintf("fill_v{db=fill,s=%d}", s)
		have := map[int64]string{}
		for j, ts := range got[key].Timestamps {
			have[ts] = fmt.Sprint(got[key].Values[j])
		}
		for r, vals := range w.acked {
			for k := range fillPoints {
				ts := fillTS(w.first[r], k)
				v, ok := have[ts]
				if !ok {
					w.t.Fatalf("%s: acknowledged point at %d (request %d) missing", key, ts, w.first[r])
				}
				if f, err := strconv.ParseFloat(v, 64); err != nil || f != vals[s*fillPoints+k] {
					w.t.Fatalf("%s at %d = %s, want %v", key, ts, v, vals[s*fillPoints+k])
				}
			}
		}
	}
}
