// Package forward sends everything a Lightning DB stores to a central
// server, read from its WAL in order behind a durable cursor
// (docs/forwarding.md).
package forward

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lightningdb/lightningdb/engine"
	"github.com/lightningdb/lightningdb/series"
)

// WAL is what the forwarder reads: the engine satisfies it.
type WAL interface {
	ReadWAL(pos engine.WALPosition, maxBytes int, fn func(*engine.WALSamples) error) (engine.WALPosition, error)
	WALSegments() ([]engine.WALSegment, error)
}

// Options configures a Forwarder.
type Options struct {
	// FS holds the cursor file; nil means engine.OSFS.
	FS engine.FS
	// CursorPath is the cursor file (DataDir/forward.cursor).
	CursorPath string
	// BatchSamples is the samples per request, about. Default 20,000.
	BatchSamples int
	// MaxWALBytes bounds the WAL held for the forwarder: past it the
	// oldest segments are given up (logged, counted in
	// forward_dropped_bytes_total), so an uplink down for weeks cannot
	// fill the disk. Default 10 GiB.
	MaxWALBytes int64
	// PollInterval is how often a forwarder that has caught up looks for
	// new records. Default 100 ms.
	PollInterval time.Duration
	// MinBackoff and MaxBackoff bound the wait between retries of a
	// failed batch (doubled each time, with jitter). Defaults 100 ms, 5 s.
	MinBackoff, MaxBackoff time.Duration

	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

func (o *Options) ensureDefaults() {
	if o.FS == nil {
		o.FS = engine.OSFS{}
	}
	if o.BatchSamples <= 0 {
		o.BatchSamples = 20000
	}
	if o.MaxWALBytes <= 0 {
		o.MaxWALBytes = 10 << 30
	}
	if o.PollInterval <= 0 {
		o.PollInterval = 100 * time.Millisecond
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = 100 * time.Millisecond
	}
	if o.MaxBackoff < o.MinBackoff {
		o.MaxBackoff = max(5*time.Second, o.MinBackoff)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Forwarder reads the WAL from its cursor and sends it to a Sink, saving
// the cursor after each acknowledged batch.
type Forwarder struct {
	opts Options
	sink Sink
	m    *metrics

	// saved is the cursor as persisted: Retain's answer.
	saved atomic.Uint64
	pos   engine.WALPosition // the goroutine of Run owns it
	// caughtUp is the latest time before which everything written is
	// acknowledged (forward_lag_seconds is its age while there is more).
	caughtUp time.Time
	// bytesPerSample is the WAL bytes per sample last read, to size reads.
	bytesPerSample float64
	// lastDamage is the damage last logged in the active segment.
	lastDamage string
}

// New loads the cursor and makes a forwarder; call it before the engine
// opens and pass Retain as engine.Options.WALRetain, so that the WAL the
// cursor has not passed survives the open.
func New(sink Sink, opts Options) (*Forwarder, error) {
	opts.ensureDefaults()
	if opts.CursorPath == "" {
		return nil, errors.New("forward: no cursor path")
	}
	pos, err := LoadCursor(opts.FS, opts.CursorPath)
	if err != nil {
		return nil, err
	}
	f := &Forwarder{opts: opts, sink: sink, pos: pos, caughtUp: time.Now(), bytesPerSample: 4}
	f.saved.Store(max(pos.Seq, 1))
	f.m = newMetrics(opts.Registerer)
	return f, nil
}

// Retain is engine.Options.WALRetain: the first WAL segment the cursor has
// not passed.
func (f *Forwarder) Retain() uint64 { return f.saved.Load() }

// Run forwards until ctx ends.
func (f *Forwarder) Run(ctx context.Context, wal WAL) {
	f.opts.Logger.Info("forwarding", "cursor_segment", f.pos.Seq, "cursor_offset", f.pos.Offset)
	for ctx.Err() == nil {
		lag := f.bound(wal)
		readStart := time.Now()
		b, next, atEnd, err := f.read(wal)
		if err != nil {
			f.opts.Logger.Error("forward: read WAL", "err", err)
			if !sleep(ctx, time.Second) {
				return
			}
			continue
		}
		if next == f.pos {
			f.caughtUp = time.Now()
			f.m.lagSeconds.Set(0)
			f.m.lagBytes.Set(0) // sizes on disk of sealed segments exceed their plaintext
			if !sleep(ctx, f.opts.PollInterval) {
				return
			}
			continue
		}
		f.m.lagSeconds.Set(time.Since(f.caughtUp).Seconds())
		f.m.lagBytes.Set(float64(lag))
		if b.Samples > 0 && !f.send(ctx, wal, b) {
			continue // ctx ended, or the bound moved the cursor past the batch
		}
		f.advance(next)
		if atEnd { // everything written before readStart is acknowledged
			f.caughtUp = readStart
		}
	}
}

// read builds the next batch from the cursor and returns it with the
// position after it (the cursor when there is nothing new); atEnd says
// the read reached the end of the WAL.
func (f *Forwarder) read(wal WAL) (b *Batch, pos engine.WALPosition, atEnd bool, err error) {
	b = &Batch{}
	idx := map[series.ID]int{}
	pos = f.pos
	for b.Samples < f.opts.BatchSamples {
		// Read about what the batch still takes, at the bytes per sample
		// seen so far (records are read whole: a batch can pass
		// BatchSamples by one record).
		want := int(float64(f.opts.BatchSamples-b.Samples) * f.bytesPerSample)
		had := b.Samples
		next, err := wal.ReadWAL(pos, max(want, 4<<10), func(s *engine.WALSamples) error {
			f.add(b, idx, s)
			return nil
		})
		var ce *engine.CorruptionError
		switch {
		case errors.Is(err, engine.ErrWALGap):
			if pos.Seq != 0 { // 0: no cursor yet, start at the oldest segment
				f.opts.Logger.Error("forward: WAL segments lost before they were forwarded", "err", err)
				f.m.gaps.Inc()
			}
		case errors.As(err, &ce) && next == pos:
			// In the active segment: read again at each poll until it
			// rotates; logged once.
			if ce.Error() != f.lastDamage {
				f.lastDamage = ce.Error()
				f.opts.Logger.Error("forward: damaged WAL record in the active segment; forwarding resumes at the next segment", "err", err)
				f.m.gaps.Inc()
			}
		case errors.As(err, &ce):
			f.opts.Logger.Error("forward: damaged WAL record; the rest of its segment is not forwarded", "err", err)
			f.m.gaps.Inc()
		case err != nil:
			return nil, f.pos, false, err
		}
		if next == pos {
			return b, pos, true, nil
		}
		if n := b.Samples - had; n > 0 && next.Seq == pos.Seq {
			f.bytesPerSample = min(max(float64(next.Offset-pos.Offset)/float64(n), 0.5), 64)
		}
		pos = next
	}
	return b, pos, false, nil
}

// add appends the samples of s to b, converted to remote write floats.
func (f *Forwarder) add(b *Batch, idx map[series.ID]int, s *engine.WALSamples) {
	if s.Labels == nil {
		f.m.skipped.WithLabelValues("unknown_series").Add(float64(len(s.T)))
		return
	}
	if s.Type == series.TypeString {
		f.m.skipped.WithLabelValues("string").Add(float64(len(s.T)))
		return
	}
	i, ok := idx[s.ID]
	if !ok {
		i = len(b.Series)
		idx[s.ID] = i
		b.Series = append(b.Series, Series{Labels: append([]byte(nil), s.Labels...)})
	}
	ser := &b.Series[i]
	for j, t := range s.T {
		ser.T = append(ser.T, series.FloorDiv(t, 1e6))
		ser.V = append(ser.V, toFloat(s.Type, s.V[j]))
	}
	b.Samples += len(s.T)
}

func toFloat(typ series.ValueType, v uint64) float64 {
	switch typ {
	case series.TypeInt:
		return float64(int64(v))
	case series.TypeUint:
		return float64(v)
	case series.TypeBool:
		return float64(v)
	}
	return math.Float64frombits(v)
}

// send delivers b, retrying with exponential backoff and jitter until it
// is acknowledged or refused for good. It returns false when ctx ended or
// the WAL bound moved the cursor meanwhile (b is then given up).
func (f *Forwarder) send(ctx context.Context, wal WAL, b *Batch) bool {
	backoff := f.opts.MinBackoff
	start := f.pos
	for {
		err := f.sink.Send(ctx, b)
		if ctx.Err() != nil {
			return false
		}
		f.m.requests.WithLabelValues(statusCode(err)).Inc()
		switch {
		case err == nil:
			f.m.samples.Add(float64(b.Samples))
			return true
		case errors.Is(err, ErrRejected):
			f.opts.Logger.Error("forward: central server refused a batch; skipping it", "samples", b.Samples, "err", err)
			f.m.skipped.WithLabelValues("rejected").Add(float64(b.Samples))
			return true
		}
		f.m.retries.Inc()
		f.opts.Logger.Warn("forward: send failed; retrying", "samples", b.Samples, "backoff", backoff, "err", err)
		wait := backoff/2 + rand.N(backoff/2+1)
		if !sleep(ctx, wait) {
			return false
		}
		backoff = min(2*backoff, f.opts.MaxBackoff)
		f.m.lagBytes.Set(float64(f.bound(wal)))
		if f.pos != start {
			return false
		}
		f.m.lagSeconds.Set(time.Since(f.caughtUp).Seconds())
	}
}

// advance moves the cursor to pos and saves it. A failed save is logged
// and retried with the next batch: the central server dedupes what is
// sent again.
func (f *Forwarder) advance(pos engine.WALPosition) {
	f.pos = pos
	if err := SaveCursor(f.opts.FS, f.opts.CursorPath, pos); err != nil {
		f.opts.Logger.Error("forward: save cursor", "file", f.opts.CursorPath, "err", err)
		return
	}
	f.saved.Store(max(pos.Seq, 1))
	f.m.cursorSeq.Set(float64(pos.Seq))
}

// bound returns the WAL bytes not yet forwarded (sizes on disk: a sealed
// segment's exceed its plaintext a little) and, past MaxWALBytes, gives
// up the oldest segments: the cursor moves to the first segment from
// which the WAL fits in the bound (never past the newest), and the loss
// is logged and counted.
func (f *Forwarder) bound(wal WAL) int64 {
	segs, err := wal.WALSegments()
	if err != nil {
		f.opts.Logger.Warn("forward: list WAL", "err", err)
		return 0
	}
	lag := lagBytes(segs, f.pos)
	if lag <= f.opts.MaxWALBytes || len(segs) == 0 {
		return lag
	}
	pos := f.pos
	for i, s := range segs {
		if s.Seq < pos.Seq {
			continue
		}
		if lagBytes(segs[i:], engine.WALPosition{Seq: s.Seq}) <= f.opts.MaxWALBytes || i == len(segs)-1 {
			pos = engine.WALPosition{Seq: s.Seq}
			break
		}
	}
	if pos == f.pos {
		return lag
	}
	after := lagBytes(segs, pos)
	f.opts.Logger.Error("forward: WAL not forwarded passed forward.max_wal_bytes; dropping the oldest segments",
		"max_wal_bytes", f.opts.MaxWALBytes, "dropped_bytes", lag-after,
		"from", fmt.Sprintf("%d:%d", f.pos.Seq, f.pos.Offset), "to_segment", pos.Seq)
	f.m.dropped.Add(float64(lag - after))
	f.advance(pos)
	return after
}

// lagBytes is the WAL from pos to the end.
func lagBytes(segs []engine.WALSegment, pos engine.WALPosition) int64 {
	var n int64
	for _, s := range segs {
		switch {
		case s.Seq > pos.Seq:
			n += s.Size
		case s.Seq == pos.Seq:
			n += max(s.Size-max(pos.Offset, 8), 0)
		}
	}
	return n
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// CursorPath returns the cursor file of a data directory.
func CursorPath(dataDir string) string { return filepath.Join(dataDir, CursorFile) }
