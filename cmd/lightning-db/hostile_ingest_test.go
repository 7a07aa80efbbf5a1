package main

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestHostileIngest is the engine's part of the hostile-input suite (issue
// #14): what one write can do to the storage behind every protocol.
//
//	go test -run TestHostileIngest ./cmd/lightning-db
//
// LDB_TEST_BINARY=/work/base/lightning-db runs the same attacks against
// another build (the figures before the fix); the crafted-WAL case uses
// /work/base/lightning-db (or LDB_BASE_BINARY), a build from before the
// fix, to write the WAL, and is skipped where there is none.
func TestHostileIngest(t *testing.T) {
	t.Run("timestamps out of range", hostileTimestamps)
	t.Run("WAL holding an out-of-range sample", hostileOldWAL)
	t.Run("one request of 400k new series", hostileSeriesRequest)
	t.Run("1.2M new series in five requests", hostileSeriesFlood)
}

// startBinary is startServer with a chosen executable.
func startBinary(t *testing.T, bin, dataDir string, args ...string) *proc {
	t.Helper()
	saved := binary
	binary = bin
	defer func() { binary = saved }()
	return startServer(t, dataDir, args...)
}

// write posts line protocol to /write with the query string q and returns
// the status and body.
func write(t *testing.T, p *proc, q, body string) (int, string) {
	t.Helper()
	resp := post(t, p.url("/write?"+q), "text/plain", []byte(body), nil)
	return resp.StatusCode, readBody(t, resp)
}

// metric returns the value of the first /metrics line starting with name.
func metric(t *testing.T, p *proc, name string) float64 {
	t.Helper()
	resp, err := http.Get(p.url("/metrics"))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(readBody(t, resp), "\n") {
		if strings.HasPrefix(l, name+" ") {
			v, err := strconv.ParseFloat(strings.TrimSpace(l[len(name):]), 64)
			if err != nil {
				t.Fatalf("metric %q: %v", l, err)
			}
			return v
		}
	}
	t.Errorf("no metric %s", name)
	return -1
}

// hostileTimestamps: a line at MinInt64 was answered 204 and stopped every
// flush for good ("time range differs from the manifest's"); SIGTERM then
// exited 1 and the WAL replayed the sample at every start. Now every line
// outside InfluxDB's range, at any precision, is rejected by line (400
// partial write naming the timestamp), the valid lines beside it,
// including the two ends of the range, are stored, flushed at shutdown,
// read back after a restart, and the server exits 0.
func hostileTimestamps(t *testing.T) {
	dir := t.TempDir()
	p := startBinary(t, binary, dir)
	by := startBystander(t, p)
	body := strings.Join([]string{
		"poison f=1 -9223372036854775808",
		"poison f=2 -9223372036854775807",
		"poison f=3 9223372036854775807",
		"edge,at=min f=4 -9223372036854775806",
		"edge,at=max f=5 9223372036854775806",
		"valid f=6 1700000000000000000",
	}, "\n")
	code, reply := write(t, p, "db=p", body)
	if code != http.StatusBadRequest || !strings.Contains(reply, "partial write") ||
		!strings.Contains(reply, "-9223372036854775808") || !strings.Contains(reply, "timestamp out of range") {
		t.Errorf("poison lines: %d %s; want 400 partial write naming the timestamp", code, reply)
	}
	// precision=s: huge values overflow the ns conversion or leave the range.
	code, reply = write(t, p, "db=p&precision=s", "poison_s f=1 9223372037\npoison_s f=2 -9223372037\n"+
		"poison_s f=3 9223372036854775807\nvalid_s f=7 1700000000")
	if code != http.StatusBadRequest || !strings.Contains(reply, "9223372037 at precision s") {
		t.Errorf("precision=s poison: %d %s", code, reply)
	}
	by.stop(t)
	p.requireAlive()
	p.requirePeakBelow(300 << 20)
	p.stop() // the final flush must succeed: exit 0

	p = startBinary(t, binary, dir)
	got := p.export(`{db="p"}`)
	for _, key := range []string{"edge_f{at=max,db=p}", "edge_f{at=min,db=p}", "valid_f{db=p}", "valid_s_f{db=p}"} {
		if _, ok := got[key]; !ok {
			t.Errorf("valid series %s lost after the flush and restart (have %v)", key, keys(got))
		}
	}
	for key := range got {
		if strings.HasPrefix(key, "poison") {
			t.Errorf("an out-of-range series was stored: %s", key)
		}
	}
	if code, reply := write(t, p, "db=p", "after f=1"); code != http.StatusNoContent {
		t.Errorf("write after restart: %d %s", code, reply)
	}
	p.stop()
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// hostileOldWAL: a WAL written by a version that acknowledged a sample at
// MinInt64 made every start replay it into a memtable no flush could
// write. Now recovery drops it (logged, counted) and the server flushes,
// serves and exits 0.
func hostileOldWAL(t *testing.T) {
	base := os.Getenv("LDB_BASE_BINARY")
	if base == "" {
		base = "/work/base/lightning-db"
	}
	if _, err := exec.LookPath(base); err != nil {
		t.Skipf("no base binary to write the WAL with: %v", err)
	}
	dir := t.TempDir()
	old := startBinary(t, base, dir)
	if code, reply := write(t, old, "db=p", "poison f=1 -9223372036854775808\nkept f=2 1700000000000000000"); code != http.StatusNoContent {
		t.Fatalf("the base binary refused the poison line (%d %s): it no longer makes the WAL this case needs", code, reply)
	}
	old.kill() // the WAL holds the sample; the base binary cannot flush it

	p := startBinary(t, binary, dir)
	by := startBystander(t, p)
	if _, ok := p.export(`{db="p"}`)["kept_f{db=p}"]; !ok {
		t.Error("the valid sample of the old WAL is lost")
	}
	if n := metric(t, p, "lightningdb_engine_wal_dropped_samples_total"); n != 1 {
		t.Errorf("dropped samples counted %v, want 1", n)
	}
	if !strings.Contains(p.log.String(), "out of the stored timestamp range") {
		t.Errorf("no warning in the log:\n%s", p.log)
	}
	if code, reply := write(t, p, "db=p", "after f=1"); code != http.StatusNoContent {
		t.Errorf("write: %d %s", code, reply)
	}
	by.stop(t)
	p.requirePeakBelow(300 << 20)
	p.stop()
	p = startBinary(t, binary, dir)
	if _, ok := p.export(`{db="p"}`)["after_f{db=p}"]; !ok {
		t.Error("a write after the recovery is lost")
	}
	p.stop()
}

// seriesBody returns line protocol of n new series (5 fields a line, each
// a series), named by prefix, about 6 bytes a series.
func seriesBody(prefix string, n int) string {
	var b strings.Builder
	for i := 0; i < n; i += 5 {
		fmt.Fprintf(&b, "%s%d a=1,b=1,c=1,d=1,e=1\n", prefix, i/5)
	}
	return b.String()
}

// hostileSeriesRequest: a 2 MiB request of 409,600 new series passed a
// 64 MiB memtable budget (checked before the append only) and left a
// 275 MB memtable, +618 MB of RSS. Now its estimated size is checked
// first: 413 "request too large", nothing created.
func hostileSeriesRequest(t *testing.T) {
	p := startBinary(t, binary, t.TempDir(), "--memtable-budget", strconv.Itoa(64<<20))
	by := startBystander(t, p)
	_, before := p.memStatus()
	body := seriesBody("big", 409_600)
	start := time.Now()
	code, reply := write(t, p, "db=p", body)
	t.Logf("%.1f MiB request of 409,600 new series: %d %.200s in %v", float64(len(body))/(1<<20), code, reply, time.Since(start))
	if code != http.StatusRequestEntityTooLarge || !strings.Contains(reply, "request too large") {
		t.Errorf("answer %d %s; want 413 request too large", code, reply)
	}
	if code, reply := write(t, p, "db=p", seriesBody("small", 800)); code != http.StatusNoContent {
		t.Errorf("a request of 800 new series after it: %d %s", code, reply)
	}
	t.Logf("peak RSS before the attack %.1f MiB", float64(before)/(1<<20))
	p.requirePeakBelow(before + 200<<20)
	by.stop(t)
	p.requireAlive()
	p.stop()
}

// hostileSeriesFlood: five requests of 240,000 new series each took the
// registry to 1.2 M series and the server to 2.3 GB. Now each request
// creates at most engine.max_new_series_per_request (100,000) and all
// together at most max_new_series_per_minute (500,000); the rest are
// rejected by line (400 partial write) and counted.
func hostileSeriesFlood(t *testing.T) {
	p := startBinary(t, binary, t.TempDir())
	by := startBystander(t, p)
	_, before := p.memStatus()
	limited := regexp.MustCompile(`new series (in one request|a minute)`)
	for r := range 5 {
		code, reply := write(t, p, "db=p", seriesBody(fmt.Sprintf("flood%d_", r), 240_000))
		t.Logf("request %d: %d %.160s", r, code, reply)
		if code != http.StatusBadRequest || !limited.MatchString(reply) {
			t.Errorf("request %d of 240,000 new series: %d %.300s; want 400 partial write naming the limit", r, code, reply)
		}
	}
	if n := metric(t, p, "lightningdb_engine_series"); n > 500_000+1000 {
		t.Errorf("%v series after the flood", n)
	}
	if n := metric(t, p, `lightningdb_engine_rejected_series_by_reason_total{reason="new_series_per_request"}`); n <= 0 {
		t.Error("rejections not counted")
	}
	t.Logf("peak RSS before the attack %.1f MiB", float64(before)/(1<<20))
	p.requirePeakBelow(1 << 30) // 2.3 GB before the limits
	by.stop(t)
	p.requireAlive()
	p.stop()
}
