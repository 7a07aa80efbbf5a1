package query

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/prometheus/promql"

	"github.com/lightningdb/lightningdb/engine"
	"github.com/lightningdb/lightningdb/series"
)

// The TSBS cpu-only data set: 100 hosts with the TSBS host tags, 10 cpu
// fields as series cpu_<field> (our line protocol mapping), 24 h at 10 s:
// 1,000 series, 8.64 M samples. Built once per benchmark run.
var tsbsFields = []string{"usage_user", "usage_system", "usage_idle", "usage_nice", "usage_iowait",
	"usage_irq", "usage_softirq", "usage_steal", "usage_guest", "usage_guest_nice"}

const (
	tsbsHosts = 100
	tsbsStart = int64(1_700_006_400) * 1e9 // 00:00 UTC
	tsbsStep  = 10 * int64(time.Second)
	tsbsN     = 24 * 360
)

type tsbsEnv struct {
	db  *engine.DB
	dir string
	err error
}

var tsbs struct {
	once sync.Once
	env  tsbsEnv
}

func tsbsDB(b *testing.B) *engine.DB {
	tsbs.once.Do(func() {
		dir, err := os.MkdirTemp("", "ldb-query-bench") // lives for the run; TestMain removes it
		if err != nil {
			tsbs.env.err = err
			return
		}
		db, err := engine.Open(dir, engine.Options{SyncMode: engine.SyncNone})
		if err != nil {
			tsbs.env.err = err
			return
		}
		tsbs.env = tsbsEnv{db: db, dir: dir, err: fillTSBS(db)}
	})
	if tsbs.env.err != nil {
		b.Fatal(tsbs.env.err)
	}
	return tsbs.env.db
}

func fillTSBS(db *engine.DB) error { return fillTSBSTyped(db, series.TypeFloat) }

// fillTSBSTyped loads the TSBS data set as floats, or as integers (TSBS's
// own line protocol writes integer fields: a random walk by -1, 0 or +1
// within [0, 100]).
func fillTSBSTyped(db *engine.DB, typ series.ValueType) error {
	rng := rand.New(rand.NewPCG(7, 7))
	type host struct{ labels []series.Labels }
	hosts := make([]host, tsbsHosts)
	vals := make([]float64, tsbsHosts*len(tsbsFields))
	for h := range hosts {
		tags := []string{"hostname", fmt.Sprintf("host_%d", h), "region", fmt.Sprintf("region_%d", h%9),
			"datacenter", fmt.Sprintf("dc_%d", h%27), "rack", fmt.Sprint(h % 100), "os", fmt.Sprintf("Ubuntu%d", 15+h%3),
			"arch", []string{"x64", "x86"}[h%2], "team", fmt.Sprintf("team_%d", h%4), "service", fmt.Sprint(h % 20),
			"service_version", fmt.Sprint(h % 2), "service_environment", []string{"production", "staging", "test"}[h%3]}
		for _, f := range tsbsFields {
			hosts[h].labels = append(hosts[h].labels, series.FromStrings(append([]string{"__name__", "cpu_" + f}, tags...)...))
		}
	}
	for i := range vals {
		vals[i] = rng.Float64() * 100
		if typ == series.TypeInt {
			vals[i] = float64(rng.IntN(101))
		}
	}
	var batch series.Batch
	const chunk = 60 // samples per series per batch: 10 minutes
	for start := 0; start < tsbsN; start += chunk {
		batch.Reset()
		k := 0
		for h := range hosts {
			for _, ls := range hosts[h].labels {
				batch.AddSeries(ls, typ)
				for i := start; i < min(start+chunk, tsbsN); i++ {
					t := tsbsStart + int64(i)*tsbsStep
					if typ == series.TypeInt {
						v := min(max(vals[k]+float64(rng.IntN(3)-1), 0), 100)
						vals[k] = v
						batch.AppendInt(t, int64(v))
						continue
					}
					v := vals[k] + rng.Float64()*2 - 1
					v = min(max(v, 0), 100)
					vals[k] = v
					batch.AppendFloat(t, v)
				}
				k++
			}
		}
		if _, err := db.Append(context.Background(), &batch); err != nil {
			return fmt.Errorf("append: %w", err)
		}
	}
	return nil
}

func hostsRegex(n int) string {
	hs := make([]string, n)
	for i := range hs {
		hs[i] = fmt.Sprintf("host_%d", i+1)
	}
	return strings.Join(hs, "|")
}

// perField joins one expression per field (format verb: the metric name),
// each labelled field=<field>: PromQL drops __name__ in _over_time, so
// "by field" needs the label (MetricsQL keeps the name instead).
func perField(fields []string, format string) string {
	parts := make([]string, len(fields))
	for i, f := range fields {
		parts[i] = fmt.Sprintf(`label_replace(%s, "field", %q, "", "")`, fmt.Sprintf(format, "cpu_"+f), f)
	}
	return strings.Join(parts, " or ")
}

// tsbsQueries are the TSBS query shapes in PromQL, each a range query
// ending at the end of the data.
var tsbsQueries = []struct {
	name  string
	query string
	rng   time.Duration
	step  time.Duration
}{
	{"single-groupby-1-1-1", `max(max_over_time(cpu_usage_user{hostname="host_1"}[1m]))`, time.Hour, time.Minute},
	{"single-groupby-1-1-12", `max(max_over_time(cpu_usage_user{hostname="host_1"}[1m]))`, 12 * time.Hour, time.Minute},
	{"single-groupby-1-8-1", `max(max_over_time(cpu_usage_user{hostname=~"` + hostsRegex(8) + `"}[1m]))`, time.Hour, time.Minute},
	{"single-groupby-5-1-1", perField(tsbsFields[:5], `max by (hostname) (max_over_time(%s{hostname="host_1"}[1m]))`), time.Hour, time.Minute},
	{"double-groupby-5", perField(tsbsFields[:5], `avg by (hostname) (avg_over_time(%s[1h]))`), 12 * time.Hour, time.Hour},
	{"double-groupby-all", perField(tsbsFields, `avg by (hostname) (avg_over_time(%s[1h]))`), 12 * time.Hour, time.Hour},
}

// BenchmarkTSBS runs each query shape through the Prometheus engine over
// the adapter (Prepare, as the API does), with the optimizer on, on
// without pushdown, and off.
//
//	go test -run '^$' -bench TSBS -benchtime 20x ./query/
func BenchmarkTSBS(b *testing.B) {
	db := tsbsDB(b)
	end := time.Unix(0, tsbsStart+int64(tsbsN-1)*tsbsStep).Truncate(time.Minute)
	for _, mode := range []struct {
		name string
		opts Options
	}{{"optimizer", Options{}}, {"no-pushdown", Options{DisablePushdown: true}}, {"baseline", Options{DisableOptimizer: true}}} {
		a, err := NewAdapter(db, mode.opts)
		if err != nil {
			b.Fatal(err)
		}
		ng := promql.NewEngine(promql.EngineOpts{MaxSamples: 50_000_000, Timeout: time.Minute, LookbackDelta: 5 * time.Minute})
		for _, q := range tsbsQueries {
			b.Run(q.name+"/"+mode.name, func(b *testing.B) {
				b.ReportAllocs()
				var samples int64
				for b.Loop() {
					tr := &Trace{}
					qa, qs := a.Prepare(tr, q.query, end.Add(-q.rng), end, q.step)
					qry, err := ng.NewRangeQuery(context.Background(), qa, nil, qs, end.Add(-q.rng), end, q.step)
					if err != nil {
						b.Fatal(err)
					}
					res := qry.Exec(context.Background())
					if res.Err != nil {
						b.Fatal(res.Err)
					}
					if m, _ := res.Matrix(); len(m) == 0 {
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

// benchFormUnion is the bench tool's form of a per-field shape
// (bench/query.go): one aggregation over the union of the label_replace'd
// fields, which union pushdown evaluates as one select.
func benchFormUnion(agg, fn string, fields []string, sel, rng string) string {
	parts := make([]string, len(fields))
	for i, f := range fields {
		parts[i] = fmt.Sprintf(`label_replace(%s(cpu_%s%s[%s]), "field", %q, "", "")`, fn, f, sel, rng, f)
	}
	return agg + " (" + strings.Join(parts, " or ") + ")"
}

// BenchmarkTSBSCached runs the bench tool's forms of the TSBS shapes
// (bench/query.go) over flushed data with the window cache warm, as the
// server answers a repeated dashboard query: with union pushdown and
// without it (PrepareNoUnion), side by side; and "cold", with union
// pushdown and no window cache (every window computed from the segments,
// as on a first query).
//
//	go test -run '^$' -bench TSBSCached -benchtime 50x ./query/
func BenchmarkTSBSCached(b *testing.B) {
	db, err := engine.Open(b.TempDir(), engine.Options{SyncMode: engine.SyncNone})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	if err := fillTSBS(db); err != nil {
		b.Fatal(err)
	}
	if err := db.Flush(context.Background()); err != nil {
		b.Fatal(err)
	}
	end := time.Unix(0, tsbsStart+int64(tsbsN-1)*tsbsStep).Truncate(time.Hour)
	host1 := `{hostname="host_1"}`
	shapes := []struct {
		name      string
		query     string
		rng, step time.Duration // the query's range (first to last evaluation) and step
	}{
		{"single-groupby-1-1-1", `max_over_time(cpu_usage_user` + host1 + `[1m])`, time.Hour - time.Minute, time.Minute},
		{"single-groupby-1-1-12", `max_over_time(cpu_usage_user` + host1 + `[1m])`, 12*time.Hour - time.Minute, time.Minute},
		{"single-groupby-1-8-1", `max(max_over_time(cpu_usage_user{hostname=~"` + hostsRegex(8) + `"}[1m]))`, time.Hour - time.Minute, time.Minute},
		{"single-groupby-5-1-1", benchFormUnion("max by (hostname)", "max_over_time", tsbsFields[:5], host1, "1m"), time.Hour - time.Minute, time.Minute},
		{"double-groupby-5", benchFormUnion("avg by (hostname, field)", "avg_over_time", tsbsFields[:5], "", "1h"), 11 * time.Hour, time.Hour},
		{"double-groupby-all", benchFormUnion("avg by (hostname, field)", "avg_over_time", tsbsFields, "", "1h"), 11 * time.Hour, time.Hour},
	}
	a, err := NewAdapter(db, Options{})
	if err != nil {
		b.Fatal(err)
	}
	cold, err := NewAdapter(db, Options{WindowCacheEntries: -1})
	if err != nil {
		b.Fatal(err)
	}
	ng := promql.NewEngine(promql.EngineOpts{MaxSamples: 50_000_000, Timeout: time.Minute, LookbackDelta: 5 * time.Minute})
	for _, s := range shapes {
		for _, mode := range []struct {
			name    string
			prepare prepareFunc
		}{{"union", a.Prepare}, {"no-union", a.PrepareNoUnion}, {"cold", cold.Prepare}} {
			b.Run(s.name+"/"+mode.name, func(b *testing.B) {
				b.ReportAllocs()
				start := end.Add(-s.rng)
				run := func() {
					qa, qs := mode.prepare(&Trace{}, s.query, start, end, s.step)
					qry, err := ng.NewRangeQuery(context.Background(), qa, nil, qs, start, end, s.step)
					if err != nil {
						b.Fatal(err)
					}
					res := qry.Exec(context.Background())
					if res.Err != nil {
						b.Fatal(res.Err)
					}
					if m, _ := res.Matrix(); len(m) == 0 {
						b.Fatal("empty result")
					}
					qry.Close()
				}
				run() // warm the window cache
				for b.Loop() {
					run()
				}
			})
		}
	}
}
