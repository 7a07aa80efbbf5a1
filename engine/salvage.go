package engine

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sync"
)

// A segment whose footer and index check out can still hold a damaged
// block (a flipped bit in the data region): recovery does not read every
// block, so the damage shows when a read or a compaction decodes it.
// Readers skip the block and report it (Iterator.Err); compaction will not
// merge damaged data away silently. Either way the segment is salvaged:
//
//  1. every block that checks out is written to a new segment that takes
//     the damaged one's partition, level and sequence (its place);
//  2. a copy of the damaged file goes to the quarantine directory, synced,
//     for inspection (lightning-admin verify lists it);
//  3. the manifest swaps the damaged segment for the salvaged one, like a
//     compaction of one input.
//
// A crash before 3 leaves the damaged segment live and an orphan output
// that the next open removes: the next read or compaction salvages again.
// The damaged blocks' samples are lost: the log line says how many, and
// engine_segments_quarantined_total and engine_damaged_blocks_total count
// the segment and its blocks.

// damageReports holds the segment files readers found damaged, for the
// compactor to salvage.
type damageReports struct {
	mu    sync.Mutex
	files map[string]bool // mu
}

// reportDamage notes that a reader met err; a *CorruptionError names a
// segment for the compactor to salvage, and wakes it.
func (db *DB) reportDamage(err error) {
	var ce *CorruptionError
	if !errors.As(err, &ce) {
		return
	}
	db.damage.mu.Lock()
	if db.damage.files == nil {
		db.damage.files = map[string]bool{}
	}
	db.damage.files[ce.File] = true
	db.damage.mu.Unlock()
	select {
	case db.compactq <- struct{}{}:
	default:
	}
}

// salvageReported salvages the live segments readers reported damaged. The
// caller holds compactMu.
func (db *DB) salvageReported(ctx context.Context) error {
	db.damage.mu.Lock()
	files := db.damage.files
	db.damage.files = nil
	db.damage.mu.Unlock()
	if len(files) == 0 {
		return nil
	}
	v := db.acquire()
	var todo []*segment
	for _, p := range v.parts {
		for _, s := range p.segs {
			if files[s.path] {
				s.ref()
				todo = append(todo, s)
			}
		}
	}
	v.unref()
	var errs []error
	for _, s := range todo {
		errs = append(errs, db.salvage(ctx, s))
		s.unref()
	}
	return errors.Join(errs...)
}

// salvageJobInput salvages the input of job that err (a *CorruptionError
// met while merging) names. It reports whether it found one to salvage.
func (db *DB) salvageJobInput(ctx context.Context, job *compactJob, err error) (bool, error) {
	var ce *CorruptionError
	if !errors.As(err, &ce) {
		return false, nil
	}
	for _, s := range job.inputs {
		if s.path == ce.File {
			return true, db.salvage(ctx, s)
		}
	}
	return false, nil
}

// salvageStats is what a salvage kept and lost.
type salvageStats struct {
	series, damagedSeries  int
	blocks, damagedBlocks  int
	keptSamples, lostCount uint64
	firstDamage            int64 // file offset of the first damaged block
}

// salvage replaces seg, a live segment with damaged blocks, by a segment
// of its readable blocks, and keeps a copy of seg in quarantine. The
// caller holds compactMu and a reference on seg.
func (db *DB) salvage(ctx context.Context, seg *segment) error {
	st := salvageStats{firstDamage: -1}
	x := seg.x
	var probe Iterator
	for i := range x.ids {
		st.series++
		damaged := false
		for _, b := range x.seriesBlocks(i, math.MinInt64, math.MaxInt64) {
			st.blocks++
			if !probe.blockDecodes(seg, i, b) {
				st.damagedBlocks++
				st.lostCount += uint64(b.count)
				damaged = true
				if st.firstDamage < 0 {
					st.firstDamage = b.off
				}
			}
		}
		if damaged {
			st.damagedSeries++
		}
	}
	if st.damagedBlocks == 0 {
		return nil // reported by mistake, or salvaged already
	}
	out, err := db.writeSalvaged(ctx, seg, &st)
	if err != nil {
		return fmt.Errorf("salvage %s: %w", seg.path, err)
	}
	qpath := filepath.Join(db.dir, quarantineDir, filepath.Base(seg.path))
	if err := db.copyToQuarantine(seg, qpath); err != nil {
		if out != nil {
			out.obsolete.Store(true)
			out.unref()
		}
		return fmt.Errorf("salvage %s: %w", seg.path, err)
	}
	job := &compactJob{part: seg.partition, inputs: []*segment{seg}, level: seg.level, seq: seg.seq}
	if err := db.installCompaction(job, out); err != nil {
		if out != nil {
			out.obsolete.Store(true)
			out.unref()
		}
		return fmt.Errorf("salvage %s: %w", seg.path, err)
	}
	db.noteCompactedAway(job, out) // a series left with no readable block may be forgotten
	db.m.quarantined.Inc()
	db.m.inQuarantine.Add(1)
	db.m.damagedBlocks.Add(uint64(st.damagedBlocks))
	db.log.Error("segment has damaged blocks: its readable blocks were rewritten to a new segment, the damaged file copied to quarantine; the damaged blocks' samples are lost",
		"file", seg.path, "quarantined_as", qpath, "first_damage_offset", st.firstDamage,
		"damaged_blocks", st.damagedBlocks, "blocks", st.blocks, "damaged_series", st.damagedSeries,
		"series", st.series, "samples_lost", st.lostCount, "samples_kept", st.keptSamples)
	return nil
}

// blockDecodes reports whether block b of series i of seg passes its CRC
// and decodes, as readers decode it, in the iterator's scratch buffer.
func (it *Iterator) blockDecodes(seg *segment, i int, b blockRef) bool {
	it.scratch.reset()
	it.scratch.typ = seg.x.types[i]
	return it.decodeBlockErr(seg, b) == nil
}

// writeSalvaged writes the readable samples of seg to a new segment with
// seg's partition, level and sequence; nil when nothing was readable.
func (db *DB) writeSalvaged(ctx context.Context, seg *segment, st *salvageStats) (*segment, error) {
	path := segName(db.dir, db.nextFileNum.Add(1)-1)
	w, err := newSegmentWriter(db.fs, path, &db.compactEnc, db.opts.BlockSamples)
	if err != nil {
		return nil, err
	}
	writers := map[int64]*segmentWriter{seg.partition: w}
	defer func() {
		for _, w := range writers {
			w.abort()
		}
	}()
	parts := []partSegs{{start: seg.partition, segs: []*segment{seg}}}
	// The output gets a new file number, past every tombstone's bound: it
	// must be written without the samples they delete (compactMu, held,
	// keeps the set from changing).
	v := db.acquire()
	tombs := v.tombs
	v.unref()
	it := &Iterator{}
	for n, id := range seg.x.ids {
		if n%256 == 0 && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		it.load(id, math.MinInt64, math.MaxInt64, parts, nil, tombs, nil) // skips damaged blocks and deleted samples
		if it.Len() == 0 {
			continue
		}
		st.keptSamples += uint64(it.Len())
		if err := w.writeSeries(id, it.typ, it.ts, it.vals, it.strs); err != nil {
			return nil, err
		}
	}
	segs, _, err := db.finishWriters(writers, seg.level, seg.seq)
	if err != nil || len(segs) == 0 {
		return nil, err
	}
	return segs[0], nil
}

// copyToQuarantine writes a durable copy of seg's bytes to qpath.
func (db *DB) copyToQuarantine(seg *segment, qpath string) error {
	if err := db.fs.MkdirAll(filepath.Dir(qpath), 0o755); err != nil {
		return err
	}
	f, err := db.fs.OpenFile(qpath, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(seg.data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return db.fs.SyncDir(filepath.Dir(qpath))
}
