package engine

import (
	"context"
	"fmt"
	"runtime"
	"testing"

	"github.com/lightningdb/lightningdb/series"
)

// TestSeriesMemory measures what a new series of one sample really costs
// (the registry, the memtable and the tag index, from the Go heap) and
// checks that the admission estimate (requestBytes) covers it and that
// the memtable's own accounting is not far off its share.
func TestSeriesMemory(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("measures the heap")
	}
	const n, per = 100_000, 5000
	db := mustOpen(t, t.TempDir(), Options{SyncMode: SyncNone})
	defer db.Close()
	batches := make([]*series.Batch, 0, n/per)
	for k := range n / per {
		var b series.Batch
		for i := range per {
			b.AddSeries(labels("cpu", "host", fmt.Sprintf("host-%07d", k*per+i), "dc", "eu-west-1"), series.TypeFloat)
			b.AppendFloat(1e18, 1)
		}
		batches = append(batches, &b)
	}
	var estimate int64
	for _, b := range batches {
		estimate += requestBytes(b)
	}
	before := heapInUse()
	for _, b := range batches {
		if _, err := db.Append(context.Background(), b); err != nil {
			t.Fatal(err)
		}
	}
	batches = nil
	real := heapInUse() - before
	mem := db.Stats().MemtableBytes
	t.Logf("per series: heap %d B, memtable accounted %d B, estimate %d B", real/n, mem/n, estimate/n)
	if estimate < real {
		t.Errorf("estimate %d B a series is below the real %d B", estimate/n, real/n)
	}
	if mem < real/3 {
		t.Errorf("memtable accounts %d B a series of the real %d B", mem/n, real/n)
	}
}

func heapInUse() int64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc)
}
