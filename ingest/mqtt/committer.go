package mqtt

import (
	"context"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lightningdb/lightningdb/ingest"
	"github.com/lightningdb/lightningdb/series"
)

// committer gathers the decoded messages of many goroutines (broker
// connections, subscriber callbacks) into shared batches and appends each
// batch in one Append, so one WAL group commit covers many messages:
//
//	submit (many goroutines)        run (1 goroutine)              append (<= maxInFlight)
//	copy the message's series  -->  after a kick and the linger,  --> Append(batch); close
//	into the open group, kick,      take the open group and open       group.done: every
//	wait for group.done             a new one, once a slot is free     waiter reads its result
//
// While the appends in flight wait for their fsync, new messages pile up in
// the open group, so the batch size adapts to the load without a timer.
//
// Before taking a group, run yields the processor (runtime.Gosched) for as
// long as the group keeps growing (at most maxYields times). A kick makes
// run the next goroutine to be scheduled (the runtime's runnext), ahead of
// the connection goroutines that the network poller made runnable in the
// same round; without the yield, on a busy processor (GOMAXPROCS=1, or
// every P busy) each group would hold the one message that kicked it and
// every message would cost an Append and an fsync. The yield waits for no
// timer: on an idle machine it returns at once, so latency stays low.
// mu protects cur; pending and samples are read without it.
type committer struct {
	app         ingest.Appender
	linger      time.Duration
	maxSamples  int
	maxInFlight int

	mu      sync.Mutex
	cur     *group
	pending atomic.Int64  // messages in cur
	samples atomic.Int64  // samples in cur
	kick    chan struct{} // capacity 1
	full    chan struct{} // capacity 1: the open group passed maxSamples
}

// group is one shared batch and its outcome. res and err are written
// before done is closed and only read after. refs counts the submitters
// that have yet to read the outcome plus one for the append; the last to
// let go puts the group back in the pool, so its batch keeps its capacity.
type group struct {
	b    series.Batch
	done chan struct{}
	res  series.AppendResult
	err  error
	refs atomic.Int32
}

func newCommitter(app ingest.Appender, linger time.Duration, maxSamples, maxInFlight int) *committer {
	return &committer{app: app, linger: linger, maxSamples: maxSamples, maxInFlight: maxInFlight,
		cur: newGroup(), kick: make(chan struct{}, 1), full: make(chan struct{}, 1)}
}

var groupPool = sync.Pool{New: func() any { return new(group) }}

// newGroup returns an empty group held by its future append.
func newGroup() *group {
	g := groupPool.Get().(*group)
	g.done = make(chan struct{})
	g.refs.Store(1)
	return g
}

// release lets go of g; the last reference recycles it.
func (g *group) release() {
	if g.refs.Add(-1) != 0 {
		return
	}
	g.b.Reset()
	g.res, g.err, g.done = series.AppendResult{}, nil, nil
	groupPool.Put(g)
}

// result is what one submitted message learns from its group.
type result struct {
	accepted int   // samples stored
	rejected int   // samples the appender refused
	rejErr   error // the first refusal
	err      error // the whole append failed: nothing stored
}

// submit copies src into the open group and waits for the Append that
// holds it. It returns early with ctx's error when ctx ends; the samples
// may still be stored then.
func (c *committer) submit(ctx context.Context, src *series.Batch) result {
	c.mu.Lock()
	g := c.cur
	first := g.b.Len()
	copyBatch(&g.b, src)
	last := g.b.Len()
	full := g.b.Samples() >= c.maxSamples
	c.pending.Add(1)
	c.samples.Store(int64(g.b.Samples()))
	g.refs.Add(1)
	c.mu.Unlock()
	defer g.release()
	select {
	case c.kick <- struct{}{}:
	default:
	}
	if full {
		select {
		case c.full <- struct{}{}:
		default:
		}
	}
	select {
	case <-g.done:
	case <-ctx.Done():
		return result{err: ctx.Err()}
	}
	if g.err != nil {
		return result{err: g.err}
	}
	r := result{accepted: src.Samples()}
	rej := g.res.Rejected
	i, _ := slices.BinarySearchFunc(rej, first, func(x series.Rejection, t int) int { return x.Index - t })
	for ; i < len(rej) && rej[i].Index < last; i++ {
		_, _, ts, _ := g.b.Series(rej[i].Index)
		r.accepted -= len(ts)
		r.rejected += len(ts)
		if r.rejErr == nil {
			r.rejErr = rej[i].Err
		}
	}
	return r
}

// copyBatch appends every series of src to dst.
func copyBatch(dst, src *series.Batch) {
	for i := 0; i < src.Len(); i++ {
		canon, typ, ts, vals := src.Series(i)
		dst.AddCanonical(canon, typ)
		for j, t := range ts {
			if typ == series.TypeString {
				dst.AppendString(t, src.Str(vals[j]))
			} else {
				dst.AppendRaw(t, vals[j])
			}
		}
	}
}

// run takes groups and appends them until ctx ends; then it appends what
// is left and waits for the appends in flight.
func (c *committer) run(ctx context.Context) {
	slots := make(chan struct{}, c.maxInFlight)
	var wg sync.WaitGroup
	defer wg.Wait()
	actx := context.WithoutCancel(ctx) // an append in flight finishes on shutdown
	for {
		select {
		case <-ctx.Done():
			c.flush(actx, slots, &wg)
			return
		case <-c.kick:
		}
		c.gather()
		if c.linger > 0 {
			t := time.NewTimer(c.linger)
			select {
			case <-t.C:
			case <-c.full:
			case <-ctx.Done():
			}
			t.Stop()
		}
		c.flush(actx, slots, &wg)
	}
}

// maxYields bounds how often gather yields for one group.
const maxYields = 64

// gather lets the goroutines that are ready to submit join the open group:
// it yields while the group grows, up to maxYields times or until the
// group holds maxSamples.
func (c *committer) gather() {
	for range maxYields {
		n := c.pending.Load()
		if c.samples.Load() >= int64(c.maxSamples) {
			return
		}
		runtime.Gosched()
		if c.pending.Load() == n {
			return
		}
	}
}

// flush appends the open group once an append slot is free.
func (c *committer) flush(ctx context.Context, slots chan struct{}, wg *sync.WaitGroup) {
	slots <- struct{}{}
	c.mu.Lock()
	g := c.cur
	if g.b.Len() == 0 {
		c.mu.Unlock()
		<-slots
		return
	}
	c.cur = newGroup()
	c.pending.Store(0)
	c.samples.Store(0)
	c.mu.Unlock()
	wg.Add(1)
	go func() {
		defer wg.Done()
		g.res, g.err = c.app.Append(ctx, &g.b)
		slices.SortFunc(g.res.Rejected, func(a, b series.Rejection) int { return a.Index - b.Index })
		<-slots
		close(g.done)
		g.release()
	}()
}
