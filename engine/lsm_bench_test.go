package engine

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/lightningdb/lightningdb/series"
)

const (
	tsbsFields   = 10
	tsbsInterval = int64(10 * time.Second)
	tsbsStart    = int64(1451606400) * int64(time.Second) // 2016-01-01, as TSBS
)

// tsbsBatch is one step of the TSBS cpu-only shape: every host's 10
// fields, each a random walk clamped to [0, 100] with a standard normal
// step, rounded to an integer value (TSBS ClampedRandomWalk).
type tsbsBatch struct {
	b    series.Batch
	walk []float64
	rng  *rand.Rand
	// prev and deltas count the steps of the rounded walks, for the
	// data's entropy (entropyBytes).
	prev   []float64
	deltas map[float64]int64
}

func newTSBSBatch(hosts int) *tsbsBatch {
	g := &tsbsBatch{rng: rand.New(rand.NewPCG(1, 2)), walk: make([]float64, hosts*tsbsFields)}
	for h := range hosts {
		for f := range tsbsFields {
			g.b.AddSeries(labels(fmt.Sprintf("cpu_usage_f%d", f), "hostname", fmt.Sprintf("host_%d", h),
				"region", fmt.Sprintf("region-%d", h%9), "datacenter", fmt.Sprintf("dc-%d", h%3)), series.TypeFloat)
			g.b.AppendFloat(0, 0)
			g.walk[h*tsbsFields+f] = g.rng.Float64() * 100
		}
	}
	return g
}

func (g *tsbsBatch) step(k int64) *series.Batch {
	for i := range g.b.Len() {
		_, _, ts, vals := g.b.Series(i)
		w := min(max(g.walk[i]+g.rng.NormFloat64(), 0), 100)
		g.walk[i] = w
		ts[0] = tsbsStart + k*tsbsInterval
		vals[0] = series.FloatBits(math.Round(w))
		if g.deltas == nil {
			g.prev, g.deltas = make([]float64, g.b.Len()), map[float64]int64{}
		}
		if k > 0 {
			g.deltas[math.Round(w)-g.prev[i]]++
		}
		g.prev[i] = math.Round(w)
	}
	return &g.b
}

// entropyBytes returns the entropy of the data stepped so far, in bytes a
// sample: the empirical entropy of the rounded walks' steps (a random
// walk's entropy rate; the step distribution is the same for every series),
// the first value of each series counted at log2(101) bits, and the
// timestamps (a fixed interval) at nothing.
func (g *tsbsBatch) entropyBytes() float64 {
	var n int64
	for _, c := range g.deltas {
		n += c
	}
	bits := float64(len(g.prev)) * math.Log2(101)
	for _, c := range g.deltas {
		bits -= float64(c) * math.Log2(float64(c)/float64(n))
	}
	return bits / 8 / float64(n+int64(len(g.prev)))
}

// peakHeap samples the live heap every few ms until stopped and returns
// its peak above the level at start.
func peakHeap() (stop func() int64) {
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	base, peak := ms.HeapAlloc, ms.HeapAlloc
	done, res := make(chan struct{}), make(chan int64)
	go func() {
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				res <- int64(peak) - int64(base)
				return
			case <-t.C:
				runtime.ReadMemStats(&ms)
				peak = max(peak, ms.HeapAlloc)
			}
		}
	}()
	return func() int64 { close(done); return <-res }
}

type tsbsResult struct {
	samples                 int64
	flushDur, compactDur    time.Duration
	flushPeak, compactPeak  int64
	flushes, segsBefore     int
	segBytes, allBytes      int64
	entropy                 float64 // of the data, bytes a sample
	compactedSamples        uint64
	compactedIn, flushBytes uint64
}

// buildTSBS appends hosts×10 series over dur through DB.Append (SyncNone:
// the WAL's fsync is not what is measured), flushing every flushEvery of
// data, then flushes and compacts, and measures the files.
func buildTSBS(tb testing.TB, dir string, hosts int, dur, flushEvery time.Duration) tsbsResult {
	db := mustOpen(tb, dir, Options{SyncMode: SyncNone, DisableCompaction: true,
		MemtableFlushBytes: 1 << 40, MemtableBudget: 1 << 40, Now: func() time.Time { return time.Unix(0, tsbsStart) }})
	g := newTSBSBatch(hosts)
	var r tsbsResult
	steps := int64(dur) / tsbsInterval
	perFlush := int64(flushEvery) / tsbsInterval
	flush := func() {
		stop := peakHeap()
		start := time.Now()
		must(tb, db.Flush(context.Background()))
		r.flushDur += time.Since(start)
		r.flushPeak = max(r.flushPeak, stop())
		r.flushes++
	}
	for k := range steps {
		if _, err := db.Append(context.Background(), g.step(k)); err != nil {
			tb.Fatal(err)
		}
		r.samples += int64(hosts * tsbsFields)
		if (k+1)%perFlush == 0 {
			flush()
		}
	}
	flush()
	r.segsBefore = db.Stats().Segments
	stop := peakHeap()
	start := time.Now()
	must(tb, db.Compact(context.Background()))
	r.compactDur = time.Since(start)
	r.compactPeak = stop()
	st := db.Stats()
	r.compactedSamples, r.compactedIn, r.flushBytes = st.CompactedSamples, st.CompactedBytesIn, st.FlushedBytes
	must(tb, db.Close())
	r.segBytes = dirBytes(tb, filepath.Join(dir, segDir))
	r.allBytes = dirBytes(tb, dir)
	r.entropy = g.entropyBytes()
	return r
}

func dirBytes(tb testing.TB, dir string) int64 {
	var n int64
	err := filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			n += fi.Size()
		}
		return err
	})
	must(tb, err)
	return n
}

// BenchmarkTSBSBytesPerSample measures the disk footprint after
// compaction, and the flush and compaction throughput and peak heap.
// Targets: ≤ 0.33 B/sample (100 hosts, 24 h), ≤ 0.45 (1000 hosts, 6 h).
func BenchmarkTSBSBytesPerSample(b *testing.B) {
	for _, c := range []struct {
		hosts int
		dur   time.Duration
	}{{100, 24 * time.Hour}, {1000, 6 * time.Hour}} {
		b.Run(fmt.Sprintf("hosts=%d/hours=%d", c.hosts, int(c.dur.Hours())), func(b *testing.B) {
			b.ReportAllocs()
			var r tsbsResult
			for range b.N {
				r = buildTSBS(b, b.TempDir(), c.hosts, c.dur, 2*time.Hour)
			}
			s := float64(r.samples)
			b.ReportMetric(float64(r.segBytes)/s, "seg-B/sample")
			b.ReportMetric(float64(r.allBytes)/s, "all-B/sample")
			b.ReportMetric(r.entropy, "entropy-B/sample")
			b.ReportMetric(float64(r.allBytes)/s/r.entropy, "all/entropy")
			b.ReportMetric(float64(r.flushBytes)/s, "flushed-B/sample")
			b.ReportMetric(s/r.flushDur.Seconds(), "flush-samples/s")
			b.ReportMetric(float64(r.compactedSamples)/r.compactDur.Seconds(), "compact-samples/s")
			b.ReportMetric(float64(r.flushPeak)/(1<<20), "flush-peak-MiB")
			b.ReportMetric(float64(r.compactPeak)/(1<<20), "compact-peak-MiB")
			b.ReportMetric(float64(r.segsBefore), "segs-compacted")
		})
	}
}

// tsbsDir builds the 100-host, 24 h data set once per benchmark function.
type tsbsDir struct {
	once sync.Once
	dir  string
}

func (d *tsbsDir) get(b *testing.B) string {
	d.once.Do(func() {
		d.dir = b.TempDir()
		buildTSBS(b, d.dir, 100, 24*time.Hour, 2*time.Hour)
	})
	return d.dir
}

// BenchmarkFullScan decodes every sample of every series through a
// sequential Querier (one goroutine). Target ≥ 150 M samples/s per core.
func BenchmarkFullScan(b *testing.B) {
	dir := b.TempDir()
	buildTSBS(b, dir, 100, 24*time.Hour, 2*time.Hour)
	db := mustOpen(b, dir, Options{DisableCompaction: true})
	defer db.Close()
	benchScanAll(b, db)
}

// benchScanAll is the timed loop of the full scans: every sample of every
// series through a sequential Querier, one goroutine.
func benchScanAll(b *testing.B, db *DB) {
	ids := allIDs(db)
	b.ReportAllocs()
	b.ResetTimer()
	var n int64
	it := &Iterator{}
	for range b.N {
		q, err := db.Querier(math.MinInt64, math.MaxInt64)
		must(b, err)
		set := q.SelectSorted(ids, SelectHints{Pattern: ScanSequential, Iterator: it})
		for set.Next() {
			_, it := set.At()
			n += int64(it.Len())
		}
		must(b, set.Err())
		q.Close()
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "samples/s")
	b.ReportMetric(float64(n)/float64(b.N), "samples/op")
}

// BenchmarkMemtableScan decodes every sample of every series held in the
// memtable (100 hosts x 10 fields x 6 h at 10 s, 2.16 M samples: all but
// the newest memKeepRaw of each series sealed in chunks) through a sequential
// Querier, the read of a dashboard over recent data. Compare with
// BenchmarkFullScan (segments).
func BenchmarkMemtableScan(b *testing.B) {
	db := mustOpen(b, b.TempDir(), Options{SyncMode: SyncNone, noFlushOnClose: true,
		MemtableFlushBytes: 1 << 40, MemtableBudget: 1 << 40, Now: func() time.Time { return time.Unix(0, tsbsStart) }})
	defer db.Close()
	g := newTSBSBatch(100)
	for k := range int64(6*time.Hour) / tsbsInterval {
		if _, err := db.Append(context.Background(), g.step(k)); err != nil {
			b.Fatal(err)
		}
	}
	if db.Stats().Segments != 0 {
		b.Fatal("flushed: the benchmark must read the memtable")
	}
	benchScanAll(b, db)
}

func allIDs(db *DB) []series.ID {
	var ids []series.ID
	for id := series.ID(1); id <= db.Registry().MaxID(); id++ {
		ids = append(ids, id)
	}
	return ids
}

// dropCache evicts the DB's segment files from the page cache: the
// mapping's pages are unmapped from the process (MADV_DONTNEED) and the
// file's pages dropped (POSIX_FADV_DONTNEED).
func dropCache(b *testing.B, db *DB) {
	v := db.acquire()
	defer v.unref()
	for _, p := range v.parts {
		for _, s := range p.segs {
			must(b, unix.Madvise(s.data, unix.MADV_DONTNEED))
			f, err := os.Open(s.path)
			must(b, err)
			must(b, unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED))
			f.Close()
			vec := make([]byte, (len(s.data)+os.Getpagesize()-1)/os.Getpagesize())
			if _, _, errno := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&s.data[0])), uintptr(len(s.data)), uintptr(unsafe.Pointer(&vec[0]))); errno != 0 {
				b.Fatal(errno)
			}
			for _, r := range vec {
				if r&1 != 0 {
					b.Fatal("segment pages still resident after dropping the cache: cold figures would be warm")
				}
			}
		}
	}
}

// BenchmarkRangeRead reads, from a cold and a warm page cache, with and
// without prefetch: one series over 12 h, and one field across all 100
// hosts over 1 h (a strided read: every 10th series).
func BenchmarkRangeRead(b *testing.B) {
	dir := b.TempDir()
	buildTSBS(b, dir, 100, 24*time.Hour, 2*time.Hour)
	for _, prefetch := range []bool{false, true} {
		opts := Options{DisableCompaction: true}
		if !prefetch {
			opts.PrefetchBytes = -1
		}
		db := mustOpen(b, dir, opts)
		var field []series.ID
		for h := range 100 {
			id, _ := db.Lookup(labels("cpu_usage_f3", "hostname", fmt.Sprintf("host_%d", h),
				"region", fmt.Sprintf("region-%d", h%9), "datacenter", fmt.Sprintf("dc-%d", h%3)))
			field = append(field, id)
		}
		one := field[42]
		reads := []struct {
			name string
			read func(it *Iterator) int
		}{
			{"series-12h", func(it *Iterator) int {
				return db.Select(one, tsbsStart+int64(6*time.Hour), tsbsStart+int64(18*time.Hour)-1, it).Len()
			}},
			{"field-100hosts-1h", func(it *Iterator) int {
				q, err := db.Querier(tsbsStart+int64(12*time.Hour), tsbsStart+int64(13*time.Hour)-1)
				must(b, err)
				defer q.Close()
				set := q.SelectSorted(field, SelectHints{Iterator: it})
				n := 0
				for set.Next() {
					_, it := set.At()
					n += it.Len()
				}
				return n
			}},
		}
		for _, r := range reads {
			for _, cold := range []bool{true, false} {
				name := fmt.Sprintf("%s/cache=%s/prefetch=%v", r.name, map[bool]string{true: "cold", false: "warm"}[cold], prefetch)
				b.Run(name, func(b *testing.B) {
					b.ReportAllocs()
					it := &Iterator{}
					n := 0
					for range b.N {
						if cold {
							b.StopTimer()
							dropCache(b, db)
							b.StartTimer()
						}
						n = r.read(it)
					}
					b.ReportMetric(float64(n), "samples/op")
				})
			}
		}
		must(b, db.Close())
	}
}
