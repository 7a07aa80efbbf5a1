package main

import (
	"bytes"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// buildAdmin builds lightning-admin once per test.
func buildAdmin(t *testing.T) string {
	t.Helper()
	admin := filepath.Join(t.TempDir(), "lightning-admin")
	if b, err := exec.Command("go", "build", "-o", admin, "../lightning-admin").CombinedOutput(); err != nil {
		t.Fatalf("build lightning-admin: %v\n%s", err, b)
	}
	return admin
}

// runAdmin runs lightning-admin and returns its stdout, stderr and exit
// code.
func runAdmin(t *testing.T, admin string, args ...string) (string, string, int) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(admin, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return stdout.String(), stderr.String(), code
}

// bkWriters is the ingestion load of the backup test: writers post
// batches of 10 samples for each of 10 series, one second apart from
// three hours ago, and count the batches acknowledged.
type bkWriters struct {
	acked [3]atomic.Int64
	wg    sync.WaitGroup
	base  time.Time
}

const bkBatches = 150

func (w *bkWriters) start(t *testing.T, p *proc) {
	w.base = time.Now().Add(-3 * time.Hour).Truncate(time.Second)
	deadline := time.Now().Add(90 * time.Second)
	for g := range w.acked {
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			for b := 0; b < bkBatches && time.Now().Before(deadline); b++ {
				var body strings.Builder
				for k := range 10 {
					for j := range 10 {
						ts := w.base.Add(time.Duration(b*10+j) * time.Second).UnixNano()
						fmt.Fprintf(&body, "bk,w=%d,s=%d v=%d %d\n", g, k, b*10+j, ts)
					}
				}
				resp, err := http.Post(p.url("/write?db=bk"), "text/plain", strings.NewReader(body.String()))
				if err != nil {
					t.Errorf("writer %d: %v", g, err)
					return
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusNoContent {
					t.Errorf("writer %d: HTTP %d", g, resp.StatusCode)
					return
				}
				w.acked[g].Store(int64(b + 1))
			}
		}()
	}
}

// requireHolds requires server q to hold every sample of the first
// acked[g] batches of each writer.
func (w *bkWriters) requireHolds(t *testing.T, q *proc, acked [3]int64) {
	t.Helper()
	got := q.export(`{__name__="bk_v"}`)
	for g, n := range acked {
		for k := range 10 {
			key := fmt.Sprintf("bk_v{db=bk,s=%d,w=%d}", k, g)
			e := got[key]
			if int64(len(e.Timestamps)) < n*10 {
				t.Fatalf("%s: %d samples, want at least the %d acknowledged before the snapshot", key, len(e.Timestamps), n*10)
			}
			for i := range n * 10 {
				if want := w.base.Add(time.Duration(i) * time.Second).UnixNano(); e.Timestamps[i] != want {
					t.Fatalf("%s: sample %d at %d, want %d", key, i, e.Timestamps[i], want)
				}
			}
		}
	}
}

var wroteRE = regexp.MustCompile(`(\d+) files, \d+ bytes; wrote (\d+) new objects`)

// backupCounts returns the files and new objects a backup run reported.
func backupCounts(t *testing.T, out string) (files, wrote int) {
	t.Helper()
	m := wroteRE.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("backup output %q", out)
	}
	files, _ = strconv.Atoi(m[1])
	wrote, _ = strconv.Atoi(m[2])
	return files, wrote
}

// TestBackupRestoreUnderIngest backs up a real server under ingestion
// (snapshot over HTTP, then lightning-admin backup), restores the backup
// into a new directory and starts a server on it: it holds every sample
// acknowledged before the snapshot, and not the series deleted before
// it. A second backup after more data is incremental; verify-backup
// checks both; restore refuses a non-empty directory; the tar stream
// extracts to a data directory a server opens.
func TestBackupRestoreUnderIngest(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(t.TempDir(), "cfg.yaml")
	yaml := "engine:\n  memtable_flush_bytes: 65536\n  wal_segment_size: 65536\ndownsample:\n  check_interval: 100ms\n" +
		"  rules:\n    - match: '{db=\"bk\"}'\n      tiers:\n        - {after: 2h, interval: 5m}\n"
	if err := os.WriteFile(cfg, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	admin := buildAdmin(t)
	// Rollups are built from flushed data: old data, a restart, and a
	// built tier before the load.
	p := startServer(t, dir, "--config", cfg)
	var old strings.Builder
	for i := range 100 {
		fmt.Fprintf(&old, "old v=%d %d\n", i, time.Now().Add(-5*24*time.Hour).Add(time.Duration(i)*time.Minute).UnixNano())
	}
	writeLines(t, p, "bk", old.String())
	p.stop()
	p = startServer(t, dir, "--config", cfg)
	poll(t, 30*time.Second, 20*time.Millisecond, func() string {
		if metricValue(t, p, "lightningdb_rollup_records_total") <= 0 {
			return "the rollup builder wrote nothing"
		}
		return ""
	})
	writeLines(t, p, "bk", fmt.Sprintf("gone v=1 %d\n", time.Now().Add(-3*time.Hour).UnixNano()))
	if code, b := adminCall(t, p, "POST", "/api/v1/admin/tsdb/delete_series", url.Values{"match[]": {"gone_v"}}); code != http.StatusNoContent {
		t.Fatalf("delete_series: %d %s", code, b)
	}
	var w bkWriters
	w.start(t, p)
	poll(t, 60*time.Second, 20*time.Millisecond, func() string {
		if w.acked[0].Load() < bkBatches/3 {
			return "writers did not get a third through"
		}
		return ""
	})
	var before [3]int64
	for g := range before {
		before[g] = w.acked[g].Load()
	}
	dest := filepath.Join(t.TempDir(), "backups")
	out, errOut, code := runAdmin(t, admin, "backup", "--url", "http://"+p.addr, "--data-dir", dir, "--dest", dest, "--name", "first")
	if code != 0 {
		t.Fatalf("backup: exit %d\n%s%s", code, out, errOut)
	}
	if !strings.HasPrefix(errOut, "backup: ") {
		t.Errorf("backup progress on a non-terminal stderr: %q, want one plain line", errOut)
	}
	files1, _ := backupCounts(t, out)
	t.Logf("first backup: batches acknowledged before it %v, when it ended %d/%d/%d", before,
		w.acked[0].Load(), w.acked[1].Load(), w.acked[2].Load())
	w.wg.Wait()
	var all [3]int64
	for g := range all {
		all[g] = w.acked[g].Load()
	}
	out, errOut, code = runAdmin(t, admin, "backup", "--url", "http://"+p.addr, "--data-dir", dir, "--dest", dest, "--name", "second")
	if code != 0 {
		t.Fatalf("second backup: exit %d\n%s%s", code, out, errOut)
	}
	files2, wrote2 := backupCounts(t, out)
	if wrote2 >= files2 {
		t.Errorf("second backup wrote %d objects for %d files: not incremental (first had %d files)", wrote2, files2, files1)
	}
	if out, _, code := runAdmin(t, admin, "verify-backup", "--from", dest); code != 0 || !strings.Contains(out, "2 backups") {
		t.Fatalf("verify-backup: exit %d %s", code, out)
	}
	var tarBuf bytes.Buffer
	tarCmd := exec.Command(admin, "backup", "--url", "http://"+p.addr, "--data-dir", dir, "--tar", "-")
	var tarErr bytes.Buffer
	tarCmd.Stdout, tarCmd.Stderr = &tarBuf, &tarErr
	if err := tarCmd.Run(); err != nil {
		t.Fatalf("backup --tar -: %v %s", err, tarErr.String())
	}
	p.stop()

	if _, errOut, code := runAdmin(t, admin, "restore", "--from", dest, "--data-dir", dir); code != 1 || !strings.Contains(errOut, "not empty") {
		t.Fatalf("restore into a non-empty directory: exit %d %s", code, errOut)
	}
	first := filepath.Join(t.TempDir(), "first")
	if out, errOut, code := runAdmin(t, admin, "restore", "--from", dest, "--backup", "first", "--data-dir", first); code != 0 {
		t.Fatalf("restore: exit %d %s%s", code, out, errOut)
	}
	tierFiles, _ := filepath.Glob(filepath.Join(first, "rollup", "5m", "*", "0*"))
	if _, err := os.Stat(filepath.Join(first, "rollup", "rollup.state")); err != nil || len(tierFiles) == 0 {
		t.Errorf("the rollup tier is not in the backup: %v, tier files %v", err, tierFiles)
	}
	q := startServer(t, first)
	w.requireHolds(t, q, before)
	if got := q.export(`{__name__="gone_v"}`); len(got) != 0 {
		t.Fatalf("a series deleted before the snapshot is back: %v", got)
	}
	q.stop()

	second := filepath.Join(t.TempDir(), "second")
	if _, errOut, code := runAdmin(t, admin, "restore", "--from", dest, "--data-dir", second); code != 0 {
		t.Fatalf("restore latest: exit %d %s", code, errOut)
	}
	q = startServer(t, second)
	w.requireHolds(t, q, all)
	q.stop()

	fromTar := filepath.Join(t.TempDir(), "tar")
	restoreTar := exec.Command(admin, "restore", "--tar", "-", "--data-dir", fromTar)
	restoreTar.Stdin = &tarBuf
	if out, err := restoreTar.CombinedOutput(); err != nil {
		t.Fatalf("restore --tar -: %v %s", err, out)
	}
	q = startServer(t, fromTar)
	w.requireHolds(t, q, all)
}
