package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestSnapshotEndpoints makes snapshots through Prometheus' and
// VictoriaMetrics' endpoints of a real server, lists and deletes them, and
// starts a server on one: it holds what was written before it and not
// what was deleted before it nor written after it.
func TestSnapshotEndpoints(t *testing.T) {
	dir := t.TempDir()
	p := startServer(t, dir)
	now := time.Now().Truncate(time.Second)
	var body strings.Builder
	for i := range 20 {
		ts := now.Add(-time.Hour).Add(time.Duration(i) * time.Minute).UnixNano()
		fmt.Fprintf(&body, "m,host=a v=%d %d\nm,host=b v=%d %d\n", i, ts, i, ts)
	}
	writeLines(t, p, "x", body.String())
	if code, b := adminCall(t, p, "POST", "/api/v1/admin/tsdb/delete_series", url.Values{"match[]": {`m_v{host="b"}`}}); code != http.StatusNoContent {
		t.Fatalf("delete_series: %d %s", code, b)
	}

	if got := influxQuery(t, p, `CREATE RETENTION POLICY "week" ON "x" DURATION 7d REPLICATION 1`); strings.Contains(got, "error") {
		t.Fatalf("create retention policy: %s", got)
	}

	code, b := adminCall(t, p, "GET", "/api/v1/admin/tsdb/snapshot", nil)
	if code != http.StatusMethodNotAllowed {
		t.Fatalf("GET snapshot: %d %s, want 405", code, b)
	}
	var prom struct {
		Status string                `json:"status"`
		Data   struct{ Name string } `json:"data"`
	}
	code, b = adminCall(t, p, "POST", "/api/v1/admin/tsdb/snapshot", nil)
	if code != http.StatusOK || json.Unmarshal([]byte(b), &prom) != nil || prom.Status != "success" || prom.Data.Name == "" {
		t.Fatalf("POST snapshot: %d %s", code, b)
	}
	var vm struct{ Status, Snapshot, Msg string }
	code, b = adminCall(t, p, "POST", "/snapshot/create", nil)
	if code != http.StatusOK || json.Unmarshal([]byte(b), &vm) != nil || vm.Status != "ok" || vm.Snapshot == "" {
		t.Fatalf("/snapshot/create: %d %s", code, b)
	}
	requireSnapshotList(t, p, prom.Data.Name, vm.Snapshot)
	writeLines(t, p, "x", fmt.Sprintf("m,host=a v=99 %d\n", now.UnixNano())) // after both

	for _, c := range []struct {
		name string
		code int
	}{{"../x", http.StatusBadRequest}, {"", http.StatusBadRequest}, {"20990101T000000Z-00", http.StatusNotFound}} {
		if code, b := adminCall(t, p, "GET", "/snapshot/delete", url.Values{"snapshot": {c.name}}); code != c.code || !strings.Contains(b, `"status":"error"`) {
			t.Errorf("delete %q: %d %s, want %d and VictoriaMetrics' error shape", c.name, code, b, c.code)
		}
	}
	if code, b := adminCall(t, p, "GET", "/snapshot/delete", url.Values{"snapshot": {vm.Snapshot}}); code != 200 || strings.TrimSpace(b) != `{"status":"ok"}` {
		t.Fatalf("delete: %d %s", code, b)
	}
	requireSnapshotList(t, p, prom.Data.Name)
	p.stop()

	q := startServer(t, filepath.Join(dir, snapshotDir, prom.Data.Name))
	if rps := influxQuery(t, q, `SHOW RETENTION POLICIES ON "x"`); !strings.Contains(rps, `"week"`) {
		t.Errorf("the snapshot lacks the retention policy: %s", rps)
	}
	got := q.export(`{__name__=~"m_.*"}`)
	if len(got) != 1 || len(got[`m_v{db=x,host=a}`].Values) != 20 {
		t.Fatalf("snapshot holds %v, want host a's 20 samples only", got)
	}
	q.stop()

	unfinished := filepath.Join(dir, snapshotDir, ".20260101T000000Z-00.tmp")
	if err := os.MkdirAll(filepath.Join(unfinished, "wal"), 0o755); err != nil {
		t.Fatal(err)
	}
	p = startServer(t, dir)
	if _, err := os.Stat(unfinished); !os.IsNotExist(err) {
		t.Fatalf("an unfinished snapshot is left at start: %v", err)
	}
	if code, b := adminCall(t, p, "POST", "/snapshot/delete_all", nil); code != 200 {
		t.Fatalf("delete_all: %d %s", code, b)
	}
	requireSnapshotList(t, p)
}

// requireSnapshotList requires /snapshot/list to name exactly want.
func requireSnapshotList(t *testing.T, p *proc, want ...string) {
	t.Helper()
	code, b := adminCall(t, p, "GET", "/snapshot/list", nil)
	var list struct {
		Status    string
		Snapshots []string
	}
	ok := code == 200 && json.Unmarshal([]byte(b), &list) == nil && list.Status == "ok"
	slices.Sort(list.Snapshots)
	slices.Sort(want)
	if !ok || strings.Join(list.Snapshots, ",") != strings.Join(want, ",") {
		t.Fatalf("/snapshot/list: %d %s, want %v", code, b, want)
	}
}

// TestSnapshotGuarded refuses snapshots without the write token, as
// delete_series does.
func TestSnapshotGuarded(t *testing.T) {
	p := startServer(t, t.TempDir(), "--auth-tokens", "s3cret")
	for _, path := range []string{"/api/v1/admin/tsdb/snapshot", "/snapshot/create", "/snapshot/list", "/snapshot/delete_all"} {
		if code, b := adminCall(t, p, "POST", path, nil); code != http.StatusUnauthorized {
			t.Errorf("%s without token: %d %s, want 401", path, code, b)
		}
	}
	if code, b := adminCall(t, p, "POST", "/snapshot/create", nil, "Authorization", "Bearer s3cret"); code != 200 {
		t.Errorf("with token: %d %s", code, b)
	}
}
