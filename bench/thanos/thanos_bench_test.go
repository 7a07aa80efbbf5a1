//go:build thanos

// Prometheus engine against the Thanos engine (github.com/thanos-io/promql-engine)
// over the same adapter, on the TSBS cpu-only data set of
// query_bench_test.go. Not part of the module's build: it needs
// prometheus v0.308.0 and the Thanos engine in go.mod, which
// bench/thanos/setup.sh arranges in a throwaway worktree (see
// bench/thanos/README.md). There:
//
//	go test -tags thanos -count 1 -run TestThanos -v ./query/
//	go test -tags thanos -run '^$' -bench 'ThanosTSBS$' -benchtime 20x -count 3 ./query/
//	go test -tags thanos -run '^$' -bench ThanosTSBSFlushed -benchtime 20x -count 3 ./query/

package query

import (
	"context"
	"flag"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/storage"
	thanos "github.com/thanos-io/promql-engine/engine"

	"github.com/lightningdb/lightningdb/engine"
)

// rangeEngine is what both engines offer.
type rangeEngine interface {
	NewRangeQuery(ctx context.Context, q storage.Queryable, opts promql.QueryOpts, qs string, start, end time.Time, step time.Duration) (promql.Query, error)
}

// thanosMode is one engine over one adapter configuration.
type thanosMode struct {
	name string
	ng   rangeEngine
	a    *Adapter
}

func thanosModes(tb testing.TB) []thanosMode {
	// tsbsDB takes a *testing.B; the test shares the same once-built DB.
	var db *engine.DB
	if b, ok := tb.(*testing.B); ok {
		db = tsbsDB(b)
	} else {
		testing.Benchmark(func(b *testing.B) { db = tsbsDB(b) })
		if db == nil {
			tb.Fatal("building the TSBS data set failed")
		}
	}
	return thanosModesOver(tb, db)
}

func thanosModesOver(tb testing.TB, db *engine.DB) []thanosMode {
	pd, err := NewAdapter(db, Options{})
	if err != nil {
		tb.Fatal(err)
	}
	nopd, err := NewAdapter(db, Options{DisablePushdown: true})
	if err != nil {
		tb.Fatal(err)
	}
	eo := promql.EngineOpts{MaxSamples: 50_000_000, Timeout: time.Minute, LookbackDelta: 5 * time.Minute}
	prom := promql.NewEngine(eo)
	// engine.New with its default logical optimizers (LogicalOptimizers nil).
	// DecodingConcurrency defaults to GOMAXPROCS/2 = 1 on this 2-core
	// machine; 2 uses both cores.
	th1 := thanos.New(thanos.Opts{EngineOpts: eo})
	th2 := thanos.New(thanos.Opts{EngineOpts: eo, DecodingConcurrency: 2})
	return []thanosMode{
		{"prom-pushdown", prom, pd},
		{"prom-nopushdown", prom, nopd},
		{"thanos2-pushdown", th2, pd},
		{"thanos2-nopushdown", th2, nopd},
		{"thanos1-pushdown", th1, pd},
		{"thanos1-nopushdown", th1, nopd},
	}
}

func tsbsEnd() time.Time {
	return time.Unix(0, tsbsStart+int64(tsbsN-1)*tsbsStep).Truncate(time.Minute)
}

// thanosShape is one range query of the comparison.
type thanosShape struct {
	name       string
	query      string
	start, end time.Time
	step       time.Duration
}

// thanosShapes are BenchmarkTSBS's shapes (tsbsQueries, the "by field"
// ones written as an or of per-field aggregations), then the two
// all-hosts shapes in the bench tool's form (bench/query.go:
// `avg by (hostname, field)` over the or of label_replace'd calls, which
// union pushdown answers as one select) over 12 whole hours, as
// BenchmarkTSBSCached.
func thanosShapes() []thanosShape {
	end := tsbsEnd()
	var out []thanosShape
	for _, q := range tsbsQueries {
		out = append(out, thanosShape{q.name, q.query, end.Add(-q.rng), end, q.step})
	}
	hEnd := time.Unix(0, tsbsStart+int64(tsbsN-1)*tsbsStep).Truncate(time.Hour)
	for _, u := range []struct {
		name   string
		fields []string
	}{{"double-groupby-5-union", tsbsFields[:5]}, {"double-groupby-all-union", tsbsFields}} {
		q := benchFormUnion("avg by (hostname, field)", "avg_over_time", u.fields, "", "1h")
		out = append(out, thanosShape{u.name, q, hEnd.Add(-11 * time.Hour), hEnd, time.Hour})
	}
	return out
}

// runMode runs one query through m (Prepare, as the API does) and returns
// the matrix sorted by labels, with the samples the adapter decoded.
func runMode(m thanosMode, q thanosShape) (promql.Matrix, int64, error) {
	tr := &Trace{}
	qa, rq := m.a.Prepare(tr, q.query, q.start, q.end, q.step)
	qry, err := m.ng.NewRangeQuery(context.Background(), qa, nil, rq, q.start, q.end, q.step)
	if err != nil {
		return nil, 0, err
	}
	defer qry.Close()
	res := qry.Exec(context.Background())
	if res.Err != nil {
		return nil, 0, res.Err
	}
	mat, err := res.Matrix()
	if err != nil {
		return nil, 0, err
	}
	// Copy out of the engine's pooled points before Close.
	out := make(promql.Matrix, len(mat))
	for i, s := range mat {
		out[i] = promql.Series{Metric: s.Metric, Floats: slices.Clone(s.Floats)}
	}
	slices.SortFunc(out, func(a, b promql.Series) int { return labels.Compare(a.Metric, b.Metric) })
	tr.Finish()
	return out, tr.Samples, nil
}

// sameMatrix reports the first difference beyond 1e-9 relative.
func sameMatrix(want, got promql.Matrix) error {
	if len(want) != len(got) {
		return fmt.Errorf("%d series, want %d", len(got), len(want))
	}
	for i := range want {
		w, g := want[i], got[i]
		if !labels.Equal(w.Metric, g.Metric) {
			return fmt.Errorf("series %d: labels %s, want %s", i, g.Metric, w.Metric)
		}
		if len(w.Floats) != len(g.Floats) || len(g.Histograms) != 0 {
			return fmt.Errorf("%s: %d points, want %d", w.Metric, len(g.Floats), len(w.Floats))
		}
		for j := range w.Floats {
			wp, gp := w.Floats[j], g.Floats[j]
			if wp.T != gp.T {
				return fmt.Errorf("%s point %d: t=%d, want %d", w.Metric, j, gp.T, wp.T)
			}
			if math.IsNaN(wp.F) && math.IsNaN(gp.F) || wp.F == gp.F {
				continue
			}
			if d := math.Abs(wp.F - gp.F); d > 1e-9*math.Max(math.Abs(wp.F), math.Abs(gp.F)) {
				return fmt.Errorf("%s at %d: %v, want %v (rel %.3g)", w.Metric, wp.T, gp.F, wp.F, d/math.Abs(wp.F))
			}
		}
	}
	return nil
}

// checkEqual runs every shape through every mode and compares with the
// Prometheus engine without pushdown (the reference path).
func checkEqual(tb testing.TB, modes []thanosMode) {
	for _, q := range thanosShapes() {
		want, _, err := runMode(modes[1], q)
		if err != nil {
			tb.Fatalf("%s/%s: %v", q.name, modes[1].name, err)
		}
		if len(want) == 0 {
			tb.Fatalf("%s: empty result", q.name)
		}
		for _, m := range modes {
			got, _, err := runMode(m, q)
			if err != nil {
				tb.Fatalf("%s/%s: %v", q.name, m.name, err)
			}
			if err := sameMatrix(want, got); err != nil {
				tb.Fatalf("%s/%s differs from %s: %v", q.name, m.name, modes[1].name, err)
			}
		}
	}
}

// TestThanosEqual: both engines, with and without pushdown, give the same
// results within 1e-9 relative on every shape.
func TestThanosEqual(t *testing.T) {
	checkEqual(t, thanosModes(t))
}

// -thanos.check=false skips the equality check before the benchmark (for
// clean profiles of one mode).
var thanosCheck = flag.Bool("thanos.check", true, "check that every mode agrees before benchmarking")

// BenchmarkThanosTSBS runs each TSBS shape through every mode, side by
// side in one run, after checking that all modes agree.
func BenchmarkThanosTSBS(b *testing.B) {
	benchThanos(b, thanosModes(b))
}

// BenchmarkThanosTSBSFlushed is the same over the data flushed and
// compacted into a segment: pushdown's window cache then holds every
// window after the first run (the modes with pushdown share one adapter),
// so the pushdown modes measure the engines' own evaluation, as a
// server's repeated dashboard queries do (docs/query.md, window cache).
func BenchmarkThanosTSBSFlushed(b *testing.B) {
	db, err := engine.Open(b.TempDir(), engine.Options{SyncMode: engine.SyncNone})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	if err := fillTSBS(db); err != nil {
		b.Fatal(err)
	}
	if err := db.Flush(context.Background()); err != nil {
		b.Fatal(err)
	}
	if err := db.Compact(context.Background()); err != nil {
		b.Fatal(err)
	}
	benchThanos(b, thanosModesOver(b, db))
}

func benchThanos(b *testing.B, modes []thanosMode) {
	if *thanosCheck {
		checkEqual(b, modes)
	}
	for _, q := range thanosShapes() {
		for _, m := range modes {
			b.Run(q.name+"/"+m.name, func(b *testing.B) {
				b.ReportAllocs()
				var samples int64
				for b.Loop() {
					// As BenchmarkTSBS: Prepare, run, Close; no copy.
					tr := &Trace{}
					qa, rq := m.a.Prepare(tr, q.query, q.start, q.end, q.step)
					qry, err := m.ng.NewRangeQuery(context.Background(), qa, nil, rq, q.start, q.end, q.step)
					if err != nil {
						b.Fatal(err)
					}
					res := qry.Exec(context.Background())
					if res.Err != nil {
						b.Fatal(res.Err)
					}
					if mat, _ := res.Matrix(); len(mat) == 0 {
						b.Fatal("empty result")
					}
					qry.Close()
					tr.Finish()
					samples = tr.Samples
				}
				b.ReportMetric(float64(samples), "samples/op")
			})
		}
	}
}

// TestThanosCompareWithPrometheus is TestCompareWithPrometheus with the
// Thanos engine behind the API: the same 59 range queries against
// Prometheus 2.42, with pushdown on and with the optimizer off.
func TestThanosCompareWithPrometheus(t *testing.T) {
	base := time.Now().Add(-4 * time.Hour).Truncate(time.Hour)
	data := compareData(base)
	promURL := startPrometheus(t, data)

	db := openDB(t, 24*hour)
	load(t, db, data)
	ours := newThanosTestAPI(t, db, Options{})
	baseline := newThanosTestAPI(t, db, Options{DisableOptimizer: true})

	start := base.Add(time.Hour + 20*time.Second)
	end := base.Add(2*time.Hour + 50*time.Minute + 20*time.Second)
	at := strconv.FormatInt(base.Add(2*time.Hour+20*time.Second).Unix(), 10)
	for _, q := range compareQueries {
		q = strings.ReplaceAll(q, "%AT%", at)
		params := url.Values{"query": {q}, "start": {strconv.FormatInt(start.Unix(), 10)},
			"end": {strconv.FormatInt(end.Unix(), 10)}, "step": {"60"}}
		want := queryMatrix(t, promURL, params)
		t.Run(q, func(t *testing.T) {
			requireSameMatrix(t, q, want, queryMatrix(t, ours.URL, params))
			requireSameMatrix(t, q+" (optimizer off)", want, queryMatrix(t, baseline.URL, params))
		})
	}
}

func newThanosTestAPI(t testing.TB, db *engine.DB, opts Options) *httptest.Server {
	t.Helper()
	a, err := NewAdapter(db, opts)
	if err != nil {
		t.Fatal(err)
	}
	api := NewAPI(a, APIOptions{})
	o := a.Options()
	api.ng = thanos.New(thanos.Opts{EngineOpts: promql.EngineOpts{
		MaxSamples:               o.MaxSamplesInMemory,
		Timeout:                  o.Timeout,
		LookbackDelta:            o.LookbackDelta,
		EnableAtModifier:         true,
		EnableNegativeOffset:     true,
		NoStepSubqueryIntervalFn: func(int64) int64 { return time.Minute.Milliseconds() },
	}, DecodingConcurrency: 2})
	mux := http.NewServeMux()
	api.Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}
