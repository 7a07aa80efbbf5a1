package engine

import (
	"context"
	"fmt"
	"math"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lightningdb/lightningdb/series"
)

// buildRetentionDB writes nSeries series of perDay samples a day over
// days days (one partition a day), flushed into one segment per
// partition, with half the series (even IDs) on a 1-day retention and the
// rest kept for ever when mixed, or all on 1 day.
func buildRetentionDB(b *testing.B, nSeries, perDay, days int, mixed bool) (*DB, *atomic.Int64) {
	b.Helper()
	var now atomic.Int64
	now.Store(int64(days) * day)
	pol := &mapPolicy{m: map[series.ID]time.Duration{}}
	db := mustOpen(b, b.TempDir(), Options{RetentionPolicy: pol, DisableCompaction: true, MaintenanceInterval: time.Hour,
		MemtableBudget: 1 << 30, MemtableFlushBytes: 1 << 30, MaxNewSeriesPerRequest: -1, MaxNewSeriesPerMinute: -1,
		Now: func() time.Time { return time.Unix(0, now.Load()) }})
	step := day / int64(perDay)
	for d := range days {
		var bt series.Batch
		for s := range nSeries {
			bt.AddSeries(labels("m", "s", fmt.Sprint(s)), series.TypeFloat)
			for i := range perDay {
				bt.AppendFloat(int64(d)*day+int64(i)*step, math.Round(100*math.Sin(float64(i+s)))/10) // gauge-like, 0.1 resolution
			}
		}
		if _, err := db.Append(context.Background(), &bt); err != nil {
			b.Fatal(err)
		}
		must(b, db.Flush(context.Background()))
	}
	for id := series.ID(1); int(id) <= nSeries; id++ {
		pol.m[id] = time.Duration(day)
		if mixed && id%2 == 1 {
			pol.m[id] = 0
		}
	}
	return db, &now
}

// BenchmarkRetentionDrop measures dropping whole expired partitions:
// samples and bytes removed per second.
func BenchmarkRetentionDrop(b *testing.B) { benchRetention(b, false) }

// BenchmarkRetentionRewrite measures rewriting partitions where half the
// series expired (the ApplyRetention run and the compactor's rewrite).
func BenchmarkRetentionRewrite(b *testing.B) { benchRetention(b, true) }

func benchRetention(b *testing.B, mixed bool) {
	const nSeries, perDay, days = 1000, 1440, 4 // 1-minute samples
	var samples, bytes, parts, nSer uint64
	var elapsed time.Duration
	for range b.N {
		b.StopTimer()
		db, now := buildRetentionDB(b, nSeries, perDay, days, mixed)
		now.Store(int64(days+1) * day)
		b.StartTimer()
		start := time.Now()
		must(b, db.ApplyRetention(context.Background()))
		must(b, db.Compact(context.Background()))
		elapsed += time.Since(start)
		b.StopTimer()
		samples += db.m.retentionSamples.Load()
		bytes += db.m.retentionBytes.Load()
		parts += db.m.retentionPartitions.Load() + db.m.retentionRewrites.Load()
		nSer += db.m.retentionSeries.Load()
		must(b, db.Close())
	}
	b.ReportMetric(float64(samples)/elapsed.Seconds(), "samples/s")
	b.ReportMetric(float64(bytes)/elapsed.Seconds()/1e6, "MB/s")
	b.ReportMetric(float64(samples)/float64(b.N), "samples/op")
	b.ReportMetric(float64(parts)/elapsed.Seconds(), "partitions/s")
	b.ReportMetric(float64(nSer)/elapsed.Seconds(), "series/s")
}
