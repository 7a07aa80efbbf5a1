package engine

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/lightningdb/lightningdb/series"
)

// benchBatches builds one reusable batch per appender: 1,000 series with
// one sample each, shaped like a scrape of node metrics.
func benchBatch(w, seriesPerBatch int) *series.Batch {
	b := &series.Batch{}
	for s := range seriesPerBatch {
		b.AddSeries(labels("node_metric", "instance", fmt.Sprintf("host-%d", w), "idx", fmt.Sprint(s)), series.TypeFloat)
		b.AppendFloat(0, 0)
	}
	return b
}

// refill rewrites the samples of a batch in place for round k, keeping its
// series (and the series ID hints Append stored in it).
func refill(b *series.Batch, k int64) *series.Batch {
	for i := range b.Len() {
		_, _, ts, vals := b.Series(i)
		ts[0] = k * 10_000_000_000
		vals[0] = series.FloatBits(float64(k%1000) + float64(i))
	}
	return b
}

// BenchmarkAppendDurable measures durable appends (fsync per group) of
// batches of 1,000 samples across 1,000 series from N concurrent appenders.
// One op is one batch.
func BenchmarkAppendDurable(b *testing.B) {
	for _, appenders := range []int{1, 4, 16} {
		b.Run(fmt.Sprintf("appenders=%d", appenders), func(b *testing.B) {
			benchAppend(b, appenders, Options{})
		})
	}
}

// BenchmarkAppendNoSync is the same without fsync, to show its cost.
func BenchmarkAppendNoSync(b *testing.B) {
	benchAppend(b, 4, Options{SyncMode: SyncNone})
}

func benchAppend(b *testing.B, appenders int, opts Options) {
	const perBatch = 1000
	opts.MemtableBudget = 8 << 30
	db := mustOpen(b, b.TempDir(), opts)
	defer db.Close()
	batches := make([]*series.Batch, appenders)
	for w := range batches {
		batches[w] = benchBatch(w, perBatch)
		if _, err := db.Append(context.Background(), refill(batches[w], 0)); err != nil {
			b.Fatal(err)
		}
	}
	before := db.Stats()
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	per := (b.N + appenders - 1) / appenders
	for w := range appenders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 1; k <= per; k++ {
				if _, err := db.Append(context.Background(), refill(batches[w], int64(k))); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start).Seconds()
	b.StopTimer()
	after := db.Stats()
	samples := float64(after.AppendedSamples - before.AppendedSamples)
	b.ReportMetric(samples/elapsed, "samples/s")
	b.ReportMetric(float64(after.WALFsyncs-before.WALFsyncs)/elapsed, "fsyncs/s")
	b.ReportMetric(float64(after.AppendedBatches-before.AppendedBatches)/float64(max(1, after.WALGroups-before.WALGroups)), "batches/group")
	b.ReportMetric(float64(after.WALBytes-before.WALBytes)/samples, "walB/sample")
}

// BenchmarkReplay measures recovery: reopening a database whose WAL holds
// 2 million samples (1,000 series x 2,000 batches).
func BenchmarkReplay(b *testing.B) {
	dir := b.TempDir()
	// noFlushOnClose: leave the data in the WAL, as a crash does, so every
	// open replays it.
	opts := Options{SyncMode: SyncNone, noFlushOnClose: true}
	db := mustOpen(b, dir, opts)
	bt := benchBatch(0, 1000)
	const rounds = 2000
	for k := range rounds {
		if _, err := db.Append(context.Background(), refill(bt, int64(k))); err != nil {
			b.Fatal(err)
		}
	}
	must(b, db.Close())
	b.ReportAllocs()
	b.ResetTimer()
	var samples uint64
	for b.Loop() { // run with -benchtime Nx and a small N: each op replays 2M samples
		db := mustOpen(b, dir, opts)
		n := db.Stats().ReplayedSamples
		if n != rounds*1000 {
			b.Fatalf("replayed %d samples, want %d", n, rounds*1000)
		}
		samples += n
		b.StopTimer()
		must(b, db.Close())
		b.StartTimer()
	}
	b.ReportMetric(float64(samples)/b.Elapsed().Seconds(), "samples/s")
}

// TestAppendAllocsPerSample guards the steady-state path: appending a
// batch of known series allocates nothing per sample. The memtable's raw
// per-series slices stop growing at memSealAt samples (older ones are
// sealed into chunks carved from slabs, one allocation per memSlabBytes),
// so after the first seal of every series the path is allocation-free but
// for a new slab now and then.
func TestAppendAllocsPerSample(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under the race detector")
	}
	// No flush while filling or measuring.
	db := mustOpen(t, t.TempDir(), Options{SyncMode: SyncNone, MemtableFlushBytes: 1 << 30})
	defer db.Close()
	bt := benchBatch(0, 1000)
	k := int64(0)
	run := func() {
		k++
		if _, err := db.Append(context.Background(), refill(bt, k)); err != nil {
			t.Fatal(err)
		}
	}
	for range memSealAt {
		run()
	}
	sealed := 0
	must(t, db.active().forEach(func(_ series.ID, s *memSeries) error {
		for _, c := range s.chunks {
			sealed += int(c.n)
		}
		if cap(s.ts) > memSealAt {
			t.Fatalf("raw capacity %d, want at most %d", cap(s.ts), memSealAt)
		}
		return nil
	}))
	if want := 1000 * (memSealAt - memKeepRaw); sealed != want {
		t.Fatalf("%d samples sealed, want %d", sealed, want)
	}
	allocs := testing.AllocsPerRun(500, run)
	if perSample := allocs / 1000; perSample > 0.002 {
		t.Fatalf("%.1f allocations per batch of 1,000 samples (%.4f per sample)", allocs, perSample)
	}
	t.Logf("%.2f allocations per batch of 1,000 samples", allocs)
}
