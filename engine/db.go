package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/lightningdb/lightningdb/engine/encoding"
	"github.com/lightningdb/lightningdb/series"
	"github.com/lightningdb/lightningdb/tagindex"
)

// DB is an open database directory. All methods are safe for concurrent use.
//
// The write path is a three-stage pipeline (Pebble's commitPipeline is the
// model):
//
//	Append (many goroutines)       writer (one goroutine)        applier (one goroutine)
//	resolve series IDs, check  ->  take every queued commit,  ->  insert the group into the
//	types, encode a WAL record     write them with one write,     memtable in WAL order,
//	enqueue, wait                  fsync once (SyncFsync)         mark new series durable,
//	                                                              wake each appender
//
// Encoding runs in the appenders' goroutines, in parallel. The writer's
// fsync of group N+1 overlaps the applier's work on group N. Appenders are
// woken only after their group is durable and visible to readers, so an
// acknowledged write is both on disk and readable.
type DB struct {
	dir  string
	opts Options
	fs   FS
	lock io.Closer // the data directory's lock (lock.go); released last by Close
	log  *slog.Logger
	m    *metrics

	reg   *series.Registry
	index *tagindex.Index
	memp  atomic.Pointer[memtable] // the active memtable; written by the applier only
	wal   *wal

	closeMu sync.RWMutex // closeMu guards closed and sends on queue
	closed  bool
	queue   chan *commit
	applyq  chan applyItem
	rotateq chan *swapReq // flush asks the WAL writer to rotate and freeze
	stop    chan struct{} // closed to stop the interval syncer
	wg      sync.WaitGroup

	// LSM state. Lock order: flushMu, compactMu, manifestMu, editMu, verMu.
	verMu         sync.RWMutex // verMu protects cur
	cur           *version
	editMu        sync.Mutex // editMu serialises building and installing versions
	manifestMu    sync.Mutex // manifestMu serialises changes of the segment set and the manifest
	walCheckpoint uint64     // manifestMu protects: first WAL segment replay needs
	manifestDirty bool       // manifestMu protects: the last manifest's directory fsync failed
	nextFileNum   atomic.Uint64
	flushMu       sync.Mutex // flushMu serialises flushes; protects flushEnc
	flushEnc      encoding.Encoder
	compactMu     sync.Mutex // compactMu serialises compactions; protects compactEnc
	compactEnc    encoding.Encoder
	partFlushMu   sync.Mutex      // partFlushMu protects partFlushed
	partFlushed   map[int64]int64 // partition start -> unix ns of its last flush (recent ones only)
	spareMu       sync.Mutex      // spareMu protects spare
	spare         *memtable       // a flushed, reset memtable to be the next active one
	immBytes      atomic.Int64
	indexMu       sync.Mutex       // indexMu protects indexWritten
	indexWritten  map[int64]uint64 // partition start -> its generation when its file was last written
	pointPF       prefetcher       // stateless advice for Select (ScanPoint)
	flushq        chan struct{}
	compactq      chan struct{}
	damage        damageReports  // segments readers found damaged (salvage.go)
	ret           retentionState // per-series retention bookkeeping (retention.go)
	bgCancel      context.CancelFunc
	bgCtx         context.Context // ends when Close begins
	bgWG          sync.WaitGroup

	// Admission (limits.go).
	pending       atomic.Int64 // estimated bytes of admitted batches not yet applied
	flushWanted   atomic.Bool  // an Append was refused for the budget: flush even below MemtableFlushBytes
	newSeries     *rateLimiter // MaxNewSeriesPerMinute
	errPerRequest error        // the rejection of a series past MaxNewSeriesPerRequest
	errPerMinute  error        // the rejection of a series past MaxNewSeriesPerMinute

	// Deletion (delete.go, tombstone.go) and series lifecycle (lifecycle.go).
	tombMu    sync.Mutex     // tombMu serialises changes of the tombstone set and its file
	tombSeq   uint64         // tombMu protects: the next tombstone's sequence number
	tombDirty bool           // tombMu protects: the tombstone file lags the set
	life      lifecycleState // series that may have no sample left
	// lifeMu is held for reading by Append from its registry lookups to its
	// tag index entries, and for writing while series are forgotten.
	lifeMu sync.RWMutex

	commits sync.Pool // *commit
	groups  sync.Pool // *[]*commit, the writer's group slices, back from the applier
	ready   atomic.Bool

	// sealedWAL is ReadWAL's decoded segment on a sealed FS (walread.go).
	sealedWAL sealedWAL
}

// commit is one Append on its way through the pipeline.
type commit struct {
	enc     recordEncoder
	rec     []byte
	batch   *series.Batch
	ids     []series.ID
	needDef []bool
	tomb    *tombstone // a deletion instead of a batch (delete.go)
	done    chan error
}

const (
	walDir       = "wal"
	snapshotFile = "series.snap"
	indexDir     = "index"
	indexSuffix  = ".tix"
)

// Open opens or creates the database in dir, recovering what the WAL holds.
// It first locks dir (a LOCK file holding this process's PID) until Close:
// while another DB, in this process or another, has dir open, Open fails at
// once with a *LockedError (errors.Is ErrLocked) naming the holder's PID,
// before recovery touches a file.
func Open(dir string, opts Options) (*DB, error) {
	opts.ensureDefaults()
	if err := opts.validate(); err != nil {
		return nil, fmt.Errorf("engine options: %w", err)
	}
	lock, err := lockDir(opts.FS, dir)
	if err != nil {
		return nil, err
	}
	db, err := open(dir, opts)
	if err != nil {
		lock.Close() // nothing was written through it
		return nil, err
	}
	db.lock = lock
	return db, nil
}

// open is Open once the data directory is locked.
func open(dir string, opts Options) (*DB, error) {
	db := &DB{
		dir:     dir,
		opts:    opts,
		fs:      opts.FS,
		log:     opts.Logger.With("component", "engine"),
		reg:     series.NewRegistry(series.RegistryOptions{MaxSeries: opts.MaxSeries}),
		queue:   make(chan *commit, opts.CommitQueue),
		applyq:  make(chan applyItem, 4),
		rotateq: make(chan *swapReq),
		stop:    make(chan struct{}),
		flushq:  make(chan struct{}, 1),
		// Small flushes (frequent, many segments that compaction rewrites
		// with the full search) encode fast; large ones (the default) keep
		// the full search: a past partition left with one flushed segment
		// is never rewritten (0.49 instead of 0.40 B/sample on TSBS data).
		flushEnc:     encoding.Encoder{Fast: opts.MemtableFlushBytes < fastFlushBelow},
		compactq:     make(chan struct{}, 1),
		indexWritten: map[int64]uint64{},
		newSeries:    newRateLimiter(opts.MaxNewSeriesPerMinute, opts.Now),
		errPerRequest: fmt.Errorf("%w: more than %d new series in one request (engine.max_new_series_per_request)",
			series.ErrSeriesLimit, opts.MaxNewSeriesPerRequest),
		errPerMinute: fmt.Errorf("%w: more than %d new series a minute (engine.max_new_series_per_minute); retry later",
			series.ErrSeriesLimit, opts.MaxNewSeriesPerMinute),
	}
	mem := newMemtableAt(db.opts.Now)
	mem.refs.Store(1)
	db.memp.Store(mem)
	db.cur = &version{db: db, mems: []*memtable{mem}}
	db.cur.refs.Store(1)
	db.pointPF = prefetcher{pattern: ScanPoint, pageSize: int64(unix.Getpagesize())}
	var err error
	db.index, err = tagindex.New(tagindex.Options{PartitionDuration: opts.PartitionDuration, Labels: db.reg.Labels})
	if err != nil {
		return nil, fmt.Errorf("tag index: %w", err)
	}
	db.commits.New = func() any { return &commit{done: make(chan error, 1)} }
	if db.m, err = newMetrics(opts.Registerer, db); err != nil {
		db.index.Close()
		return nil, err
	}
	for _, d := range []string{walDir, segDir, indexDir} {
		if err := mkdirAllSync(db.fs, filepath.Join(dir, d), 0o755); err != nil {
			db.releaseOnFailedOpen()
			return nil, fmt.Errorf("create data dir: %w", err)
		}
	}
	start := time.Now()
	nextSeq, err := db.recover()
	if err != nil {
		db.releaseOnFailedOpen()
		return nil, err
	}
	db.log.Info("recovered", "series", db.reg.Len(), "samples", db.m.replaySamples.Load(),
		"duration", time.Since(start))
	db.wal, err = openWAL(db.fs, filepath.Join(dir, walDir), nextSeq, opts.WALSegmentSize, db.log, db.m)
	if err != nil {
		db.releaseOnFailedOpen()
		return nil, err
	}
	db.wg.Add(2)
	go db.runWriter()
	go db.runApplier()
	if opts.SyncMode == SyncInterval {
		db.wg.Add(1)
		go db.runSyncer()
	}
	ctx, cancel := context.WithCancel(context.Background())
	db.bgCtx, db.bgCancel = ctx, cancel
	db.bgWG.Add(1)
	go db.runFlusher(ctx)
	if !opts.DisableCompaction {
		db.bgWG.Add(1)
		go db.runCompactor(ctx)
	}
	if db.m.inQuarantine.Load() == 0 { // a quarantined segment's series stay known
		db.seedCandidates()
	}
	if _, err := db.forgetSeries(); err != nil {
		db.log.Warn("forget series without samples", "err", err)
	}
	db.ready.Store(true)
	return db, nil
}

// releaseAll drops the current version (unmapping its segments) and
// closes the index; for a failed Open and the end of Close.
func (db *DB) releaseAll() {
	db.verMu.Lock()
	v := db.cur
	db.cur = nil
	db.verMu.Unlock()
	if v != nil {
		v.unref()
	}
}

// releaseOnFailedOpen unmaps the segments and the tag index files that
// recovery opened.
func (db *DB) releaseOnFailedOpen() {
	db.m.unregister()
	db.releaseAll()
	if err := db.index.Close(); err != nil {
		db.log.Warn("close tag index after failed open", "err", err)
	}
}

// mapAdvice is the madvise advice for new segment mappings: MADV_RANDOM
// (scans advise more), or none when prefetch is disabled.
func (db *DB) mapAdvice() int {
	if db.opts.PrefetchBytes < 0 {
		return -1
	}
	return unix.MADV_RANDOM
}

// active returns the active memtable.
func (db *DB) active() *memtable { return db.memp.Load() }

// Registry returns the series registry (label sets <-> IDs). Callers must
// not create series in it; Append does.
func (db *DB) Registry() *series.Registry { return db.reg }

// Lookup returns the ID of a series by its labels.
func (db *DB) Lookup(ls series.Labels) (series.ID, bool) {
	var buf [512]byte
	return db.reg.Lookup(ls.AppendCanonical(buf[:0]))
}

// Append stores a batch durably and returns once every accepted sample is
// on disk (per the sync mode) and readable. Series with a timestamp outside
// series.MinTime..MaxTime, whose labels are invalid, whose type differs
// from their series' type, or that would pass a series limit are rejected
// and reported in the result; the rest of the batch is stored (limits.go).
// An error means nothing of the batch was acknowledged: series.ErrOverloaded
// (retry later: the memtable is over its budget, or ErrDiskFull),
// series.ErrBatchTooLarge (the batch alone is over the memtable budget),
// ErrClosed, ErrWALFailed, an I/O error, or
// the context's error while waiting to be queued. b must not be modified
// until Append returns; Append stores series ID hints in it (SetRef).
func (db *DB) Append(ctx context.Context, b *series.Batch) (series.AppendResult, error) {
	var res series.AppendResult
	if err := b.Validate(); err != nil {
		return res, err
	}
	reserved, err := db.admit(b)
	if err != nil {
		return res, err
	}
	defer db.pending.Add(-reserved)
	db.lifeMu.RLock()
	defer db.lifeMu.RUnlock()
	c := db.commits.Get().(*commit)
	defer db.putCommit(c)
	c.batch = b
	c.ids = resize(c.ids, b.Len())
	c.needDef = resize(c.needDef, b.Len())
	accepted := db.resolve(b, c, &res)
	if accepted == 0 {
		return res, nil
	}
	c.rec = c.enc.encode(b, c.ids, c.needDef)
	if db.opts.afterResolve != nil {
		db.opts.afterResolve()
	}

	db.closeMu.RLock()
	if db.closed {
		db.closeMu.RUnlock()
		return res, ErrClosed
	}
	select {
	case db.queue <- c:
	case <-ctx.Done():
		db.closeMu.RUnlock()
		return res, ctx.Err()
	}
	db.closeMu.RUnlock()
	// Once queued, the commit is waited for even if ctx ends: the WAL may
	// already hold it, and the caller must not reuse b before it is applied.
	if err := <-c.done; err != nil {
		return res, clientError(err)
	}
	db.indexBatch(b, c.ids)
	res.Accepted = accepted
	db.m.batches.Inc()
	db.m.samples.Add(uint64(accepted))
	return res, nil
}

// resolve maps each series of b to its ID, creating new series, and checks
// types. It fills c.ids (0 = rejected) and c.needDef and returns the number
// of accepted samples.
func (db *DB) resolve(b *series.Batch, c *commit, res *series.AppendResult) int {
	accepted := 0
	gate := newSeriesGate{db: db}
	reject := func(i, reason int, err error) {
		res.Rejected = append(res.Rejected, series.Rejection{Index: i, Err: err})
		db.m.rejectedBy[reason].Inc()
		c.ids[i] = 0
	}
	for i := range b.Len() {
		canonical, typ, ts, _ := b.Series(i)
		if err := checkTimes(ts); err != nil && !db.opts.noTimeCheck {
			reject(i, rejectTimeRange, err)
			continue
		}
		id := b.Ref(i)
		if id != 0 && string(db.reg.Labels(id)) != string(canonical) {
			id = 0
		}
		if id == 0 {
			var err error
			gate.reason = rejectOther
			id, _, err = db.reg.GetOrCreateAdmit(canonical, typ, gate.admit)
			if err != nil {
				reject(i, gate.reason, err)
				continue
			}
			b.SetRef(i, id)
		}
		if have := db.reg.Type(id); have != typ {
			reject(i, rejectOther, &series.TypeConflictError{Series: db.seriesName(id), Have: have, Got: typ})
			continue
		}
		c.ids[i] = id
		c.needDef[i] = !db.reg.Durable(id)
		accepted += len(ts)
	}
	if len(res.Rejected) > 0 {
		db.m.rejected.Add(uint64(len(res.Rejected)))
	}
	return accepted
}

// checkTimes returns the error naming the first timestamp of ts outside
// series.MinTime..MaxTime, or nil.
func checkTimes(ts []int64) error {
	for _, t := range ts {
		if !series.InRange(t) {
			return series.CheckTime(t)
		}
	}
	return nil
}

// indexBatch adds the accepted series of a committed batch to the tag index
// of every partition their samples fall in. It runs in the appender's
// goroutine, before the append is acknowledged, so an acknowledged series
// is findable.
func (db *DB) indexBatch(b *series.Batch, ids []series.ID) {
	for i, id := range ids {
		if id == 0 {
			continue
		}
		canonical, _, ts, _ := b.Series(i)
		db.indexSamples(id, canonical, ts)
	}
}

func (db *DB) indexSamples(id series.ID, canonical []byte, ts []int64) {
	ms := db.active().get(id)
	last := int64(math.MinInt64)
	for _, t := range ts {
		p := db.partitionStart(t)
		if p == last {
			continue
		}
		last = p
		if ms != nil && ms.indexed.Load() == p+1 {
			continue
		}
		if err := db.index.Add(p, id, canonical); err != nil {
			db.log.Error("tag index add failed", "series", id, "err", err)
			continue
		}
		if ms != nil {
			ms.indexed.Store(p + 1)
		}
	}
}

// Index returns the tag index: label matchers to series IDs, per partition.
func (db *DB) Index() *tagindex.Index { return db.index }

func (db *DB) seriesName(id series.ID) string {
	ls, err := series.UnmarshalLabels(nil, db.reg.Labels(id))
	if err != nil {
		return fmt.Sprintf("#%d", id)
	}
	return ls.String()
}

func (db *DB) putCommit(c *commit) {
	c.batch, c.rec = nil, nil
	if cap(c.enc.payload) > 4<<20 { // do not pin huge buffers in the pool
		c.enc = recordEncoder{}
	}
	db.commits.Put(c)
}

func resize[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	clear(s[:n])
	return s[:n]
}

// runWriter is the WAL writer: it groups every queued commit, writes the
// group with one write and fsyncs once, then hands it to the applier.
func (db *DB) runWriter() {
	defer db.wg.Done()
	defer close(db.applyq)
	var buf []byte
	failing := false // the last group failed (logged once until a group succeeds)
	for {
		var c *commit
		var ok bool
		select {
		case c, ok = <-db.queue:
		case req := <-db.rotateq:
			db.rotateForFlush(req)
			continue
		}
		if !ok {
			return
		}
		gp, _ := db.groups.Get().(*[]*commit)
		if gp == nil {
			gp = new([]*commit)
		}
		group := append((*gp)[:0], c)
		size := len(c.rec)
		open := true
	drain:
		for size < db.opts.MaxGroupBytes {
			select {
			case c, ok := <-db.queue:
				if !ok {
					open = false
					break drain
				}
				group = append(group, c)
				size += len(c.rec)
			default:
				break drain
			}
		}
		buf = buf[:0]
		for _, c := range group {
			buf = append(buf, c.rec...)
		}
		err := db.wal.write(buf)
		if err == nil && db.opts.SyncMode == SyncFsync {
			err = db.wal.sync()
		}
		*gp = group
		if err != nil {
			db.logWriteFailure(err, &failing)
			for _, c := range group {
				c.done <- err
			}
			db.groups.Put(gp)
		} else {
			failing = false
			db.m.groups.Inc()
			db.m.groupBatches.Observe(float64(len(group)))
			db.applyq <- applyItem{group: gp}
		}
		if cap(buf) > 4*db.opts.MaxGroupBytes {
			buf = nil
		}
		if !open {
			return
		}
	}
}

// logWriteFailure logs a failed WAL group write, with its path, once
// until a group succeeds again (clients get the error without the path).
func (db *DB) logWriteFailure(err error, failing *bool) {
	if *failing {
		return
	}
	*failing = true
	db.log.Error("WAL write failed; appends get an error until it succeeds", "err", err, "disk_full", isDiskFull(err))
}

// rotateForFlush rotates the WAL between two groups and has the applier
// freeze the memtable at that boundary (flush.go).
func (db *DB) rotateForFlush(req *swapReq) {
	seq, err := db.wal.rotate()
	if err != nil {
		req.reply <- swapResult{err: err}
		return
	}
	db.applyq <- applyItem{swap: req, seq: seq}
}

// runApplier inserts committed groups into the memtable in WAL order and
// wakes their appenders; it also swaps memtables for flushes, in order.
func (db *DB) runApplier() {
	defer db.wg.Done()
	for item := range db.applyq {
		if item.swap != nil {
			item.swap.reply <- swapResult{m: db.swapMemtable(item.seq)}
			continue
		}
		gp := item.group
		group := *gp
		mem := db.active()
		var d memDelta
		mem.writeMu.Lock()
		for _, c := range group {
			if c.tomb != nil {
				db.purgeMemtables(c.tomb, &d)
				continue
			}
			b := c.batch
			for i, id := range c.ids {
				if id == 0 {
					continue
				}
				_, typ, ts, vals := b.Series(i)
				mem.addDeltaLocked(id, typ, ts, vals, b.StrBuf(), &d)
				if c.needDef[i] {
					db.reg.MarkDurable(id)
				}
			}
		}
		mem.commit(&d) // before the appenders wake: their samples are counted
		mem.writeMu.Unlock()
		for i, c := range group {
			c.done <- nil
			group[i] = nil
		}
		db.groups.Put(gp)
		db.maybeTriggerFlush()
	}
}

func (db *DB) runSyncer() {
	defer db.wg.Done()
	t := time.NewTicker(db.opts.SyncInterval)
	defer t.Stop()
	for {
		select {
		case <-db.stop:
			return
		case <-t.C:
			if err := db.wal.sync(); err != nil {
				db.log.Error("periodic WAL fsync failed", "err", err)
			}
		}
	}
}

// Select reads series id over [minT, maxT] (inclusive, ns) into it, reusing
// it when not nil, and returns the iterator positioned before the first
// sample: the samples of the segments and memtables merged, the newest
// source winning for equal timestamps. An unknown ID yields an empty
// iterator; a damaged block is skipped and reported by it.Err(). A series
// over several blocks gets MADV_WILLNEED on its (contiguous) byte range;
// for many series use Querier.
func (db *DB) Select(id series.ID, minT, maxT int64, it *Iterator) *Iterator {
	if it == nil {
		it = &Iterator{}
	}
	v := db.acquireOrNil()
	if v == nil {
		it.reset()
		return it
	}
	var pf *prefetcher
	if db.opts.PrefetchBytes >= 0 {
		pf = &db.pointPF
	}
	it.load(id, minT, maxT, overlappingParts(v.parts, minT, maxT, db.opts.PartitionDuration), v.mems, v.tombs, pf)
	v.unref()
	if it.err != nil {
		db.reportDamage(it.err)
	}
	return it
}

// acquireOrNil is acquire, or nil once the DB is closed.
func (db *DB) acquireOrNil() *version {
	db.verMu.RLock()
	defer db.verMu.RUnlock()
	if db.cur == nil {
		return nil
	}
	db.cur.ref()
	return db.cur
}

// Flush makes every acknowledged write durable regardless of the sync
// mode, and writes the memtable out to segments: once it returns, every
// write acknowledged before the call is in a live segment and the WAL
// segments holding it are deleted.
func (db *DB) Flush(ctx context.Context) error {
	db.closeMu.RLock()
	defer db.closeMu.RUnlock()
	if db.closed {
		return ErrClosed
	}
	ctx, done := db.untilClose(ctx)
	defer done()
	if err := db.wal.sync(); err != nil {
		return err
	}
	return db.flush(ctx, false)
}

// untilClose returns ctx ended also when Close begins (see Close), and
// the function that releases it.
func (db *DB) untilClose(ctx context.Context) (context.Context, func()) {
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(db.bgCtx, cancel)
	return ctx, func() { stop(); cancel() }
}

// Ready reports whether recovery has finished.
func (db *DB) Ready() bool { return db.ready.Load() }

// Close waits for queued appends, fsyncs the WAL, writes a snapshot of the
// series registry and closes the files. Appends after Close get ErrClosed.
func (db *DB) Close() error {
	// Background jobs and explicit Flush/Compact/ApplyRetention calls
	// (their contexts end with bgCtx) stop first: they hold closeMu's
	// read lock, and a rate-limited compaction could keep Close (and the
	// Appends queued behind its write lock) waiting for minutes.
	db.bgCancel()
	db.closeMu.Lock()
	if db.closed {
		db.closeMu.Unlock()
		return ErrClosed
	}
	db.closed = true
	db.closeMu.Unlock()
	// Background jobs first: a running flush needs the commit pipeline.
	db.bgWG.Wait()
	close(db.queue)
	close(db.stop)
	db.wg.Wait()
	var err error
	if db.opts.noFlushOnClose {
		// leave everything to WAL replay
	} else if ferr := db.flush(context.Background(), true); ferr != nil {
		err = fmt.Errorf("final flush: %w", ferr) // the WAL still holds it
	}
	err = errors.Join(err, db.wal.close())
	if serr := db.writeSnapshot(); serr != nil {
		err = errors.Join(err, fmt.Errorf("write series snapshot: %w", serr))
	}
	db.releaseAll()
	db.m.unregister()
	return errors.Join(err, db.index.Close(), db.lock.Close())
}

func (db *DB) writeSnapshot() error {
	return writeFileAtomic(db.fs, filepath.Join(db.dir, snapshotFile), func(w io.Writer) error {
		return db.reg.WriteSnapshot(w)
	})
}

// Stats is a point-in-time view of the engine's counters.
type Stats struct {
	Series          int
	MemtableBytes   int64
	MemtableSeries  int64
	AppendedBatches uint64
	AppendedSamples uint64
	RejectedSeries  uint64
	Overloaded      uint64
	// RequestsTooLarge counts Appends refused with series.ErrBatchTooLarge.
	RequestsTooLarge uint64
	// ReplayDropped counts WAL samples recovery dropped as out of range.
	ReplayDropped uint64
	// FlushFailures counts failed background flushes (each is retried).
	FlushFailures   uint64
	WALGroups       uint64
	WALFsyncs       uint64
	WALBytes        uint64
	ReplayedSamples uint64

	// Segments is the number of live segments, SegmentBytes their size.
	Segments     int
	SegmentBytes int64
	// Partitions is the number of time partitions with segments.
	Partitions       int
	FrozenMemtables  int
	Flushes          uint64
	FlushedSamples   uint64
	FlushedBytes     uint64
	Compactions      uint64
	CompactedSamples uint64
	CompactedBytesIn uint64
	RetentionDropped uint64
	// SeriesRemoved counts series forgotten with no sample left.
	SeriesRemoved uint64
}

// Stats returns the current counters.
func (db *DB) Stats() Stats {
	st := Stats{
		Series:           db.reg.Len(),
		MemtableBytes:    db.active().bytes.Load() + db.immBytes.Load(),
		MemtableSeries:   db.active().nSeries.Load(),
		AppendedBatches:  db.m.batches.Load(),
		AppendedSamples:  db.m.samples.Load(),
		RejectedSeries:   db.m.rejected.Load(),
		Overloaded:       db.m.overloaded.Load(),
		RequestsTooLarge: db.m.tooLarge.Load(),
		ReplayDropped:    db.m.replayDropped.Load(),
		FlushFailures:    db.m.flushFailures.Load(),
		WALGroups:        db.m.groups.Load(),
		WALFsyncs:        db.m.fsyncs.Load(),
		WALBytes:         uint64(db.m.walBytes.get()),
		ReplayedSamples:  db.m.replaySamples.Load(),
		Flushes:          db.m.flushes.Load(),
		FlushedSamples:   db.m.flushedSamples.Load(),
		FlushedBytes:     db.m.flushedBytes.Load(),
		Compactions:      db.m.compactions.Load(),
		CompactedSamples: db.m.compactedSamples.Load(),
		CompactedBytesIn: db.m.compactedBytes.Load(),
		RetentionDropped: db.m.droppedSegments.Load(),
		SeriesRemoved:    db.m.seriesRemoved.Load(),
	}
	if v := db.acquireOrNil(); v != nil {
		st.Partitions = len(v.parts)
		st.FrozenMemtables = len(v.mems) - 1
		for _, p := range v.parts {
			for _, s := range p.segs {
				st.Segments++
				st.SegmentBytes += s.size
			}
		}
		v.unref()
	}
	return st
}

// segmentUsage returns the number and bytes of the live segments (the
// data on disk besides the WAL, the tag index and snapshots).
func (db *DB) segmentUsage() (n int, bytes int64) {
	v := db.acquireOrNil()
	if v == nil {
		return 0, 0
	}
	defer v.unref()
	for _, p := range v.parts {
		for _, s := range p.segs {
			n++
			bytes += s.size
		}
	}
	return n, bytes
}
