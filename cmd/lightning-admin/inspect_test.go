package main

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lightningdb/lightningdb/engine"
	"github.com/lightningdb/lightningdb/series"
)

// writeDB writes samples of series m{s=0..n-1} at ts into a new database
// in dir and closes it (which flushes).
func writeDB(t *testing.T, dir string, n int, ts int64) {
	t.Helper()
	db, err := engine.Open(dir, engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var b series.Batch
	for i := range n {
		b.AddSeries(series.FromStrings("__name__", "m", "s", string(rune('a'+i))), series.TypeFloat)
		b.AppendFloat(ts, 1)
		b.AppendFloat(ts+1, 2)
	}
	if _, err := db.Append(context.Background(), &b); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestInspectCommand inspects a data directory with a rollup tier, as
// text and as JSON.
func TestInspectCommand(t *testing.T) {
	dir := t.TempDir()
	ts := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC).UnixNano()
	writeDB(t, dir, 3, ts)
	writeDB(t, filepath.Join(dir, "rollup", "5m"), 2, ts)
	var stdout, stderr bytes.Buffer
	if code := run([]string{"inspect", "--data-dir", dir}, &stdout, &stderr); code != 0 {
		t.Fatalf("inspect: %d %s", code, stderr.String())
	}
	out := stdout.String()
	for _, want := range []string{"raw (" + dir + "): 1 partitions, 3 series, 6 samples",
		"rollup tier 5m", "2 series, 4 samples", "L0 seq", "2026-12-01T10:00:00Z"} {
		if !strings.Contains(out, want) {
			t.Errorf("inspect output lacks %q:\n%s", want, out)
		}
	}
	stdout.Reset()
	if code := run([]string{"inspect", "--data-dir", dir, "--json"}, &stdout, &stderr); code != 0 {
		t.Fatalf("inspect --json: %d", code)
	}
	var got inspected
	if err := json.Unmarshal(stdout.Bytes(), &got); err != nil || got.Raw.Series != 3 || got.Tiers["5m"].Series != 2 {
		t.Fatalf("inspect --json: %v %s", err, stdout.String())
	}
	if code := run([]string{"inspect", "--data-dir", filepath.Join(dir, "nope")}, &stdout, &stderr); code != 1 {
		t.Fatalf("inspect of a missing directory: exit %d", code)
	}
}
