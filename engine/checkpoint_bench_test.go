package engine

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/lightningdb/lightningdb/series"
)

// BenchmarkCheckpointIngestLatency measures Append latency (p50, p99,
// max) of 4 writers, each appending 2000 batches of 100 samples (fsync
// mode), with no checkpoint ("idle") and with a checkpoint every 100 ms
// all along ("checkpointing"; p99_during_us is over the Appends that
// overlapped a checkpoint, cp_ms the checkpoints' mean duration), on a
// database holding 1000 series' flushed segments.
//
//	go test -run '^$' -bench BenchmarkCheckpointIngestLatency -count 5 ./engine/
func BenchmarkCheckpointIngestLatency(b *testing.B) {
	for _, mode := range []string{"idle", "checkpointing"} {
		b.Run(mode, func(b *testing.B) {
			dir := b.TempDir()
			db := mustOpen(b, dir, Options{})
			defer db.Close()
			lss := make([]series.Labels, 1000)
			for i := range lss {
				lss[i] = labels("cpu", "host", fmt.Sprint(i))
			}
			base := time.Now().Add(-time.Hour).UnixNano()
			for i := range 500 { // 500k samples in segments
				appendRow(b, db, lss, base+int64(i)*1e9)
			}
			if err := db.Flush(context.Background()); err != nil {
				b.Fatal(err)
			}
			for range b.N {
				r := checkpointLoad(b, db, lss, base+600e9, mode == "checkpointing")
				b.ReportMetric(quantileUS(r.all, 0.5), "p50_us")
				b.ReportMetric(quantileUS(r.all, 0.99), "p99_us")
				b.ReportMetric(quantileUS(r.all, 1), "max_us")
				if len(r.cps) > 0 {
					b.ReportMetric(quantileUS(r.during, 0.99), "p99_during_us")
					var sum time.Duration
					for _, c := range r.cps {
						sum += c[1].Sub(c[0])
					}
					b.ReportMetric(float64(sum.Milliseconds())/float64(len(r.cps)), "cp_ms")
				}
			}
		})
	}
}

// quantileUS returns the q quantile of lat in microseconds.
func quantileUS(lat []time.Duration, q float64) float64 {
	if len(lat) == 0 {
		return 0
	}
	slices.Sort(lat)
	return float64(lat[int(q*float64(len(lat)-1))].Microseconds())
}

// loadResult is what checkpointLoad measured: every Append's latency,
// those of the Appends that overlapped a checkpoint, and the checkpoints'
// [start, end].
type loadResult struct {
	all, during []time.Duration
	cps         [][2]time.Time
}

// checkpointLoad runs the writers (and a checkpoint every 100 ms when on).
func checkpointLoad(b *testing.B, db *DB, lss []series.Labels, from int64, on bool) loadResult {
	const writers, appends = 4, 2000
	spans := make([][][2]time.Time, writers)
	done := make(chan struct{})
	var r loadResult
	var cpWG sync.WaitGroup
	if on {
		cpWG.Add(1)
		go func() {
			defer cpWG.Done()
			tick := time.NewTicker(100 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-done:
					return
				case <-tick.C:
				}
				t0 := time.Now()
				if _, err := db.Checkpoint(filepath.Join(b.TempDir(), "cp")); err != nil {
					b.Error(err)
					return
				}
				r.cps = append(r.cps, [2]time.Time{t0, time.Now()})
			}
		}()
	}
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			part := lss[w*len(lss)/writers : (w+1)*len(lss)/writers]
			for i := range appends {
				t0 := time.Now()
				appendRow(b, db, part[:100], from+int64(i)*1e9)
				spans[w] = append(spans[w], [2]time.Time{t0, time.Now()})
			}
		}()
	}
	wg.Wait()
	close(done)
	cpWG.Wait()
	for _, s := range slices.Concat(spans...) {
		d := s[1].Sub(s[0])
		r.all = append(r.all, d)
		for _, c := range r.cps {
			if s[0].Before(c[1]) && c[0].Before(s[1]) {
				r.during = append(r.during, d)
				break
			}
		}
	}
	return r
}

// appendRow appends one sample at ts to each series of lss.
func appendRow(b *testing.B, db *DB, lss []series.Labels, ts int64) {
	var batch series.Batch
	for i, ls := range lss {
		batch.AddSeries(ls, series.TypeFloat)
		batch.AppendFloat(ts, float64(i))
	}
	if _, err := db.Append(context.Background(), &batch); err != nil {
		b.Error(err)
	}
}
