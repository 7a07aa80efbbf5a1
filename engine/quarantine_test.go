package engine

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lightningdb/lightningdb/series"
)

// twoPartitions writes series a (day 0) and b (day 1), flushed into one
// segment each, and returns the path of a's segment.
func twoPartitions(t *testing.T, dir string) string {
	t.Helper()
	db := mustOpen(t, dir, Options{})
	appendOne(t, db, labels("a"), series.TypeFloat, 10, 1)
	appendOne(t, db, labels("b"), series.TypeFloat, day+10, 2)
	must(t, db.Close())
	for _, n := range liveSegmentFiles(t, dir) {
		path := filepath.Join(dir, segDir, n)
		data, err := os.ReadFile(path)
		must(t, err)
		x, err := decodeSegIndex(path, data)
		must(t, err)
		if x.maxT < day {
			return path
		}
	}
	t.Fatal("no segment of day 0")
	return ""
}

// damageSegmentIndex flips a byte of the index of the segment at path.
func damageSegmentIndex(t *testing.T, path string) {
	t.Helper()
	data, err := os.ReadFile(path)
	must(t, err)
	x, err := decodeSegIndex(path, data)
	must(t, err)
	flip(t, path, int(x.blocks[len(x.blocks)-1].off)+int(x.blocks[len(x.blocks)-1].len)+1)
}

func gathered(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	must(t, err)
	for _, mf := range mfs {
		if mf.GetName() == name {
			m := mf.GetMetric()[0]
			if c := m.GetCounter(); c != nil {
				return c.GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	t.Fatalf("metric %s not gathered", name)
	return 0
}

// TestDamagedSegmentQuarantined: a segment whose index is damaged is moved
// to the quarantine directory at open, logged, counted and reported by
// Verify, and dropped from the manifest; the other segments are served. A
// crash between the move and the manifest write is finished on the next
// open.
func TestDamagedSegmentQuarantined(t *testing.T) {
	dir := t.TempDir()
	seg := twoPartitions(t, dir)
	damageSegmentIndex(t, seg)
	oldManifest, err := os.ReadFile(filepath.Join(dir, manifestFile))
	must(t, err)

	var lb logBuffer
	reg := prometheus.NewRegistry()
	db := mustOpen(t, dir, Options{Logger: lb.logger(), Registerer: reg})
	qpath := filepath.Join(dir, quarantineDir, filepath.Base(seg))
	if _, err := os.Stat(qpath); err != nil {
		t.Fatalf("damaged segment not in quarantine: %v", err)
	}
	if _, err := os.Stat(seg); !os.IsNotExist(err) {
		t.Fatalf("damaged segment still in %s: %v", segDir, err)
	}
	if log := lb.String(); !strings.Contains(log, "quarantine") || !strings.Contains(log, "file="+seg) ||
		!strings.Contains(log, "index checksum mismatch") {
		t.Fatalf("log lacks the quarantine: %s", log)
	}
	if q, in := gathered(t, reg, "engine_segments_quarantined_total"), gathered(t, reg, "engine_quarantined_segments"); q != 1 || in != 1 {
		t.Fatalf("quarantined_total %v, quarantined_segments %v; want 1 and 1", q, in)
	}
	if got := fmt.Sprint(readAll(db, labels("b"))); got != "[86400000000010=float:2]" {
		t.Fatalf("b reads %s", got)
	}
	if got := readAll(db, labels("a")); got != nil {
		t.Fatalf("a reads %v from a quarantined segment", got)
	}
	must(t, db.Close())

	rep, err := Verify(dir)
	must(t, err)
	if len(rep.Damage) != 1 || rep.Damage[0].File != qpath || !strings.Contains(rep.Damage[0].Error(), "quarantined") {
		t.Fatalf("verify: %v", rep.Damage)
	}
	m, err := readManifest(OSFS{}, dir)
	must(t, err)
	for _, s := range m.segs {
		if segName(dir, s.fileNum) == seg {
			t.Fatalf("manifest still lists %s", seg)
		}
	}

	// The quarantine interrupted before the manifest write: the old
	// manifest lists the segment, which is in the quarantine directory.
	must(t, os.WriteFile(filepath.Join(dir, manifestFile), oldManifest, 0o644))
	lb = logBuffer{}
	db = mustOpen(t, dir, Options{Logger: lb.logger()})
	defer db.Close()
	if !strings.Contains(lb.String(), "already quarantined") {
		t.Fatalf("log: %s", lb.String())
	}
	if got := readAll(db, labels("b")); len(got) != 1 {
		t.Fatalf("b reads %v", got)
	}
}

// TestMissingSegmentNeedsRepair: a segment the manifest lists but that is
// gone stops the open with its path and the repair command; Repair drops
// it from the manifest and the rest opens.
func TestMissingSegmentNeedsRepair(t *testing.T) {
	dir := t.TempDir()
	seg := twoPartitions(t, dir)
	must(t, os.Remove(seg))
	_, err := Open(dir, Options{})
	var ce *CorruptionError
	if !errors.Is(err, ErrNeedsRepair) || !errors.As(err, &ce) || ce.File != seg ||
		!strings.HasSuffix(err.Error(), "lightning-admin repair --data-dir "+dir) {
		t.Fatalf("open with a missing segment: %v", err)
	}
	rep, err := Repair(dir, Options{}, nil)
	must(t, err)
	if len(rep.Missing) != 1 || rep.Missing[0] != seg {
		t.Fatalf("repair report %+v", rep)
	}
	db := mustOpen(t, dir, Options{})
	defer db.Close()
	if got := readAll(db, labels("b")); len(got) != 1 {
		t.Fatalf("b reads %v", got)
	}
}

// TestEmptySegmentQuarantined: a segment file cut to zero bytes (which
// mmap refuses) is quarantined like any damaged segment, not a failed open
// with no remedy.
func TestEmptySegmentQuarantined(t *testing.T) {
	dir := t.TempDir()
	seg := twoPartitions(t, dir)
	must(t, os.Truncate(seg, 0))
	db := mustOpen(t, dir, Options{})
	defer db.Close()
	if _, err := os.Stat(filepath.Join(dir, quarantineDir, filepath.Base(seg))); err != nil {
		t.Fatalf("empty segment not quarantined: %v", err)
	}
	if got := readAll(db, labels("b")); len(got) != 1 {
		t.Fatalf("b reads %v", got)
	}
}
