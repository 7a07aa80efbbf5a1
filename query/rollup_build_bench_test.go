package query

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/lightningdb/lightningdb/downsample"
	"github.com/lightningdb/lightningdb/engine"
)

// BenchmarkRollupBuildCost measures what building rollups from sealed
// partitions costs and how much of it is reading the raw data, the part
// a build inside compaction would not pay (docs/downsampling.md
// "Building at compaction time?"): 1,000 gauges and 1,000 counters over
// LDB_ROLLUP_DAYS days (default 7) scraped every LDB_ROLLUP_SCRAPE
// seconds (default 60), flushed (several segments per partition) and
// compacted (timed: the cold compaction that merges each partition into
// one segment); then per op "scan" reads every sealed sample as the
// builder does (Source.Scan a day at a time, nothing done with them),
// and "build-5m", "build-1h" build one tier each from scratch, as the
// builder does per tier. Each reports ns per raw sample.
func BenchmarkRollupBuildCost(b *testing.B) {
	scrape, days := int64(60), 7
	if v, err := strconv.Atoi(os.Getenv("LDB_ROLLUP_SCRAPE")); err == nil && v > 0 {
		scrape = int64(v)
	}
	if v, err := strconv.Atoi(os.Getenv("LDB_ROLLUP_DAYS")); err == nil && v > 0 {
		days = v
	}
	const nSeries = 1000
	t0 := int64(1_700_006_400) * 1e9
	raw, err := engine.Open(b.TempDir(), engine.Options{SyncMode: engine.SyncNone, MemtableFlushBytes: 16 << 20,
		DisableCompaction: true})
	if err != nil {
		b.Fatal(err)
	}
	defer raw.Close()
	if err := fillRollupBench(raw, t0, scrape, nSeries, days); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if err := raw.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	samples := float64(2 * nSeries * int64(days) * 86400 / scrape)
	segs := raw.Stats().Segments
	start := time.Now()
	if err := raw.Compact(ctx); err != nil {
		b.Fatal(err)
	}
	b.Logf("%.1f M raw samples; compaction of %d segments: %s, %.0f ns/sample", samples/1e6, segs,
		time.Since(start).Round(time.Millisecond), float64(time.Since(start).Nanoseconds())/samples)
	src := RollupSource(raw)
	lo, hi := t0, t0+int64(days)*24*int64(time.Hour)
	b.Run("scan", func(b *testing.B) {
		for b.Loop() {
			var n int
			for d := lo; d < hi; d += 24 * int64(time.Hour) {
				err := src.Scan(ctx, d, d+24*int64(time.Hour)-1, func(_ []byte, ts []int64, _ []float64) error {
					n += len(ts)
					return nil
				})
				if err != nil {
					b.Fatal(err)
				}
			}
			if float64(n) != samples {
				b.Fatalf("scanned %d samples, want %.0f", n, samples)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/samples, "ns/sample")
	})
	for _, iv := range []string{"5m", "1h"} {
		b.Run("build-"+iv, func(b *testing.B) {
			rules, err := downsample.Config{Rules: []downsample.RuleConfig{{Match: `{g=~".+"}`,
				Tiers: []downsample.TierConfig{{After: "1d", Interval: iv}}}}}.Compile()
			if err != nil {
				b.Fatal(err)
			}
			d := rules.Intervals()[0]
			now := time.Unix(0, hi).Add(24 * time.Hour)
			for b.Loop() {
				b.StopTimer()
				tier, err := engine.Open(b.TempDir(), engine.Options{SyncMode: engine.SyncNone,
					PartitionDuration: int64(downsample.PartitionDuration(d, 0))})
				if err != nil {
					b.Fatal(err)
				}
				bl, err := downsample.NewBuilder(rules, src, map[time.Duration]downsample.Appender{d: tier},
					downsample.BuilderOptions{Dir: b.TempDir(), Now: func() time.Time { return now }})
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				if _, err := bl.Build(ctx); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				if err := tier.Close(); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/samples, "ns/sample")
		})
	}
}
