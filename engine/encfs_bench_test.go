package engine

import (
	"context"
	"fmt"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// BenchmarkEncryption compares encryption at rest off and on (EncFS):
// durable appends (4 appenders, fsync per group, batches of 1,000
// samples), a flush of 6 h of TSBS-shaped data (100 hosts x 10 fields at
// 10 s, 2.16 M samples: segments, tag index, snapshot, manifest), an open
// of the flushed directory (a sealed segment is decoded at open) and a
// full scan. Run the variants alternately (-count) on a noisy machine.
func BenchmarkEncryption(b *testing.B) {
	for _, enc := range []bool{false, true} {
		opts := func() Options {
			if enc {
				return Options{FS: NewEncFS(OSFS{}, testRing(b, testKey(1)))}
			}
			return Options{}
		}
		b.Run(fmt.Sprintf("append/enc=%v", enc), func(b *testing.B) {
			defer reportCPU(b)()
			benchAppend(b, 4, opts())
		})
		b.Run(fmt.Sprintf("append-nosync/enc=%v", enc), func(b *testing.B) {
			defer reportCPU(b)()
			o := opts()
			o.SyncMode = SyncNone
			benchAppend(b, 4, o)
		})
		dir := b.TempDir()
		b.Run(fmt.Sprintf("flush/enc=%v", enc), func(b *testing.B) {
			for i := range b.N {
				b.StopTimer()
				d := dir
				if i > 0 {
					d = b.TempDir()
				}
				o := opts()
				o.SyncMode, o.DisableCompaction = SyncNone, true
				o.MemtableFlushBytes, o.MemtableBudget = 1<<40, 1<<40
				o.Now = func() time.Time { return time.Unix(0, tsbsStart) }
				db := mustOpen(b, d, o)
				g := newTSBSBatch(100)
				for k := range int64(6*time.Hour) / tsbsInterval {
					if _, err := db.Append(context.Background(), g.step(k)); err != nil {
						b.Fatal(err)
					}
				}
				b.StartTimer()
				must(b, db.Flush(context.Background()))
				b.StopTimer()
				must(b, db.Close())
				b.StartTimer()
			}
		})
		b.Run(fmt.Sprintf("open/enc=%v", enc), func(b *testing.B) {
			for range b.N {
				db := mustOpen(b, dir, opts())
				b.StopTimer()
				must(b, db.Close())
				b.StartTimer()
			}
		})
		b.Run(fmt.Sprintf("scan/enc=%v", enc), func(b *testing.B) {
			defer reportCPU(b)()
			o := opts()
			o.DisableCompaction = true
			db := mustOpen(b, dir, o)
			defer db.Close()
			benchScanAll(b, db)
		})
	}
}

// reportCPU reports the process's CPU time (user and system) per op from
// now to the call of the function it returns: less sensitive than wall
// time to other work on a shared machine and to fsync latency.
func reportCPU(b *testing.B) func() {
	cpu := func() time.Duration {
		var ru unix.Rusage
		if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
			b.Fatal(err)
		}
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	start := cpu()
	return func() { b.ReportMetric(float64(cpu()-start)/float64(b.N), "cpu-ns/op") }
}
