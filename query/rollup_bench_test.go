package query

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/lightningdb/lightningdb/downsample"
	"github.com/lightningdb/lightningdb/engine"
	"github.com/lightningdb/lightningdb/series"
)

// BenchmarkRollup30d compares 30-day range queries at a 1 h step over
// 1,000 series (sum by, max by, rate) answered from raw data (with
// pushdown and block aggregates, today's optimizer) and from the 1h tier
// (docs/downsampling.md "Figures"). The data: 1,000 gauges and 1,000
// counters in 10 groups, 30 days scraped every LDB_ROLLUP_SCRAPE seconds
// (default 60), flushed and compacted, then rolled up into 5m and 1h
// tiers. It reports per query the samples decoded, the records read and
// an estimate of the bytes read (each engine's segment bytes per stored
// sample times what the query decoded), and logs the disk bytes of raw
// data and of each tier.
func BenchmarkRollup30d(b *testing.B) {
	scrape := int64(60)
	if v, err := strconv.Atoi(os.Getenv("LDB_ROLLUP_SCRAPE")); err == nil && v > 0 {
		scrape = int64(v)
	}
	const nSeries, days = 1000, 30
	t0 := int64(1_700_006_400) * 1e9
	raw, err := engine.Open(b.TempDir(), engine.Options{SyncMode: engine.SyncNone})
	if err != nil {
		b.Fatal(err)
	}
	defer raw.Close()
	loadStart := time.Now()
	if err := fillRollupBench(raw, t0, scrape, nSeries, days); err != nil {
		b.Fatal(err)
	}
	settle(b, raw)
	b.Logf("loaded %d series x %d days at %d s in %s", 2*nSeries, days, scrape, time.Since(loadStart).Round(time.Millisecond))

	cfg := downsample.Config{Rules: []downsample.RuleConfig{{Match: `{g=~".+"}`,
		Tiers: []downsample.TierConfig{{After: "1d", Interval: "5m"}, {After: "1d", Interval: "1h"}}}}}
	rules, err := cfg.Compile()
	if err != nil {
		b.Fatal(err)
	}
	s := &rollupSetup{raw: raw, tiers: map[time.Duration]*engine.DB{}, rules: rules}
	apps := map[time.Duration]downsample.Appender{}
	for _, d := range rules.Intervals() {
		db, err := engine.Open(b.TempDir(), engine.Options{SyncMode: engine.SyncNone, PartitionDuration: int64(downsample.PartitionDuration(d, 0))})
		if err != nil {
			b.Fatal(err)
		}
		defer db.Close()
		s.tiers[d], apps[d] = db, db
	}
	now := time.Unix(0, t0).Add((days + 1) * 24 * time.Hour)
	s.builder, err = downsample.NewBuilder(rules, RollupSource(raw), apps, downsample.BuilderOptions{
		Dir: b.TempDir(), Now: func() time.Time { return now }})
	if err != nil {
		b.Fatal(err)
	}
	buildStart := time.Now()
	recs, err := s.builder.Build(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("built %d records in %s", recs, time.Since(buildStart).Round(time.Millisecond))
	perSample := map[string]float64{"raw": bytesPerSample(b, raw, "raw")}
	for d, db := range s.tiers {
		settle(b, db)
		perSample[downsample.TierName(d)] = bytesPerSample(b, db, "tier "+downsample.TierName(d))
	}

	srvRaw := newTestAPI(b, raw, Options{})
	srvTier := newTestAPI(b, raw, Options{Rollups: s.rollups(raw)})
	start, end := t0+int64(time.Hour), t0+days*24*int64(time.Hour)
	for _, q := range []string{
		`sum by (g) (avg_over_time(gauge[1h]))`,
		`max by (g) (max_over_time(gauge[1h]))`,
		`sum by (g) (rate(req_total[1h]))`,
	} {
		for _, mode := range []string{"raw", "rollup"} {
			srv := srvRaw
			if mode == "rollup" {
				srv = srvTier
			}
			b.Run(q+"/"+mode, func(b *testing.B) {
				var tr *Trace
				cpu0 := cpuTime()
				for b.Loop() {
					tr = benchQuery(b, srv.URL, q, start, end)
				}
				// CPU time (user + system, the whole process) per query:
				// the work, whatever else shares the machine.
				b.ReportMetric(float64((cpuTime()-cpu0).Milliseconds())/float64(b.N), "cpu-ms/op")
				var dec, records, tierDec int64
				for _, st := range tr.Selects {
					dec += st.Samples
					records += st.RollupRecords
					tierDec += st.RollupSamples
				}
				b.ReportMetric(float64(dec), "samples/op")
				b.ReportMetric(float64(records), "records/op")
				b.ReportMetric(float64(tierDec), "tier-samples/op")
				est := float64(dec)*perSample["raw"] + float64(tierDec)*perSample["1h"]
				b.ReportMetric(est, "est-bytes-read/op")
			})
		}
	}
}

func benchQuery(b *testing.B, base, q string, start, end int64) *Trace {
	v := url.Values{"query": {q}, "start": {secs(start)}, "end": {secs(end)}, "step": {"3600"}, "explain": {"1"}}
	resp, err := http.Get(base + "/api/v1/query_range?" + v.Encode())
	if err != nil {
		b.Fatal(err)
	}
	r := decodeResponse(b, resp)
	if r.Status != "success" {
		b.Fatal(q, r.Error)
	}
	var d struct {
		Explain *Trace `json:"explain"`
	}
	if err := json.Unmarshal(r.Data, &d); err != nil {
		b.Fatal(err)
	}
	return d.Explain
}

// cpuTime returns the process' user and system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// settle flushes db and compacts it, so that queries read segments.
func settle(b *testing.B, db *engine.DB) {
	if err := db.Flush(context.Background()); err != nil {
		b.Fatal(err)
	}
	if err := db.Compact(context.Background()); err != nil {
		b.Fatal(err)
	}
}

// bytesPerSample logs db's segment bytes and returns them per sample.
func bytesPerSample(b *testing.B, db *engine.DB, what string) float64 {
	st := db.Stats()
	b.Logf("%s: %d segment bytes, %d samples flushed, %d series", what, st.SegmentBytes, st.FlushedSamples, st.Series)
	if st.FlushedSamples == 0 {
		return 0
	}
	return float64(st.SegmentBytes) / float64(st.FlushedSamples)
}

func fillRollupBench(db *engine.DB, t0, scrape int64, nSeries, days int) error {
	rng := rand.New(rand.NewPCG(9, 9))
	n := int64(days) * 86400 / scrape
	var batch series.Batch
	const chunk = 1440
	for lo := int64(0); lo < n; lo += chunk {
		for i := range nSeries {
			g := strconv.Itoa(i % 10)
			id := strconv.Itoa(i)
			batch.AddSeries(series.FromStrings("__name__", "gauge", "g", g, "s", id), series.TypeFloat)
			for k := lo; k < min(lo+chunk, n); k++ {
				batch.AppendFloat(t0+k*scrape*1e9, float64(rng.IntN(1000)))
			}
			batch.AddSeries(series.FromStrings("__name__", "req_total", "g", g, "s", id), series.TypeFloat)
			for k := lo; k < min(lo+chunk, n); k++ {
				batch.AppendFloat(t0+k*scrape*1e9, float64(k*int64(i%7+1)))
			}
			if batch.Samples() >= 200_000 {
				if _, err := db.Append(context.Background(), &batch); err != nil {
					return fmt.Errorf("load: %w", err)
				}
				batch.Reset()
			}
		}
	}
	if batch.Samples() > 0 {
		if _, err := db.Append(context.Background(), &batch); err != nil {
			return err
		}
	}
	return nil
}
