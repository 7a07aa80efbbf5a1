package main

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// influxQueryDB posts q to /query?db=db and returns the status and body.
func influxQueryDB(t *testing.T, p *proc, db, q string) (int, string) {
	t.Helper()
	return adminCall(t, p, http.MethodPost, "/query", url.Values{"db": {db}, "q": {q}})
}

// TestInfluxQLDeleteE2E runs DROP SERIES, DELETE (with and without FROM),
// DROP MEASUREMENT and DROP DATABASE on /query of a real server and checks
// through /api/v1/export what is left, also after a restart, and that the
// series count in /metrics falls once the deleted series are compacted
// away.
func TestInfluxQLDeleteE2E(t *testing.T) {
	dir := t.TempDir()
	p := startServer(t, dir)
	now := time.Now().Truncate(time.Second)
	t1, t2, t3 := now.Add(-3*time.Hour), now.Add(-2*time.Hour), now.Add(-time.Hour)
	var x strings.Builder
	for _, ts := range []time.Time{t1, t2, t3} {
		fmt.Fprintf(&x, "cpu,host=a usage=1,idle=2 %d\ncpu,host=b usage=3 %d\ncpu,host=c usage=4 %d\nmem,host=a used=5 %d\n",
			ts.UnixNano(), ts.UnixNano(), ts.UnixNano(), ts.UnixNano())
	}
	writeLines(t, p, "x", x.String())
	writeLines(t, p, "y", fmt.Sprintf("cpu,host=a usage=1 %d\n", t3.UnixNano()))
	count := func() map[string]int {
		out := map[string]int{}
		for k, e := range p.export(`{__name__=~"cpu_.*|mem_.*"}`) {
			out[k] = len(e.Timestamps)
		}
		return out
	}
	ok := `{"results":[{"statement_id":0}]}`
	run := func(db, q string) {
		t.Helper()
		if code, body := influxQueryDB(t, p, db, q); code != 200 || strings.TrimSpace(body) != ok {
			t.Fatalf("%s: %d %s", q, code, body)
		}
	}
	seriesBefore := p.metricValue("lightningdb_engine_series")

	run("x", `DROP SERIES FROM cpu WHERE host='a'`)
	want := map[string]int{"cpu_usage{db=x,host=b}": 3, "cpu_usage{db=x,host=c}": 3, "mem_used{db=x,host=a}": 3, "cpu_usage{db=y,host=a}": 1}
	check := func(when string) {
		t.Helper()
		if got := count(); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("%s:\n got %v\nwant %v", when, got, want)
		}
	}
	check("after DROP SERIES")
	run("x", fmt.Sprintf(`DELETE FROM cpu WHERE host='b' AND time < '%s'`, t2.Add(time.Second).Format(time.RFC3339)))
	want["cpu_usage{db=x,host=b}"] = 1
	check("after DELETE FROM ... WHERE tag AND time")
	run("x", fmt.Sprintf(`DELETE WHERE time < '%s'`, t2.Format(time.RFC3339)))
	want["cpu_usage{db=x,host=c}"] = 2
	want["mem_used{db=x,host=a}"] = 2
	check("after DELETE WHERE time")
	run("x", `DROP MEASUREMENT mem`)
	delete(want, "mem_used{db=x,host=a}")
	check("after DROP MEASUREMENT")
	run("", `CREATE RETENTION POLICY week ON y DURATION 7d REPLICATION 1`)
	run("", `DROP DATABASE y`)
	delete(want, "cpu_usage{db=y,host=a}")
	check("after DROP DATABASE")
	if _, body := influxQueryDB(t, p, "", `SHOW DATABASES`); strings.Contains(body, `["y"]`) {
		t.Errorf("SHOW DATABASES still lists y: %s", body)
	}

	// Errors: a statement error without a database, a parse error as 400.
	if code, body := influxQueryDB(t, p, "", `DROP SERIES FROM cpu WHERE host='b'`); code != 200 ||
		!strings.Contains(body, `"error":"database name required"`) {
		t.Errorf("without db: %d %s", code, body)
	}
	if code, body := influxQueryDB(t, p, "x", `DELETE FROM cpu WHERE host='b' OR host='c'`); code != 400 ||
		!strings.Contains(body, "OR is not supported") {
		t.Errorf("OR: %d %s", code, body)
	}
	check("after refused statements")

	first := p
	p.stop()
	p = startServer(t, dir)
	check("after a restart")
	if _, body := influxQueryDB(t, p, "", `SHOW DATABASES`); strings.Contains(body, `["y"]`) {
		t.Errorf("SHOW DATABASES lists the dropped y again after a restart (its retention policy was kept): %s", body)
	}
	if code, body := adminCall(t, p, http.MethodPost, "/api/v1/admin/tsdb/clean_tombstones", nil); code != 204 {
		t.Fatalf("clean_tombstones: %d %s", code, body)
	}
	check("after clean_tombstones")
	// Gone for good: cpu_usage and cpu_idle of x/a, mem_used of x/a, cpu_usage of y/a.
	if after := p.metricValue("lightningdb_engine_series"); after != seriesBefore-4 {
		t.Errorf("lightningdb_engine_series %v, want %v (4 series deleted whole)", after, seriesBefore-4)
	}
	_ = p.metricValue("lightningdb_engine_series_removed_total") // exported
	p.stop()
	// The first run may forget them once its shutdown flush let go of
	// the memtable (its compactor wakes after the flush), else the second
	// at open: the counter of both runs, read from their logs (once they
	// have exited), is 4.
	if n := forgotten(first.log.String()) + forgotten(p.log.String()); n != 4 {
		t.Errorf("series forgotten over both runs: %d, want 4", n)
	}
}

// forgotten sums the series of the engine's "forgot series" log lines.
func forgotten(log string) int {
	n := 0
	for _, line := range strings.Split(log, "\n") {
		if !strings.Contains(line, "forgot series without samples") {
			continue
		}
		var k int
		if i := strings.Index(line, " series="); i >= 0 {
			fmt.Sscan(line[i+len(" series="):], &k)
		}
		n += k
	}
	return n
}
