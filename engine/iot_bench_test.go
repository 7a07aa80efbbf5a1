package engine

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/lightningdb/lightningdb/series"
)

// BenchmarkIoTFlush appends the IoT shape of bench's iot-lp (1000 devices,
// three fields a line sharing its timestamp: temperature with 2 decimals,
// humidity 1, battery 3; one report a minute ± 3 s, millisecond
// timestamps) for 24 h, flushing every 2 h of data, then compacts, and
// reports flush and compaction speed and the bytes a sample of the
// directory: the write path that shared timestamps change.
func BenchmarkIoTFlush(b *testing.B) {
	const devices, steps, perFlush = 1000, 1440, 120
	var flushDur, compactDur time.Duration
	var all int64
	for range b.N {
		dir := b.TempDir()
		db := mustOpen(b, dir, Options{SyncMode: SyncNone, DisableCompaction: true,
			MemtableFlushBytes: 1 << 40, MemtableBudget: 1 << 40, Now: func() time.Time { return time.Unix(0, tsbsStart) }})
		rng := rand.New(rand.NewPCG(7, 7))
		var bt series.Batch
		vals := make([][3]float64, devices)
		for d := range vals {
			vals[d] = [3]float64{15 + 10*rng.Float64(), 30 + 40*rng.Float64(), 100}
		}
		for s := range steps {
			bt.Reset()
			for d := range devices {
				t := tsbsStart + int64(s)*int64(time.Minute) + (rng.Int64N(6001)-3000)*int64(time.Millisecond)
				v := &vals[d]
				v[0] += rng.NormFloat64() * 0.1
				v[1] = min(max(v[1]+rng.NormFloat64()*0.5, 0), 100)
				v[2] = max(v[2]-rng.Float64()*0.01, 0)
				for f, name := range []string{"temperature", "humidity", "battery"} {
					p := math.Pow10([]int{2, 1, 3}[f])
					bt.AddSeries(labels("sensor_"+name, "device_id", fmt.Sprintf("dev-%06d", d)), series.TypeFloat)
					bt.AppendFloat(t, math.Round(v[f]*p)/p)
				}
			}
			if _, err := db.Append(context.Background(), &bt); err != nil {
				b.Fatal(err)
			}
			if (s+1)%perFlush == 0 {
				start := time.Now()
				must(b, db.Flush(context.Background()))
				flushDur += time.Since(start)
			}
		}
		start := time.Now()
		must(b, db.Compact(context.Background()))
		compactDur += time.Since(start)
		must(b, db.Close())
		all = dirBytes(b, dir)
	}
	n := float64(devices * steps * 3)
	b.ReportMetric(n*float64(b.N)/flushDur.Seconds(), "flush-samples/s")
	b.ReportMetric(n*float64(b.N)/compactDur.Seconds(), "compact-samples/s")
	b.ReportMetric(float64(all)/n, "all-B/sample")
}
