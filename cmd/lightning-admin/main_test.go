package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lightningdb/lightningdb/engine"
	"github.com/lightningdb/lightningdb/series"
)

// TestVerifyReportsQuarantine: a segment that recovery quarantined makes
// verify exit 1 naming it, with progress on stderr; repair of a directory
// without WAL damage says so and exits 0.
func TestVerifyReportsQuarantine(t *testing.T) {
	dir := t.TempDir()
	db, err := engine.Open(dir, engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var b series.Batch
	b.AddSeries(series.FromStrings("__name__", "m"), series.TypeFloat)
	b.AppendFloat(10, 1)
	if _, err := db.Append(context.Background(), &b); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil { // flushes one segment
		t.Fatal(err)
	}
	segs, err := filepath.Glob(filepath.Join(dir, "segments", "*.seg"))
	if err != nil || len(segs) != 1 {
		t.Fatalf("segments %v, %v", segs, err)
	}
	data, err := os.ReadFile(segs[0])
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)-1] ^= 1 // footer magic
	if err := os.WriteFile(segs[0], data, 0o644); err != nil {
		t.Fatal(err)
	}

	var stdout, stderr bytes.Buffer
	if code := run([]string{"repair", "--data-dir", dir}, &stdout, &stderr); code != 0 {
		t.Fatalf("repair exit %d: %s %s", code, stdout.String(), stderr.String())
	}
	qpath := filepath.Join(dir, "quarantine", filepath.Base(segs[0]))
	if out := stdout.String(); !strings.Contains(out, "quarantined damaged segment "+qpath) ||
		!strings.Contains(out, "WAL: no damage") {
		t.Fatalf("repair output: %s", out)
	}
	stdout.Reset()
	stderr.Reset()
	if code := run([]string{"verify", "--data-dir", dir}, &stdout, &stderr); code != 1 {
		t.Fatalf("verify exit %d: %s %s", code, stdout.String(), stderr.String())
	}
	if out := stdout.String(); !strings.Contains(out, "DAMAGED "+qpath) || !strings.Contains(out, "quarantined") {
		t.Fatalf("verify output: %s", out)
	}
	if code := run([]string{"repair"}, &stdout, &stderr); code != 2 {
		t.Fatalf("repair without --data-dir: exit %d", code)
	}
}
