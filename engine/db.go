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
	log  *slog.Logger
	m    *metrics

	reg   *series.Registry
	index *tagindex.Index
	mem   *memtable
	wal   *wal

	closeMu sync.RWMutex // closeMu guards closed and sends on queue
	closed  bool
	queue   chan *commit
	applyq  chan *[]*commit
	stop    chan struct{} // closed to stop the interval syncer
	wg      sync.WaitGroup

	commits sync.Pool // *commit
	groups  sync.Pool // *[]*commit, the writer's group slices, back from the applier
	ready   atomic.Bool
}

// commit is one Append on its way through the pipeline.
type commit struct {
	enc     recordEncoder
	rec     []byte
	batch   *series.Batch
	ids     []series.ID
	needDef []bool
	done    chan error
}

const (
	walDir       = "wal"
	snapshotFile = "series.snap"
)

// Open opens or creates the database in dir, recovering what the WAL holds.
func Open(dir string, opts Options) (*DB, error) {
	opts.ensureDefaults()
	if err := opts.validate(); err != nil {
		return nil, fmt.Errorf("engine options: %w", err)
	}
	db := &DB{
		dir:    dir,
		opts:   opts,
		fs:     opts.FS,
		log:    opts.Logger.With("component", "engine"),
		reg:    series.NewRegistry(series.RegistryOptions{MaxSeries: opts.MaxSeries}),
		mem:    newMemtable(),
		queue:  make(chan *commit, opts.CommitQueue),
		applyq: make(chan *[]*commit, 4),
		stop:   make(chan struct{}),
	}
	var err error
	db.index, err = tagindex.New(tagindex.Options{PartitionDuration: opts.PartitionDuration, Labels: db.reg.Labels})
	if err != nil {
		return nil, fmt.Errorf("tag index: %w", err)
	}
	db.commits.New = func() any { return &commit{done: make(chan error, 1)} }
	db.m = newMetrics(opts.Registerer, db)
	if err := db.fs.MkdirAll(filepath.Join(dir, walDir), 0o755); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	start := time.Now()
	nextSeq, err := db.recover()
	if err != nil {
		return nil, err
	}
	db.log.Info("recovered", "series", db.reg.Len(), "samples", db.m.replaySamples.Load(),
		"duration", time.Since(start))
	db.wal, err = openWAL(db.fs, filepath.Join(dir, walDir), nextSeq, opts.WALSegmentSize, db.log, db.m)
	if err != nil {
		return nil, err
	}
	db.wg.Add(2)
	go db.runWriter()
	go db.runApplier()
	if opts.SyncMode == SyncInterval {
		db.wg.Add(1)
		go db.runSyncer()
	}
	db.ready.Store(true)
	return db, nil
}

// Registry returns the series registry (label sets <-> IDs). Callers must
// not create series in it; Append does.
func (db *DB) Registry() *series.Registry { return db.reg }

// Lookup returns the ID of a series by its labels.
func (db *DB) Lookup(ls series.Labels) (series.ID, bool) {
	var buf [512]byte
	return db.reg.Lookup(ls.AppendCanonical(buf[:0]))
}

// Append stores a batch durably and returns once every accepted sample is
// on disk (per the sync mode) and readable. Series whose labels are
// invalid, whose type differs from their series' type, or that would pass
// the series limit are rejected and reported in the result; the rest of the
// batch is stored. An error means nothing of the batch was acknowledged:
// ErrOverloaded (retry later), ErrClosed, ErrWALFailed, an I/O error, or
// the context's error while waiting to be queued. b must not be modified
// until Append returns; Append stores series ID hints in it (SetRef).
func (db *DB) Append(ctx context.Context, b *series.Batch) (series.AppendResult, error) {
	var res series.AppendResult
	if err := b.Validate(); err != nil {
		return res, err
	}
	if db.mem.bytes.Load() > db.opts.MemtableBudget {
		db.m.overloaded.Inc()
		return res, ErrOverloaded
	}
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
		return res, err
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
	for i := range b.Len() {
		canonical, typ, ts, _ := b.Series(i)
		id := b.Ref(i)
		if id != 0 && string(db.reg.Labels(id)) != string(canonical) {
			id = 0
		}
		if id == 0 {
			var err error
			id, _, err = db.reg.GetOrCreate(canonical, typ)
			if err != nil {
				res.Rejected = append(res.Rejected, series.Rejection{Index: i, Err: err})
				c.ids[i] = 0
				continue
			}
			b.SetRef(i, id)
		}
		if have := db.reg.Type(id); have != typ {
			res.Rejected = append(res.Rejected, series.Rejection{Index: i, Err: fmt.Errorf(
				"%w: series %s holds %s values, got %s", series.ErrTypeConflict, db.seriesName(id), have, typ)})
			c.ids[i] = 0
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
	ms := db.mem.get(id)
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

// partitionStart returns the start of the partition holding t.
func (db *DB) partitionStart(t int64) int64 {
	d := db.opts.PartitionDuration
	p := t / d * d
	if t < 0 && p != t {
		p -= d
	}
	return p
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
	for {
		c, ok := <-db.queue
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
			for _, c := range group {
				c.done <- err
			}
			db.groups.Put(gp)
		} else {
			db.m.groups.Inc()
			db.m.groupBatches.Observe(float64(len(group)))
			db.applyq <- gp
		}
		if cap(buf) > 4*db.opts.MaxGroupBytes {
			buf = nil
		}
		if !open {
			return
		}
	}
}

// runApplier inserts committed groups into the memtable in WAL order and
// wakes their appenders.
func (db *DB) runApplier() {
	defer db.wg.Done()
	for gp := range db.applyq {
		group := *gp
		db.mem.writeMu.Lock()
		for _, c := range group {
			b := c.batch
			for i, id := range c.ids {
				if id == 0 {
					continue
				}
				_, typ, ts, vals := b.Series(i)
				db.mem.addLocked(id, typ, ts, vals, b.StrBuf())
				if c.needDef[i] {
					db.reg.MarkDurable(id)
				}
			}
		}
		db.mem.writeMu.Unlock()
		for i, c := range group {
			c.done <- nil
			group[i] = nil
		}
		db.groups.Put(gp)
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
// sample. An unknown ID yields an empty iterator.
func (db *DB) Select(id series.ID, minT, maxT int64, it *Iterator) *Iterator {
	if it == nil {
		it = &Iterator{}
	}
	it.reset()
	if s := db.mem.get(id); s != nil {
		s.read(minT, maxT, it)
	}
	return it
}

// Flush makes every acknowledged write durable regardless of the sync mode.
// (With segments it also writes the memtable out; see docs/ARCHITECTURE.md.)
func (db *DB) Flush(ctx context.Context) error {
	db.closeMu.RLock()
	defer db.closeMu.RUnlock()
	if db.closed {
		return ErrClosed
	}
	return db.wal.sync()
}

// Ready reports whether recovery has finished.
func (db *DB) Ready() bool { return db.ready.Load() }

// Close waits for queued appends, fsyncs the WAL, writes a snapshot of the
// series registry and closes the files. Appends after Close get ErrClosed.
func (db *DB) Close() error {
	db.closeMu.Lock()
	if db.closed {
		db.closeMu.Unlock()
		return ErrClosed
	}
	db.closed = true
	close(db.queue)
	close(db.stop)
	db.closeMu.Unlock()
	db.wg.Wait()
	err := errors.Join(db.wal.close(), db.index.Close())
	if serr := db.writeSnapshot(); serr != nil {
		err = errors.Join(err, fmt.Errorf("write series snapshot: %w", serr))
	}
	return err
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
	WALGroups       uint64
	WALFsyncs       uint64
	WALBytes        uint64
	ReplayedSamples uint64
}

// Stats returns the current counters.
func (db *DB) Stats() Stats {
	return Stats{
		Series:          db.reg.Len(),
		MemtableBytes:   db.mem.bytes.Load(),
		MemtableSeries:  db.mem.nSeries.Load(),
		AppendedBatches: db.m.batches.Load(),
		AppendedSamples: db.m.samples.Load(),
		RejectedSeries:  db.m.rejected.Load(),
		Overloaded:      db.m.overloaded.Load(),
		WALGroups:       db.m.groups.Load(),
		WALFsyncs:       db.m.fsyncs.Load(),
		WALBytes:        uint64(db.m.walBytes.get()),
		ReplayedSamples: db.m.replaySamples.Load(),
	}
}
