package engine

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lightningdb/lightningdb/series"
)

// blockyOpts makes series of 64 samples span four blocks.
var blockyOpts = Options{BlockSamples: 16}

// writeSeries64 appends 64 samples (t = base+1..base+64) to series
// a and b, then flushes them to one segment.
func writeSeries64(t *testing.T, db *DB, base int64) {
	t.Helper()
	for _, name := range []string{"a", "b"} {
		var b series.Batch
		b.AddSeries(labels(name), series.TypeFloat)
		for i := int64(1); i <= 64; i++ {
			b.AppendRaw(base+i, uint64(i))
		}
		if _, err := db.Append(context.Background(), &b); err != nil {
			t.Fatal(err)
		}
	}
	must(t, db.Flush(context.Background()))
}

// damageBlock flips a byte in the values of the second block of series
// a (the lowest ID) in the segment at path, leaving footer and index
// intact: open accepts the segment, and the damage shows when the block
// is read. (Series b's blocks refer to a's timestamps, which stay intact.)
func damageBlock(t *testing.T, path string) {
	t.Helper()
	data, err := os.ReadFile(path)
	must(t, err)
	x, err := decodeSegIndex(path, data)
	must(t, err)
	blocks := x.seriesBlocks(0, -1<<63, 1<<63-1)
	if len(blocks) < 2 {
		t.Fatalf("series a has %d blocks, want several", len(blocks))
	}
	flip(t, path, int(blocks[1].off)+int(blocks[1].len)-6)
}

// TestDamagedBlockSalvagedAfterRead: a flipped bit in a block that open
// does not read is found by a query, which reports it (skipping the
// block) and wakes the compactor: the segment's readable blocks go to a
// new segment in its place, the damaged file is copied to quarantine,
// logged, counted and listed by Verify; reads then succeed without the
// damaged block's 16 samples, and a reopen serves the same.
func TestDamagedBlockSalvagedAfterRead(t *testing.T) {
	dir := t.TempDir()
	db := mustOpen(t, dir, blockyOpts)
	writeSeries64(t, db, 0)
	must(t, db.Close())
	segs := liveSegmentFiles(t, dir)
	if len(segs) != 1 {
		t.Fatalf("segments %v, want 1", segs)
	}
	path := filepath.Join(dir, segDir, segs[0])
	damageBlock(t, path)

	var lb logBuffer
	reg := prometheus.NewRegistry()
	opts := blockyOpts
	opts.Logger, opts.Registerer = lb.logger(), reg
	db = mustOpen(t, dir, opts)
	id, _ := db.Lookup(labels("a"))
	it := db.Select(id, -1<<63, 1<<63-1, nil)
	var ce *CorruptionError
	if !asCorruption(it.Err(), &ce) || ce.File != path {
		t.Fatalf("read of the damaged series: err %v, want a CorruptionError naming %s", it.Err(), path)
	}
	if it.Len() != 48 {
		t.Fatalf("read %d samples beside the damaged block, want 48", it.Len())
	}
	must(t, db.Compact(context.Background())) // what the woken compactor runs first

	if got := len(readAll(db, labels("a"))); got != 48 {
		t.Fatalf("a after salvage: %d samples, want 48", got)
	}
	if it := db.Select(id, -1<<63, 1<<63-1, nil); it.Err() != nil {
		t.Fatalf("read after salvage: %v", it.Err())
	}
	if got := len(readAll(db, labels("b"))); got != 64 {
		t.Fatalf("b after salvage: %d samples, want 64", got)
	}
	qpath := filepath.Join(dir, quarantineDir, filepath.Base(path))
	if _, err := os.Stat(qpath); err != nil {
		t.Fatalf("damaged segment not in quarantine: %v", err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("damaged segment still live: %v", err)
	}
	for name, want := range map[string]float64{
		"engine_segments_quarantined_total": 1,
		"engine_damaged_blocks_total":       1,
		"engine_quarantined_segments":       1,
	} {
		if got := gathered(t, reg, name); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	log := lb.String()
	for _, want := range []string{"damaged blocks", "damaged_blocks=1", "samples_lost=16", "samples_kept=112", qpath} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
	must(t, db.Close())

	rep, err := Verify(dir)
	must(t, err)
	if len(rep.Damage) != 1 || !strings.Contains(rep.Damage[0].File, quarantineDir) {
		t.Fatalf("verify damage %v, want the quarantined file only", rep.Damage)
	}
	db = mustOpen(t, dir, blockyOpts)
	defer db.Close()
	if got := len(readAll(db, labels("a"))); got != 48 {
		t.Fatalf("a after reopen: %d samples, want 48", got)
	}
}

// TestDamagedBlockSalvagedByCompaction: compaction meeting a damaged block
// in one of its inputs salvages that input instead of failing for ever (or
// merging the damage away unreported), then merges.
func TestDamagedBlockSalvagedByCompaction(t *testing.T) {
	dir := t.TempDir()
	db := mustOpen(t, dir, blockyOpts)
	writeSeries64(t, db, 0)
	must(t, db.Close())
	path := filepath.Join(dir, segDir, liveSegmentFiles(t, dir)[0])
	damageBlock(t, path)

	reg := prometheus.NewRegistry()
	opts := blockyOpts
	opts.Registerer = reg
	db = mustOpen(t, dir, opts)
	defer db.Close()
	writeSeries64(t, db, 1000) // a second segment in the partition
	must(t, db.Compact(context.Background()))
	if segs := liveSegmentFiles(t, dir); len(segs) != 1 {
		t.Fatalf("segments after compaction %v, want 1 (salvaged and merged)", segs)
	}
	if got := len(readAll(db, labels("a"))); got != 48+64 {
		t.Fatalf("a: %d samples, want %d", got, 48+64)
	}
	if got := len(readAll(db, labels("b"))); got != 128 {
		t.Fatalf("b: %d samples, want 128", got)
	}
	if got := gathered(t, reg, "engine_damaged_blocks_total"); got != 1 {
		t.Fatalf("damaged blocks counted %v, want 1", got)
	}
}

func asCorruption(err error, ce **CorruptionError) bool {
	c, ok := err.(*CorruptionError)
	*ce = c
	return ok
}
