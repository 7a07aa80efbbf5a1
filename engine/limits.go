package engine

import (
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/lightningdb/lightningdb/series"
)

// Admission of a batch (Append, before anything is created or written):
//
//  1. its estimated memory (requestBytes) must fit in MemtableBudget on
//     its own, or the batch is refused with series.ErrBatchTooLarge (a
//     retry cannot help); it must fit beside what the memtables hold and
//     what other admitted batches are adding, or series.ErrOverloaded (retry);
//  2. per series: every timestamp in series.MinTime..MaxTime, or the
//     series is rejected with series.ErrTimestampRange;
//  3. per new series: within MaxSeries, MaxNewSeriesPerRequest and
//     MaxNewSeriesPerMinute, or it is rejected with series.ErrSeriesLimit.
//
// Rejected series are reported in the AppendResult and counted in
// engine_rejected_series_total{reason}; the rest of the batch is stored.

// What a batch is estimated to cost before it is appended, per sample and
// per series. A sample takes 16 bytes raw in the memtable (timestamp and
// value; sealing shrinks it later). A series of the batch is charged as if
// new: its memtable entry (memSeriesOverhead plus the first capacity of
// its sample slices), its registry and tag index entries
// (reqIndexSeriesBytes) and its label bytes (one copy, shared by the
// registry's map and entry). TestSeriesMemory measures the real cost
// against these: 580 B of heap for a new series of one sample with 45
// label bytes, estimated at 653 B.
const (
	reqSampleBytes      = 16
	reqMemSeriesBytes   = memSeriesOverhead + 2*memFirstCap*8
	reqIndexSeriesBytes = 256
)

// requestBytes estimates the memory the batch adds to the memtable and
// the registry, an upper bound in the usual case.
func requestBytes(b *series.Batch) int64 {
	return int64(b.Samples())*reqSampleBytes + int64(len(b.StrBuf())) +
		int64(b.Len())*(reqMemSeriesBytes+reqIndexSeriesBytes) + int64(len(b.LabelBuf()))
}

// admit reserves the estimated memory of b against MemtableBudget and
// returns the bytes reserved (to release with db.pending.Add(-n) once the
// batch is applied), or the error refusing it.
func (db *DB) admit(b *series.Batch) (int64, error) {
	need := requestBytes(b)
	budget := db.opts.MemtableBudget
	if need > budget {
		db.m.tooLarge.Inc()
		return 0, fmt.Errorf("%w: about %d MiB of memory for %d series and %d samples, above the memtable budget of %d MiB (engine.memtable_budget); send smaller requests",
			series.ErrBatchTooLarge, need>>20, b.Len(), b.Samples(), budget>>20)
	}
	held := db.active().bytes.Load() + db.immBytes.Load()
	if held+db.pending.Add(need) > budget {
		db.pending.Add(-need)
		db.m.overloaded.Inc()
		db.flushWanted.Store(true)
		db.kickFlusher() // the memtable may be below MemtableFlushBytes
		return 0, errMemtableFull
	}
	return need, nil
}

// Reasons a series of a batch is rejected, the label values of
// engine_rejected_series_total.
const (
	rejectTimeRange = iota
	rejectPerRequest
	rejectPerMinute
	rejectOther // invalid labels, type conflict, MaxSeries
	nRejectReasons
)

var rejectReasonNames = [nRejectReasons]string{"timestamp_range", "new_series_per_request", "new_series_per_minute", "other"}

// newSeriesGate counts the series one Append creates against the limits;
// its admit method is handed to Registry.GetOrCreateAdmit.
type newSeriesGate struct {
	db      *DB
	created int
	reason  int // why the last admit failed
}

func (g *newSeriesGate) admit() error {
	db := g.db
	if max := db.opts.MaxNewSeriesPerRequest; max > 0 && g.created >= max {
		g.reason = rejectPerRequest
		return db.errPerRequest
	}
	if !db.newSeries.take() {
		g.reason = rejectPerMinute
		return db.errPerMinute
	}
	g.created++
	return nil
}

// rateLimiter is a token bucket: up to perMinute tokens, refilled at
// perMinute a minute on the clock now. perMinute <= 0 means no limit.
type rateLimiter struct {
	perMinute int
	now       func() time.Time

	mu     sync.Mutex // mu protects tokens and last
	tokens float64
	last   time.Time
}

func newRateLimiter(perMinute int, now func() time.Time) *rateLimiter {
	return &rateLimiter{perMinute: perMinute, now: now, tokens: float64(perMinute), last: now()}
}

// take takes one token, reporting whether there was one.
func (l *rateLimiter) take() bool {
	if l.perMinute <= 0 {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if d := now.Sub(l.last); d > 0 {
		l.tokens = math.Min(float64(l.perMinute), l.tokens+d.Minutes()*float64(l.perMinute))
		l.last = now
	}
	if l.tokens < 1 {
		return false
	}
	l.tokens--
	return true
}
