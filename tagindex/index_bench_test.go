package tagindex

import (
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/lightningdb/lightningdb/series"
)

// The benchmark data set: 1,000,000 series shaped like real metrics.
// Series i runs in pod i/10 (100,000 pods, 10 series each); the pod runs on
// host pod%1000 ("h0".."h999"), in one of 10 regions by host, for one of 50
// services ("api" is one of them); 100 metric names of 10,000 series each.
const (
	benchSeries   = 1_000_000
	benchPods     = benchSeries / 10
	benchHosts    = 1000
	benchServices = 50
)

var benchRegions = []string{"eu-west-1", "eu-central-1", "eu-north-1", "us-east-1", "us-east-2", "us-west-1", "us-west-2", "ap-south-1", "ap-northeast-1", "sa-east-1"}

func benchLabels(ls series.Labels, i int) series.Labels {
	pod := i / 10
	host := pod % benchHosts
	service := "svc-" + strconv.Itoa(pod/3%benchServices)
	if pod/3%benchServices == 0 {
		service = "api"
	}
	return append(ls[:0],
		series.Label{Name: series.MetricName, Value: "metric_" + strconv.Itoa(i%10*10+pod/1000%10)},
		series.Label{Name: "host", Value: "h" + strconv.Itoa(host)},
		series.Label{Name: "pod", Value: "pod-" + strconv.Itoa(pod)},
		series.Label{Name: "region", Value: benchRegions[host%len(benchRegions)]},
		series.Label{Name: "service", Value: service},
	)
}

func buildBench(tb testing.TB) *Index {
	ix, err := New(DefaultOptions())
	if err != nil {
		tb.Fatal(err)
	}
	var ls series.Labels
	var buf []byte
	for i := range benchSeries {
		ls = benchLabels(ls, i)
		buf = ls.AppendCanonical(buf[:0])
		if err := ix.Add(0, series.ID(i+1), buf); err != nil {
			tb.Fatal(err)
		}
	}
	return ix
}

// benchIndex builds the 1M-series index once for every benchmark of a run.
var benchIndex = sync.OnceValue(func() *Index { return buildBench(nil) })

func BenchmarkBuild1M(b *testing.B) {
	b.ReportAllocs()
	var ms0, ms1 runtime.MemStats
	var ix *Index
	start := time.Now()
	for b.Loop() {
		ix = nil
		runtime.GC()
		runtime.ReadMemStats(&ms0)
		ix = buildBench(b)
	}
	elapsed := time.Since(start)
	runtime.GC()
	runtime.ReadMemStats(&ms1)
	b.ReportMetric(float64(elapsed.Nanoseconds())/float64(b.N)/benchSeries, "ns/series")
	b.ReportMetric(float64(ms1.HeapAlloc-ms0.HeapAlloc)/benchSeries, "heapB/series")
	st := ix.Partition(0).Stats(10)
	b.ReportMetric(float64(st.Partitions[0].MemoryBytes)/benchSeries, "estB/series")
	runtime.KeepAlive(ix)
}

func benchPostings(b *testing.B, want uint64, ms ...*Matcher) {
	ix := benchIndex()
	b.ReportAllocs()
	for b.Loop() {
		bm, err := ix.Postings(0, time.Hour.Nanoseconds(), ms...)
		if err != nil {
			b.Fatal(err)
		}
		if want > 0 && bm.GetCardinality() != want {
			b.Fatalf("%v: %d series, want %d", ms, bm.GetCardinality(), want)
		}
	}
}

func BenchmarkPostings(b *testing.B) {
	b.Run("name_host", func(b *testing.B) {
		benchPostings(b, 10, MustNewMatcher(MatchEqual, "__name__", "metric_1"), MustNewMatcher(MatchEqual, "host", "h1"))
	})
	b.Run("region_regex_service", func(b *testing.B) {
		benchPostings(b, 0, MustNewMatcher(MatchRegexp, "region", "eu-.*"), MustNewMatcher(MatchEqual, "service", "api"))
	})
	b.Run("name_region_set_not_service", func(b *testing.B) {
		benchPostings(b, 0, MustNewMatcher(MatchEqual, "__name__", "metric_1"),
			MustNewMatcher(MatchRegexp, "region", "us-east-1|us-west-2"), MustNewMatcher(MatchNotEqual, "service", "api"))
	})
	b.Run("name_pod_regex", func(b *testing.B) {
		benchPostings(b, 0, MustNewMatcher(MatchEqual, "__name__", "metric_1"), MustNewMatcher(MatchRegexp, "pod", "pod-1[0-9]*7"))
	})
	b.Run("name_only", func(b *testing.B) {
		benchPostings(b, 10_000, MustNewMatcher(MatchEqual, "__name__", "metric_1"))
	})
}

func BenchmarkLabelValues(b *testing.B) {
	ix := benchIndex()
	b.Run("pod_100k", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			vs, err := ix.LabelValues("pod", 0, time.Hour.Nanoseconds(), 0)
			if err != nil || len(vs) != benchPods {
				b.Fatalf("%d values, %v", len(vs), err)
			}
		}
	})
	b.Run("pod_with_matcher", func(b *testing.B) {
		b.ReportAllocs()
		m := MustNewMatcher(MatchEqual, "host", "h1")
		for b.Loop() {
			vs, err := ix.LabelValues("pod", 0, time.Hour.Nanoseconds(), 0, m)
			if err != nil || len(vs) != benchPods/benchHosts {
				b.Fatalf("%d values, %v", len(vs), err)
			}
		}
	})
}

func BenchmarkAddExisting(b *testing.B) {
	ix := benchIndex()
	can := benchLabels(nil, 12345).AppendCanonical(nil)
	b.ReportAllocs()
	for b.Loop() {
		if err := ix.Add(0, 12346, can); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkStats(b *testing.B) {
	p := benchIndex().Partition(0)
	b.Run("cached", func(b *testing.B) {
		b.ReportAllocs()
		p.Stats(10)
		for b.Loop() {
			p.Stats(10)
		}
	})
	b.Run("compute", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			p.Stats(10 + i%2) // a different topN misses the cache
		}
	})
}

func BenchmarkPersist(b *testing.B) {
	p := benchIndex().Partition(0)
	path := filepath.Join(b.TempDir(), "p.tidx")
	b.Run("write", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			writePartitionFile(b, p, path)
		}
	})
	b.Run("open", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			q, err := OpenPartition(osFS{}, path)
			if err != nil {
				b.Fatal(err)
			}
			q.Close()
		}
	})
}

// BenchmarkNewMatcherRegex builds the matcher of an 8-host alternation, as
// every query of a dashboard does (compiled once, then from the cache).
func BenchmarkNewMatcherRegex(b *testing.B) {
	expr := "host_1|host_17|host_23|host_42|host_58|host_61|host_77|host_99"
	b.ReportAllocs()
	for b.Loop() {
		if _, err := NewMatcher(MatchRegexp, "hostname", expr); err != nil {
			b.Fatal(err)
		}
	}
}
