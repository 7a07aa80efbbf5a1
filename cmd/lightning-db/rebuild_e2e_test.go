package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRebuildIndexE2E: a tag index file whose checksums pass but whose
// content is another directory's (so label queries of the real server
// miss its series) is replaced by lightning-admin rebuild-index, after
// which the server answers again; the command refuses a running server's
// directory, and --series rebuilds series.snap too.
func TestRebuildIndexE2E(t *testing.T) {
	admin := buildAdmin(t)
	dir, other := t.TempDir(), t.TempDir()
	ts := time.Now().Add(-time.Hour).UnixNano()
	p := startServer(t, dir)
	writeLines(t, p, "x", fmt.Sprintf("rb,host=a v=1 %d\nrb,host=b v=2 %d\n", ts, ts))
	_, stderr, code := runAdmin(t, admin, "rebuild-index", "--data-dir", dir)
	if code != 1 || !strings.Contains(stderr, "is in use by process") {
		t.Fatalf("rebuild-index on a running server's directory: exit %d, %s; want 1 naming the lock", code, stderr)
	}
	p.stop()
	q := startServer(t, other)
	writeLines(t, q, "x", fmt.Sprintf("rb,host=y v=1 %d\nrb,host=z v=2 %d\n", ts, ts))
	q.stop()

	files, _ := filepath.Glob(filepath.Join(dir, "index", "*.tix"))
	if len(files) != 1 {
		t.Fatalf("index files: %v", files)
	}
	wrong, err := os.ReadFile(filepath.Join(other, "index", filepath.Base(files[0])))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(files[0], wrong, 0o644); err != nil {
		t.Fatal(err)
	}
	p = startServer(t, dir)
	if got := p.export(`{__name__="rb_v",host="b"}`); len(got) != 0 {
		t.Fatalf("the premise: the wrong index file hides host=b, but it was found: %v", got)
	}
	p.stop()

	for _, args := range [][]string{{}, {"--series"}} {
		stdout, stderr, code := runAdmin(t, admin, append([]string{"rebuild-index", "--data-dir", dir}, args...)...)
		if code != 0 || !strings.Contains(stdout, "1 index files written, 1 partitions, 2 series") ||
			!strings.Contains(stderr, "rebuilding 1/1 "+dir) {
			t.Fatalf("rebuild-index %v: exit %d\nstdout %s\nstderr %s", args, code, stdout, stderr)
		}
		if len(args) > 0 && !strings.Contains(stdout, "series.snap and tag index") {
			t.Fatalf("--series: %s", stdout)
		}
		p = startServer(t, dir)
		got := p.export(`{__name__="rb_v",host=~"a|b"}`)
		if len(got) != 2 {
			t.Fatalf("after rebuild-index %v: %v, want host a and b", args, got)
		}
		p.stop()
	}
}
