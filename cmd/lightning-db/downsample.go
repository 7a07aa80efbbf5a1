package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lightningdb/lightningdb/downsample"
	"github.com/lightningdb/lightningdb/engine"
	"github.com/lightningdb/lightningdb/query"
	"github.com/lightningdb/lightningdb/retention"
	"github.com/lightningdb/lightningdb/series"
)

// rollupDir is where the tiers live under the data directory: one engine
// per interval (rollup/5m, rollup/1h) and the builder's state file.
const rollupDir = "rollup"

// downsampleSetup is the tiers' engines and the builder running over them
// (docs/downsampling.md).
type downsampleSetup struct {
	rules   *downsample.Rules
	tiers   map[time.Duration]*engine.DB
	builder *downsample.Builder
	cancel  context.CancelFunc
	done    sync.WaitGroup
}

// setupDownsample opens a tier engine per interval of the rules (options
// as the raw engine's, with each tier's retention per rule) and starts the
// builder; nil when there is no rule.
func (s *server) setupDownsample(eo engine.Options, reg prometheus.Registerer) (*downsampleSetup, error) {
	rules, err := s.cfg.Downsample.Compile()
	if err != nil || len(rules.Rules) == 0 {
		return nil, err
	}
	ds := &downsampleSetup{rules: rules, tiers: map[time.Duration]*engine.DB{}}
	root := filepath.Join(s.cfg.DataDir, rollupDir)
	apps := map[time.Duration]downsample.Appender{}
	for _, d := range rules.Intervals() {
		db, err := s.openTier(eo, reg, root, rules, d)
		if err != nil {
			return nil, errors.Join(err, ds.close())
		}
		ds.tiers[d], apps[d] = db, db
	}
	records := prometheus.NewCounter(prometheus.CounterOpts{Name: "rollup_records_total",
		Help: "Rollup records (one series' interval) written by the downsample builder."})
	ds.builder, err = downsample.NewBuilder(rules, query.RollupSource(s.db), apps, downsample.BuilderOptions{
		Dir: root, FS: eo.FS, Chunk: s.cfg.Downsample.BuildStep, Logger: s.log.With("component", "downsample"),
		OnStep: func(n int64) { records.Add(float64(n)) }})
	if err != nil {
		return nil, errors.Join(err, ds.close())
	}
	reg.MustRegister(records)
	ds.start(s, reg)
	return ds, nil
}

// openTier opens the engine of the tier of interval d.
func (s *server) openTier(eo engine.Options, reg prometheus.Registerer, root string, rules *downsample.Rules, d time.Duration) (*engine.DB, error) {
	name := downsample.TierName(d)
	dir := filepath.Join(root, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("rollup tier %s: %w", name, err)
	}
	labels := &lazyLabels{}
	eo.RetentionPolicy = retention.NewPolicy(rules.RetentionRules(d), s.cfg.Influx.DBLabel, labels)
	eo.MaxNewSeriesPerRequest, eo.MaxNewSeriesPerMinute = -1, -1 // the raw engine admitted them
	eo.PartitionDuration = int64(downsample.PartitionDuration(d, rules.MinRetention(d)))
	eo.Logger = s.log.With("component", "rollup", "tier", name)
	eo.Registerer = prometheus.WrapRegistererWithPrefix("rollup_"+name+"_", reg)
	db, err := engine.Open(dir, eo)
	if err != nil {
		return nil, fmt.Errorf("open rollup tier %s: %w", name, err)
	}
	labels.db.Store(db)
	return db, nil
}

// start runs the builder every check interval until close, counting its
// runs.
func (ds *downsampleSetup) start(s *server, reg prometheus.Registerer) {
	runs := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rollup_builds_total",
		Help: "Downsample builder runs, by result (ok, error)."}, []string{"result"})
	reg.MustRegister(runs)
	for d := range ds.tiers {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "rollup_built_through_seconds",
			Help:        "Time through which every rule's tier of this interval is built (Unix seconds; 0: not yet).",
			ConstLabels: prometheus.Labels{"tier": downsample.TierName(d)}}, func() float64 {
			ms := ds.builder.BuiltThrough(d)
			if ms < 0 {
				return 0
			}
			return float64(ms) / 1e3
		}))
	}
	ctx, cancel := context.WithCancel(context.Background())
	ds.cancel = cancel
	every := s.cfg.Downsample.CheckInterval
	if every <= 0 {
		every = time.Minute
	}
	log := s.log.With("component", "downsample")
	ds.done.Add(1)
	go func() {
		defer ds.done.Done()
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			_, err := ds.builder.Build(ctx)
			switch {
			case err != nil && ctx.Err() == nil:
				runs.WithLabelValues("error").Inc()
				log.Error("rollup build failed", "err", err)
			case err == nil:
				runs.WithLabelValues("ok").Inc()
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
}

// rollups returns the tiers for the query optimizer.
func (ds *downsampleSetup) rollups() []query.RollupTier {
	if ds == nil {
		return nil
	}
	var out []query.RollupTier
	for d, db := range ds.tiers {
		out = append(out, query.RollupTier{Interval: d, Storage: db,
			BuiltThrough: func() int64 { return ds.builder.BuiltThrough(d) },
			Covers: func(canonical []byte) bool {
				ls, err := series.UnmarshalLabels(nil, canonical)
				if err != nil {
					return false
				}
				_, ok := ds.rules.TierOf(ls, d)
				return ok
			}})
	}
	return out
}

// close stops the builder (a build in progress is abandoned: the next
// start redoes it) and flushes and closes the tiers.
func (ds *downsampleSetup) close() error {
	if ds == nil {
		return nil
	}
	if ds.cancel != nil {
		ds.cancel()
		ds.done.Wait()
	}
	var errs []error
	for _, db := range ds.tiers {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		errs = append(errs, db.Flush(ctx), db.Close())
		cancel()
	}
	return errors.Join(errs...)
}
