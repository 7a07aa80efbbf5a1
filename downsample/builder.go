package downsample

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"path/filepath"
	"sync"
	"time"

	"github.com/lightningdb/lightningdb/engine"
	"github.com/lightningdb/lightningdb/series"
)

// Source is the raw data a Builder reads (the query package adapts the
// engine to it).
type Source interface {
	// MinTime returns the earliest timestamp (ns) raw data may have, or
	// false when there is none.
	MinTime() (int64, bool)
	// Scan calls fn for every numeric series with samples in [minT, maxT]
	// (ns), with its canonical labels and its samples as PromQL sees them
	// (ms, ascending, unique; floats; no staleness marker). The slices are
	// reused after fn returns. It returns ErrNotSealed, before calling fn,
	// when some of those samples are not final (in a memtable).
	Scan(ctx context.Context, minT, maxT int64, fn func(canonical []byte, ts []int64, vs []float64) error) error
}

// Appender writes to a tier; the append returns once the samples are
// durable (*engine.DB).
type Appender interface {
	Append(ctx context.Context, b *series.Batch) (series.AppendResult, error)
}

// BuilderOptions configure a Builder; zero means the default.
type BuilderOptions struct {
	// Dir holds the state file (rollup.state); it must exist.
	Dir string
	// FS is the file system the state file is read and written through:
	// the engine's seam, so that the power-cut tests cover it. Nil means
	// engine.OSFS.
	FS engine.FS
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Chunk is the most time one build step covers (a step's intervals
	// are appended in batches, then the state is saved). Zero means 24h.
	Chunk time.Duration
	// BatchSamples bounds the samples of one append; zero means 64 Ki.
	BatchSamples int
	// Logger receives a line per build step; nil discards them.
	Logger *slog.Logger
	// OnStep, when set, is called after each saved build step with the
	// records it wrote (metrics).
	OnStep func(records int64)
}

// Builder builds the tiers of the rules. Build is called by one goroutine
// at a time; BuiltThrough is safe for concurrent use.
type Builder struct {
	rules *Rules
	src   Source
	tiers map[time.Duration]Appender
	opts  BuilderOptions

	mu    sync.Mutex       // protects state
	state map[string]int64 // stateKey -> ms: intervals ending at or before are built

	// stepMu is held by each build chunk, from its read of the raw data
	// to its last append, and by Pause.
	stepMu sync.Mutex
}

// Pause waits for the build chunk in progress, if any, and keeps the next
// from starting until resume is called. A deletion holds it while it
// deletes from the tiers and then from the raw data, so that no chunk
// reads the raw samples before the deletion and appends their records
// after it.
func (b *Builder) Pause() (resume func()) {
	b.stepMu.Lock()
	return b.stepMu.Unlock
}

// stateFile is the builder's progress, written atomically.
const stateFile = "rollup.state"

// NewBuilder returns a builder over src writing tiers (one Appender per
// interval of the rules), with the progress saved in opts.Dir.
func NewBuilder(rules *Rules, src Source, tiers map[time.Duration]Appender, opts BuilderOptions) (*Builder, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Chunk <= 0 {
		opts.Chunk = 24 * time.Hour
	}
	if opts.BatchSamples <= 0 {
		opts.BatchSamples = 64 << 10
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.FS == nil {
		opts.FS = engine.OSFS{}
	}
	for _, d := range rules.Intervals() {
		if tiers[d] == nil {
			return nil, fmt.Errorf("%w: no store for the %s tier", ErrInvalidConfig, TierName(d))
		}
	}
	b := &Builder{rules: rules, src: src, tiers: tiers, opts: opts, state: map[string]int64{}}
	data, err := opts.FS.ReadFile(filepath.Join(opts.Dir, stateFile))
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("read rollup state: %w", err)
	default:
		if err := json.Unmarshal(data, &b.state); err != nil {
			return nil, fmt.Errorf("read rollup state %s: %w", filepath.Join(opts.Dir, stateFile), err)
		}
	}
	return b, nil
}

func stateKey(r *Rule, t Tier) string { return r.Match + "|" + TierName(t.Interval) }

// BuiltThrough returns the time (ms) up to which the tier of interval d
// is built for every rule that has it: every interval ending at or before
// it. It is math.MinInt64 when some rule's tier is not built at all.
func (b *Builder) BuiltThrough(d time.Duration) int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	w, any := int64(math.MaxInt64), false
	for i := range b.rules.Rules {
		r := &b.rules.Rules[i]
		for _, t := range r.Tiers {
			if t.Interval != d {
				continue
			}
			v, ok := b.state[stateKey(r, t)]
			if !ok {
				return math.MinInt64
			}
			w, any = min(w, v), true
		}
	}
	if !any {
		return math.MinInt64
	}
	return w
}

// Build builds every rule's tiers up to the intervals that ended After
// ago, one chunk at a time, saving the progress after each. It returns
// the number of records written.
func (b *Builder) Build(ctx context.Context) (int64, error) {
	var total int64
	for i := range b.rules.Rules {
		for _, t := range b.rules.Rules[i].Tiers {
			n, err := b.buildTier(ctx, i, t)
			total += n
			if err != nil {
				return total, err
			}
		}
	}
	return total, nil
}

func (b *Builder) buildTier(ctx context.Context, ri int, t Tier) (int64, error) {
	r := &b.rules.Rules[ri]
	iv := t.Interval.Milliseconds()
	target := series.FloorDiv(b.opts.Now().Add(-t.After).UnixMilli(), iv) * iv
	key := stateKey(r, t)
	b.mu.Lock()
	done, ok := b.state[key]
	b.mu.Unlock()
	if !ok {
		minT, has := b.src.MinTime()
		if !has {
			return 0, nil
		}
		done = series.FloorDiv(series.FloorDiv(minT, 1e6)-1, iv) * iv // before the first sample's interval
	}
	chunk := max(iv, b.opts.Chunk.Milliseconds()/iv*iv)
	var total int64
	for done < target {
		hi := min(done+chunk, target)
		n, err := b.buildChunk(ctx, ri, t, done, hi)
		total += n
		if errors.Is(err, ErrNotSealed) {
			b.opts.Logger.Debug("rollup waits for a flush", "rule", r.Match, "tier", TierName(t.Interval),
				"from", time.UnixMilli(done).UTC())
			return total, nil // built from segments only: again after the flush
		}
		if err != nil {
			return total, fmt.Errorf("build the %s tier of %s over (%d, %d] ms: %w", TierName(t.Interval), r.Match, done, hi, err)
		}
		if err := b.save(key, hi); err != nil {
			return total, err
		}
		if b.opts.OnStep != nil {
			b.opts.OnStep(n)
		}
		b.opts.Logger.Info("rollup built", "rule", r.Match, "tier", TierName(t.Interval),
			"from", time.UnixMilli(done).UTC(), "to", time.UnixMilli(hi).UTC(), "records", n)
		done = hi
	}
	return total, nil
}

// buildChunk writes the records of the intervals ending in (lo, hi] ms
// of the series rule ri governs.
func (b *Builder) buildChunk(ctx context.Context, ri int, t Tier, lo, hi int64) (int64, error) {
	b.stepMu.Lock()
	defer b.stepMu.Unlock()
	iv := t.Interval.Milliseconds()
	app := b.tiers[t.Interval]
	var batch series.Batch
	var recs []Record
	var ls series.Labels
	var n int64
	flush := func() error {
		if batch.Len() == 0 {
			return nil
		}
		res, err := app.Append(ctx, &batch)
		if err == nil && len(res.Rejected) > 0 {
			err = fmt.Errorf("%d rollup series rejected, the first: %v", len(res.Rejected), res.Rejected[0])
		}
		batch.Reset()
		return err
	}
	err := b.src.Scan(ctx, lo*1e6+1e6, hi*1e6+999_999, func(canonical []byte, ts []int64, vs []float64) error {
		var err error
		if ls, err = series.UnmarshalLabels(ls[:0], canonical); err != nil {
			return err
		}
		if b.rules.Match(ls) != ri {
			return nil
		}
		recs = Aggregate(recs[:0], ts, vs, iv)
		n += int64(len(recs))
		AppendBatch(&batch, canonical, recs, iv)
		if batch.Samples() >= b.opts.BatchSamples {
			return flush()
		}
		return nil
	})
	if err != nil {
		return n, err
	}
	return n, flush()
}

// save records that key is built through ms, atomically.
func (b *Builder) save(key string, ms int64) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	next := make(map[string]int64, len(b.state)+1)
	for k, v := range b.state {
		next[k] = v
	}
	next[key] = ms
	data, err := json.Marshal(next)
	if err != nil {
		return err
	}
	if err := engine.WriteFileAtomic(b.opts.FS, filepath.Join(b.opts.Dir, stateFile), data); err != nil {
		return fmt.Errorf("save rollup state: %w", err)
	}
	b.state = next
	return nil
}

// Run builds every interval until ctx ends: at once, then every
// interval; a failed build is logged and tried again at the next tick.
func (b *Builder) Run(ctx context.Context, every time.Duration) {
	if every <= 0 {
		every = time.Minute
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		if _, err := b.Build(ctx); err != nil && ctx.Err() == nil {
			b.opts.Logger.Error("rollup build failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
