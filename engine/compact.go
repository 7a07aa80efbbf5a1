package engine

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/RoaringBitmap/roaring/v2"
)

// Compaction merges segments of one partition into one segment of a higher
// level. A job takes a run of segments that are consecutive in seq order
// (so that, for duplicates, "the newer segment wins" means the same before
// and after: the output takes the run's highest seq and its place):
//
//   - tiered: CompactionFanIn or more consecutive segments of one level
//     become one segment of the next level (at most 4×fan-in at once);
//   - cold: a partition wholly before the current one (by Options.Now)
//     with more than one segment is merged whole, so old data ends as one
//     segment per partition with series-long blocks (the best compression),
//     once no flush has added a segment to it for ColdCompactionDelay. A
//     partition still receiving data (a backfill, a replay of history) is
//     merged tiered meanwhile: merging it whole after every flush would
//     rewrite the whole partition each time.
//
// The merge streams series in ID order: one series of the partition is in
// memory at a time (its samples from every input, merged newest-wins), the
// blocks go to the output file as they are encoded, and the index holds a
// few bytes per block. Optional rate limiting bounds the I/O. Appends and
// queries never wait for it: the inputs are immutable, and the swap is a
// manifest write and a version install. Inputs are marked obsolete and
// deleted by their last unref, after the queries that hold them end.
type compactJob struct {
	part   int64
	inputs []*segment // referenced by the job
	level  int
	seq    uint64
	tombs  *tombstones // deletions the output is written without (tombstone.go)
}

func (j *compactJob) release() {
	for _, s := range j.inputs {
		s.unref()
	}
}

// pickCompaction returns the next job, or nil.
func (db *DB) pickCompaction(force bool) *compactJob {
	v := db.acquire()
	defer v.unref()
	if j := db.pickRewrite(v); j != nil {
		j.tombs = v.tombs
		return j // retention or a deletion queued the partition
	}
	now := db.opts.Now()
	nowPart := db.partitionStart(now.UnixNano())
	fanIn := db.opts.CompactionFanIn
	quietSince := now.Add(-db.opts.ColdCompactionDelay).UnixNano()
	for _, p := range v.parts {
		segs := p.segs
		if len(segs) > 1 && (force || p.start < nowPart && db.partQuiet(p.start, quietSince)) {
			return newJobTombs(p.start, segs, v.tombs)
		}
		for i := 0; i < len(segs); {
			j := i
			for j < len(segs) && segs[j].level == segs[i].level {
				j++
			}
			if j-i >= fanIn {
				return newJobTombs(p.start, segs[i:min(j, i+4*fanIn)], v.tombs)
			}
			i = j
		}
	}
	return nil
}

// partQuiet reports whether no flush has added a segment to partition part
// since quietSince (unix ns); partitions not flushed to since the DB opened
// are quiet.
func (db *DB) partQuiet(part, quietSince int64) bool {
	db.partFlushMu.Lock()
	defer db.partFlushMu.Unlock()
	return db.partFlushed[part] < quietSince
}

// noteFlushed records that a flush added segments to their partitions now
// (by Options.Now, the clock pickCompaction measures the quiet period with).
func (db *DB) noteFlushed(segs []*segment) {
	now := db.opts.Now().UnixNano()
	db.partFlushMu.Lock()
	defer db.partFlushMu.Unlock()
	if db.partFlushed == nil {
		db.partFlushed = map[int64]int64{}
	}
	for p, t := range db.partFlushed {
		if t < subSat(now, max(int64(db.opts.ColdCompactionDelay), 0)) {
			delete(db.partFlushed, p) // quiet: the zero value says the same
		}
	}
	for _, s := range segs {
		db.partFlushed[s.partition] = now
	}
}

// newJobTombs is newJob writing its output without the samples tombs
// delete.
func newJobTombs(part int64, segs []*segment, tombs *tombstones) *compactJob {
	j := newJob(part, segs)
	j.tombs = tombs
	return j
}

func newJob(part int64, segs []*segment) *compactJob {
	j := &compactJob{part: part, inputs: slices.Clone(segs)}
	for _, s := range segs {
		s.ref()
		j.level = max(j.level, s.level+1)
		j.seq = max(j.seq, s.seq)
	}
	return j
}

// Compact merges every partition with more than one segment into one
// segment, waiting for it. Background compaction does the same to
// partitions that are in the past, and tiered merges to the current one.
func (db *DB) Compact(ctx context.Context) error {
	db.closeMu.RLock()
	defer db.closeMu.RUnlock()
	if db.closed {
		return ErrClosed
	}
	ctx, done := db.untilClose(ctx)
	defer done()
	for {
		db.compactMu.Lock()
		if err := db.salvageReported(ctx); err != nil {
			db.compactMu.Unlock()
			return err
		}
		job := db.pickCompaction(true)
		if job == nil {
			db.compactMu.Unlock()
			_, err := db.forgetSeries()
			return err
		}
		err := db.compact(ctx, job)
		db.compactMu.Unlock()
		if err != nil {
			return err
		}
	}
}

// noteCompactedAway makes the series of the job's inputs that its output
// lacks (expired or deleted) lifecycle candidates.
func (db *DB) noteCompactedAway(job *compactJob, out *segment) {
	in := unionBitmaps(job.inputs)
	if out != nil {
		in.AndNot(out.x.bitmap)
	}
	db.noteCandidates(in)
}

// compact runs one job; the caller holds compactMu.
func (db *DB) compact(ctx context.Context, job *compactJob) error {
	defer job.release()
	start := time.Now()
	path := segName(db.dir, db.nextFileNum.Add(1)-1)
	w, err := newSegmentWriter(db.fs, path, &db.compactEnc, db.opts.BlockSamples)
	if err != nil {
		return fmt.Errorf("compact partition %d: %w", job.part, err)
	}
	writers := map[int64]*segmentWriter{job.part: w}
	defer func() {
		for _, w := range writers {
			w.abort()
		}
	}()
	var run RetentionRun
	if err := db.mergeInto(ctx, w, job, &run); err != nil {
		if found, serr := db.salvageJobInput(ctx, job, err); found {
			return serr // a damaged input, salvaged: the next pick merges its salvage
		}
		return fmt.Errorf("compact partition %d: %w", job.part, err)
	}
	segs, samples, err := db.finishWriters(writers, job.level, job.seq)
	if err != nil {
		return fmt.Errorf("compact partition %d: %w", job.part, err)
	}
	var out *segment
	if len(segs) == 1 {
		out = segs[0]
	}
	if err := db.installCompaction(job, out); err != nil {
		if out != nil {
			out.obsolete.Store(true)
			out.unref()
		}
		return fmt.Errorf("compact partition %d: %w", job.part, err)
	}
	var in int64
	for _, s := range job.inputs {
		in += s.size
	}
	db.m.compactions.Inc()
	db.m.compactedSamples.Add(uint64(samples))
	db.m.compactedBytes.Add(uint64(in))
	db.noteRewrite(run, in, out)
	db.noteCompactedAway(job, out)
	db.dropAppliedTombstones()
	db.log.Debug("compacted", "partition", job.part, "inputs", len(job.inputs), "level", job.level,
		"samples", samples, "bytes_in", in, "duration", time.Since(start))
	return nil
}

// mergeInto writes the merged series of the job's inputs to w, leaving
// out the series that retention expired in the job's partition (counted
// in run).
func (db *DB) mergeInto(ctx context.Context, w *segmentWriter, job *compactJob, run *RetentionRun) error {
	end, cutoffOf := partitionEnd(job.part, db.opts.PartitionDuration), db.retentionCutoff()
	ids := roaring.New()
	for _, s := range job.inputs {
		ids.Or(s.x.bitmap)
	}
	parts := []partSegs{{start: job.part, segs: job.inputs}}
	it := &Iterator{}
	limit := db.opts.CompactionBytesPerSecond
	began, n := time.Now(), 0
	iter := ids.Iterator()
	for iter.HasNext() {
		id := iter.Next()
		if n++; n%256 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
			if limit > 0 {
				ahead := time.Duration(float64(w.off)/float64(limit)*float64(time.Second)) - time.Since(began)
				if ahead > 0 {
					select {
					case <-time.After(ahead):
					case <-ctx.Done():
						return ctx.Err()
					}
				}
			}
		}
		it.load(id, math.MinInt64, math.MaxInt64, parts, nil, job.tombs, nil)
		if err := it.Err(); err != nil {
			return err // never compact damaged data away silently
		}
		if end < cutoffOf(id) {
			run.Series++
			run.Samples += uint64(len(it.ts))
			continue
		}
		if err := w.writeSeries(id, it.typ, it.ts, it.vals, it.strs); err != nil {
			return err
		}
	}
	return nil
}

var errInputsGone = errors.New("inputs no longer live (dropped by retention)")

// installCompaction replaces the job's inputs by out (nil when the inputs
// held nothing) in the manifest and the version.
func (db *DB) installCompaction(job *compactJob, out *segment) error {
	db.manifestMu.Lock()
	defer db.manifestMu.Unlock()
	v := db.acquire()
	live := map[*segment]bool{}
	for _, p := range v.parts {
		for _, s := range p.segs {
			live[s] = true
		}
	}
	v.unref()
	var metas []segMeta
	for s := range live {
		if !slices.Contains(job.inputs, s) {
			metas = append(metas, s.segMeta)
		}
	}
	for _, s := range job.inputs {
		if !live[s] {
			return errInputsGone
		}
	}
	if out != nil {
		metas = append(metas, out.segMeta)
	}
	err := db.writeManifestLocked(metas, db.walCheckpoint)
	if err != nil && !errors.As(err, new(*renamedError)) {
		return err
	}
	db.editMu.Lock()
	nv := db.cur.clone()
	for _, s := range job.inputs {
		// The old manifest, which a power cut may still bring back until
		// the new one is durable, lists the inputs: keep their files then
		// (the next open removes them as orphans).
		s.obsolete.Store(err == nil)
		nv.removeSegment(s)
	}
	if out != nil {
		nv.addSegment(out)
	}
	db.install(nv)
	db.editMu.Unlock()
	return nil
}

// runCompactor runs compaction jobs after flushes and on a timer.
func (db *DB) runCompactor(ctx context.Context) {
	defer db.bgWG.Done()
	t := time.NewTicker(db.opts.maintenanceInterval())
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-db.compactq:
		case <-t.C:
		}
		for ctx.Err() == nil {
			db.compactMu.Lock()
			if err := db.salvageReported(ctx); err != nil && ctx.Err() == nil {
				db.log.Error("salvage of a damaged segment failed", "err", err)
			}
			job := db.pickCompaction(false)
			if job == nil {
				db.compactMu.Unlock()
				break
			}
			err := db.compact(ctx, job)
			db.compactMu.Unlock()
			if err != nil {
				if ctx.Err() == nil {
					db.log.Error("compaction failed", "err", err)
				}
				break
			}
		}
		db.forgetLogged()
	}
}
