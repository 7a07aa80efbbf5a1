package engine

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"sync"
	"time"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/lightningdb/lightningdb/series"
)

// RetentionPolicy gives each series its own retention. The retention
// package implements it over the registry's labels (cmd wires them).
type RetentionPolicy interface {
	// Retention returns how long series id's samples are kept; zero or
	// negative keeps them for ever. It is called once per series and
	// partition by each retention run and compaction, so it must be cheap
	// (cached per ID). A policy may also have a method Bounded() bool
	// that reports false when no series can expire (the engine then skips
	// retention work), and a method Generation() uint64 that changes when
	// its answers may have (the engine then forgets what it cached); a
	// policy without it is taken to never change. A method
	// Forget(ids []series.ID), when present, is called with the series the
	// engine forgot (lifecycle.go), so a per-ID cache can let them go.
	Retention(id series.ID) time.Duration
}

// uniformRetention is Options.Retention as a policy.
type uniformRetention time.Duration

func (u uniformRetention) Retention(series.ID) time.Duration { return time.Duration(u) }

// retentionState is the engine's retention bookkeeping.
type retentionState struct {
	mu sync.Mutex // protects rewrite, next
	// rewrite holds partitions with expired series among kept ones, for
	// the compactor to rewrite without them.
	rewrite map[int64]bool
	// next caches, per partition, the unix ns at which its next series
	// expires, with the segment set it was computed over: until then (or
	// a change of segments) a run skips the partition's series.
	next map[int64]partNext
}

type partNext struct {
	segs  uint64 // segSetKey of the segments examined
	gen   uint64 // the policy's generation
	until int64
}

// policyGeneration returns p's generation, or 0 for a policy that never
// changes.
func policyGeneration(p RetentionPolicy) uint64 {
	if g, ok := p.(interface{ Generation() uint64 }); ok {
		return g.Generation()
	}
	return 0
}

// RetentionRun is what one retention run removed.
type RetentionRun struct {
	Partitions, Segments, Series, Samples, Bytes uint64
}

// policy returns the per-series policy in force, or nil when nothing
// expires.
func (db *DB) policy() RetentionPolicy {
	if p := db.opts.RetentionPolicy; p != nil {
		if b, ok := p.(interface{ Bounded() bool }); ok && !b.Bounded() {
			return nil // every series is kept for ever: nothing to examine
		}
		return p
	}
	if db.opts.Retention > 0 {
		return uniformRetention(db.opts.Retention)
	}
	return nil
}

// keepAfter returns the oldest timestamp series id keeps at now (unix ns).
func keepAfter(p RetentionPolicy, id series.ID, now int64) int64 {
	d := p.Retention(id)
	if d <= 0 {
		return math.MinInt64
	}
	return subSat(now, int64(d))
}

// retentionCutoff returns a function giving the oldest timestamp a
// series keeps now: flushes and compactions skip its partitions that end
// before it.
func (db *DB) retentionCutoff() func(series.ID) int64 {
	pol := db.policy()
	if pol == nil {
		return func(series.ID) int64 { return math.MinInt64 }
	}
	now := db.opts.Now().UnixNano()
	return func(id series.ID) int64 { return keepAfter(pol, id, now) }
}

// ApplyRetention drops every partition whose series are all expired under
// the retention policy (Options.RetentionPolicy, else Options.Retention):
// its segments leave the manifest and the version in one atomic manifest
// write, and its tag index partition is dropped. A partition holding
// expired series beside kept ones is queued for the compactor, which
// rewrites it without them. A series is expired in a partition when the
// partition's last nanosecond is older than now - its retention.
// Queries in flight keep the dropped segments mapped until they close
// their Querier; the files are deleted by the last reference. The
// background job calls it every MaintenanceInterval.
func (db *DB) ApplyRetention(ctx context.Context) error {
	db.closeMu.RLock()
	defer db.closeMu.RUnlock()
	if db.closed {
		return ErrClosed
	}
	ctx, done := db.untilClose(ctx)
	defer done()
	return db.applyRetention(ctx)
}

func (db *DB) applyRetention(ctx context.Context) error {
	pol := db.policy()
	if pol == nil {
		return nil
	}
	began := time.Now()
	now := db.opts.Now().UnixNano()
	drop, run := db.expiredSegments(pol, now)
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := db.dropSegments(drop, &run); err != nil {
		return err
	}
	if len(drop) > 0 {
		if err := db.dropAppliedTombstones(); err != nil {
			return err
		}
	}
	err := db.dropIndexPartitions(pol, now, &run)
	db.noteRetention(run, began)
	if _, ferr := db.forgetSeries(); ferr != nil {
		err = errors.Join(err, ferr)
	}
	return err
}

// expiredSegments returns the segments of partitions whose series are all
// expired, and queues partitions with some expired series for a rewrite.
func (db *DB) expiredSegments(pol RetentionPolicy, now int64) ([]*segment, RetentionRun) {
	var drop []*segment
	var run RetentionRun
	v := db.acquire()
	defer v.unref()
	rewrite := false
	for _, p := range v.parts {
		all, some, nSeries := db.classifyPartition(pol, p, now)
		switch {
		case all:
			drop = append(drop, p.segs...)
			run.Partitions++
			run.Series += nSeries
		case some:
			rewrite = db.queueRewrite(p.start) || rewrite
		}
	}
	if rewrite {
		select {
		case db.compactq <- struct{}{}:
		default:
		}
	}
	return drop, run
}

// classifyPartition reports whether every series of p's segments is
// expired at now, whether some is, and how many series p holds.
func (db *DB) classifyPartition(pol RetentionPolicy, p partSegs, now int64) (all, some bool, n uint64) {
	end := partitionEnd(p.start, db.opts.PartitionDuration)
	if u, ok := pol.(uniformRetention); ok { // one retention: no per-series work
		all = end < keepAfter(u, 0, now)
		if all {
			n = unionBitmaps(p.segs).GetCardinality()
		}
		return all, false, n
	}
	key, gen := segSetKey(p.segs), policyGeneration(pol)
	db.ret.mu.Lock()
	nx, ok := db.ret.next[p.start]
	db.ret.mu.Unlock()
	if ok && nx.segs == key && nx.gen == gen && now < nx.until {
		return false, false, 0
	}
	ids := unionBitmaps(p.segs)
	all, until := true, int64(math.MaxInt64)
	it := ids.Iterator()
	for it.HasNext() {
		id := series.ID(it.Next())
		d := pol.Retention(id)
		if d > 0 && end < subSat(now, int64(d)) {
			some = true
			continue
		}
		all = false
		if d > 0 {
			until = min(until, end+int64(d)+1)
		}
	}
	if !some {
		db.ret.mu.Lock()
		if db.ret.next == nil {
			db.ret.next = map[int64]partNext{}
		}
		db.ret.next[p.start] = partNext{segs: key, gen: gen, until: until}
		db.ret.mu.Unlock()
	}
	return all, some, ids.GetCardinality()
}

// segSetKey identifies a set of segments (by file numbers).
func segSetKey(segs []*segment) uint64 {
	var k uint64 = 14695981039346656037
	for _, s := range segs {
		k = (k ^ s.fileNum) * 1099511628211
	}
	return k
}

func unionBitmaps(segs []*segment) *roaring.Bitmap {
	bms := make([]*roaring.Bitmap, len(segs))
	for i, s := range segs {
		bms[i] = s.x.bitmap
	}
	return roaring.FastOr(bms...)
}

// queueRewrite asks the compactor to rewrite partition part; it reports
// whether the partition was not queued already.
func (db *DB) queueRewrite(part int64) bool {
	db.ret.mu.Lock()
	defer db.ret.mu.Unlock()
	if db.ret.rewrite[part] {
		return false
	}
	if db.ret.rewrite == nil {
		db.ret.rewrite = map[int64]bool{}
	}
	db.ret.rewrite[part] = true
	return true
}

// pickRewrite returns a compaction job for a partition queued by
// retention, or nil.
func (db *DB) pickRewrite(v *version) *compactJob {
	db.ret.mu.Lock()
	defer db.ret.mu.Unlock()
	for _, p := range v.parts {
		if db.ret.rewrite[p.start] {
			delete(db.ret.rewrite, p.start)
			return newJob(p.start, p.segs)
		}
	}
	clear(db.ret.rewrite) // partitions gone meanwhile
	return nil
}

// dropSegments removes drop (those still live) from the manifest and the
// version in one manifest write. A drop is reported only once its manifest
// is durable: if the manifest's directory fsync fails, the segments leave
// the version but their files stay (the old manifest lists them; the next
// open removes them as orphans) and the error is returned, so nothing
// that depends on the drop (the tag index partitions) goes before it.
func (db *DB) dropSegments(drop []*segment, run *RetentionRun) error {
	db.manifestMu.Lock()
	defer db.manifestMu.Unlock()
	if len(drop) == 0 {
		// An earlier drop is durable only once its manifest is.
		return db.syncManifestLocked()
	}
	gone := map[*segment]bool{}
	for _, s := range drop {
		gone[s] = true
	}
	v := db.acquire()
	var keep []segMeta
	var dropped []*segment
	for _, p := range v.parts {
		for _, s := range p.segs {
			if gone[s] {
				dropped = append(dropped, s)
			} else {
				keep = append(keep, s.segMeta)
			}
		}
	}
	v.unref()
	if len(dropped) == 0 {
		return db.syncManifestLocked()
	}
	err := db.writeManifestLocked(keep, db.walCheckpoint)
	if err != nil && !errors.As(err, new(*renamedError)) {
		return err
	}
	db.noteCandidates(unionBitmaps(dropped)) // while mapped: the version holds them
	db.editMu.Lock()
	nv := db.cur.clone()
	for _, s := range dropped {
		if err == nil { // committed and durable: the files can go
			s.obsolete.Store(true)
		}
		nv.removeSegment(s)
	}
	db.install(nv)
	db.editMu.Unlock()
	if err != nil {
		return fmt.Errorf("retention: %w", err)
	}
	for _, s := range dropped {
		run.Segments++
		run.Samples += s.x.nSamples
		run.Bytes += uint64(s.size)
	}
	db.m.droppedSegments.Add(uint64(len(dropped)))
	return nil
}

// dropIndexPartitions drops the tag index partitions that no segment
// partition holds and whose series are all expired.
func (db *DB) dropIndexPartitions(pol RetentionPolicy, now int64, run *RetentionRun) error {
	live := map[int64]bool{}
	v := db.acquire()
	for _, p := range v.parts {
		live[p.start] = true
	}
	v.unref()
	var errs []error
	for _, p := range db.index.Partitions() {
		if live[p.MinT()] || !db.indexExpired(pol, p.MinT(), now) {
			continue
		}
		if err := db.index.Drop(p.MinT()); err != nil {
			errs = append(errs, err)
		}
		err := db.fs.Remove(indexFileName(db.dir, p.MinT()))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
		db.indexMu.Lock()
		delete(db.indexWritten, p.MinT())
		db.indexMu.Unlock()
	}
	return errors.Join(errs...)
}

// indexExpired reports whether every series of the index partition
// starting at start is expired at now.
func (db *DB) indexExpired(pol RetentionPolicy, start, now int64) bool {
	end := partitionEnd(start, db.opts.PartitionDuration)
	if u, ok := pol.(uniformRetention); ok {
		return end < keepAfter(u, 0, now)
	}
	p := db.index.Partition(start)
	if p == nil {
		return false
	}
	ids, err := p.Postings()
	if err != nil {
		return false
	}
	it := ids.Iterator()
	for it.HasNext() {
		if end >= keepAfter(pol, series.ID(it.Next()), now) {
			return false
		}
	}
	return true
}

// noteRetention logs and counts what a run removed.
func (db *DB) noteRetention(run RetentionRun, began time.Time) {
	db.m.retentionRuns.Inc()
	if run.Segments == 0 {
		return
	}
	db.m.retentionPartitions.Add(run.Partitions)
	db.m.retentionSeries.Add(run.Series)
	db.m.retentionSamples.Add(run.Samples)
	db.m.retentionBytes.Add(run.Bytes)
	db.log.Info("retention dropped partitions", "partitions", run.Partitions, "segments", run.Segments,
		"series", run.Series, "samples", run.Samples, "bytes", run.Bytes, "duration", time.Since(began))
}

// noteRewrite logs and counts the series a compaction left out as expired;
// in is the input bytes, out the output segment (nil when empty).
func (db *DB) noteRewrite(run RetentionRun, in int64, out *segment) {
	if run.Series == 0 {
		return
	}
	var outBytes int64
	if out != nil {
		outBytes = out.size
	}
	run.Bytes = uint64(max(in-outBytes, 0))
	db.m.retentionRewrites.Inc()
	db.m.retentionSeries.Add(run.Series)
	db.m.retentionSamples.Add(run.Samples)
	db.m.retentionBytes.Add(run.Bytes)
	db.log.Info("retention rewrote partition", "series", run.Series, "samples", run.Samples, "bytes", run.Bytes)
}
