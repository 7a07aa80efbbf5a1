package influxql

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/lightningdb/lightningdb/engine"
	"github.com/lightningdb/lightningdb/series"
)

// BenchmarkRollupGroupBy: a 30-day GROUP BY time(1h) mean, max and sum
// over 1,000 series, from the 1h tier's records (raw data present: the
// raw count is checked) and from raw block summaries (rollups disabled).
// The series are scraped every 5 minutes (8.6 M samples) to keep the
// set-up short; LIGHTNINGDB_BENCH_SCRAPE=60s loads a sample a minute.
func BenchmarkRollupGroupBy(b *testing.B) {
	scrape := 5 * time.Minute
	if v := os.Getenv("LIGHTNINGDB_BENCH_SCRAPE"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			b.Fatal(err)
		}
		scrape = d
	}
	const days = 30
	nSeries := 1000
	if v := os.Getenv("LIGHTNINGDB_BENCH_SERIES"); v != "" {
		nSeries, _ = strconv.Atoi(v)
	}
	raw, err := engine.Open(b.TempDir(), engine.Options{SyncMode: engine.SyncNone}) // day partitions
	if err != nil {
		b.Fatal(err)
	}
	defer raw.Close()
	start := rollT0.UnixNano()
	steps := int64(days * 24 * time.Hour / scrape)
	var batch series.Batch
	for s := 0; s < nSeries; s++ {
		batch.AddSeries(series.FromStrings("__name__", "cpu_usage", "db", "bench", "host", "h"+strconv.Itoa(s)), series.TypeFloat)
		for i := int64(0); i < steps; i++ {
			batch.AppendFloat(start+i*int64(scrape)+int64(s%60)*1e9, float64((i*7+int64(s)*13)%400)/4)
		}
		if batch.Samples() > 1<<20 || s == nSeries-1 {
			if _, err := raw.Append(context.Background(), &batch); err != nil {
				b.Fatal(err)
			}
			batch.Reset()
		}
	}
	now := rollT0.Add(days*24*time.Hour + time.Hour)
	tiers := buildTiers(b, raw, now, "1h")
	q := mustParse(b, fmt.Sprintf(`SELECT mean(value), max(value), sum(value) FROM cpu_usage WHERE time >= '%s' AND time < '%s' GROUP BY time(1h)`,
		rollT0.Format(time.RFC3339), rollT0.Add(days*24*time.Hour).Format(time.RFC3339)))
	for _, mode := range []string{"rollups", "raw-summaries"} {
		b.Run(mode, func(b *testing.B) {
			e := New(raw, Options{Rollups: tiers, DisableRollups: mode != "rollups", MaxPoints: 1e8, MaxSamples: 1e9, Now: func() time.Time { return now }})
			recs, dec, sums := e.RollupRecords(), e.SamplesDecoded(), e.SummaryBlocks()
			b.ResetTimer()
			for range b.N {
				if res := e.Execute(context.Background(), q, Params{DB: "bench"}); res.Err != nil || len(res.Series) != 1 || len(res.Series[0].Values) != days*24 {
					b.Fatalf("%v %d", res.Err, len(res.Series))
				}
			}
			b.ReportMetric(float64(e.RollupRecords()-recs)/float64(b.N), "records/op")
			b.ReportMetric(float64(e.SamplesDecoded()-dec)/float64(b.N), "decoded/op")
			b.ReportMetric(float64(e.SummaryBlocks()-sums)/float64(b.N), "summaries/op")
		})
	}
}
