package tagindex

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/lightningdb/lightningdb/series"
)

func (m *model) names(minT, maxT int64, ms []*Matcher) []string {
	set := map[string]bool{}
	for _, id := range m.select_(minT, maxT, ms) {
		for _, l := range m.labels[id] {
			set[l.Name] = true
		}
	}
	return sortedKeys(set)
}

func (m *model) values(name string, minT, maxT int64, ms []*Matcher) []string {
	set := map[string]bool{}
	for _, id := range m.select_(minT, maxT, ms) {
		if v := m.labels[id].Get(name); v != "" {
			set[v] = true
		}
	}
	return sortedKeys(set)
}

func sortedKeys(set map[string]bool) []string {
	out := []string{}
	for k := range set {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func TestLabelNamesAndValues(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 11))
	ix, m := buildRandom(t, rng, 1500)
	canon := func(id series.ID) []byte {
		ls, ok := m.labels[id]
		if !ok {
			return nil
		}
		return ls.AppendCanonical(nil)
	}
	for q := range 300 {
		var ms []*Matcher
		for range rng.IntN(3) {
			ms = append(ms, randomMatcher(rng))
		}
		minT := int64(rng.IntN(300)) - 10
		maxT := minT + int64(rng.IntN(250))
		limit := rng.IntN(4)
		cut := func(s []string) []string {
			if limit > 0 && len(s) > limit {
				return s[:limit]
			}
			return s
		}
		names, err := ix.LabelNames(minT, maxT, limit, ms...)
		if err != nil {
			t.Fatal(err)
		}
		if want := cut(m.names(minT, maxT, ms)); !slices.Equal(names, want) {
			t.Fatalf("query %d %v: names %q, want %q", q, ms, names, want)
		}
		name := testNames[rng.IntN(len(testNames))]
		want := cut(m.values(name, minT, maxT, ms))
		for _, lookup := range []func(series.ID) []byte{nil, canon} {
			ix.opts.Labels = lookup
			vals, err := ix.LabelValues(name, minT, maxT, limit, ms...)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(vals, want) {
				t.Fatalf("query %d %v (lookup %v): values of %q %q, want %q", q, ms, lookup != nil, name, vals, want)
			}
		}
	}
}

func TestStats(t *testing.T) {
	ix, _ := New(Options{PartitionDuration: 100})
	add := func(start int64, id series.ID, nv ...string) {
		if err := ix.Add(start, id, series.FromStrings(nv...).AppendCanonical(nil)); err != nil {
			t.Fatal(err)
		}
	}
	add(0, 1, "__name__", "up", "job", "a")
	add(0, 2, "__name__", "up", "job", "b")
	add(0, 3, "__name__", "cpu", "job", "a", "cpu", "0")
	add(100, 1, "__name__", "up", "job", "a")
	add(100, 4, "__name__", "mem", "job", "c")

	s := ix.Stats(0, 99, 2)
	if s.NumSeries != 3 || s.NumLabelNames != 3 || s.NumLabelPairs != 5 {
		t.Fatalf("partition 0: %+v", s)
	}
	if want := []Stat{{"up", 2}, {"cpu", 1}}; !slices.Equal(s.SeriesCountByMetricName, want) {
		t.Fatalf("by metric name %v, want %v", s.SeriesCountByMetricName, want)
	}
	if want := []Stat{{"__name__", 2}, {"job", 2}}; !slices.Equal(s.LabelValueCountByLabelName, want) {
		t.Fatalf("values by name %v, want %v", s.LabelValueCountByLabelName, want)
	}
	if want := []Stat{{"__name__=up", 2}, {"job=a", 2}}; !slices.Equal(s.SeriesCountByLabelValuePair, want) {
		t.Fatalf("pairs %v, want %v", s.SeriesCountByLabelValuePair, want)
	}
	if len(s.MemoryInBytesByLabelName) != 2 || s.MemoryInBytesByLabelName[0].Value == 0 {
		t.Fatalf("memory %v", s.MemoryInBytesByLabelName)
	}

	// Across both partitions series 1 counts once.
	s = ix.Stats(0, 199, 10)
	if s.NumSeries != 4 || len(s.Partitions) != 2 || s.Partitions[1].NumSeries != 2 {
		t.Fatalf("both partitions: %+v", s)
	}
	if want := []Stat{{"up", 2}, {"cpu", 1}, {"mem", 1}}; !slices.Equal(s.SeriesCountByMetricName, want) {
		t.Fatalf("by metric name %v, want %v", s.SeriesCountByMetricName, want)
	}

	// The cache follows new series.
	add(0, 5, "__name__", "cpu", "job", "z")
	if s := ix.Stats(0, 99, 2); s.NumSeries != 4 || s.SeriesCountByMetricName[0] != (Stat{"cpu", 2}) {
		t.Fatalf("after a new series: %+v", s.SeriesCountByMetricName)
	}
}

func TestDropAndClose(t *testing.T) {
	ix, _ := New(Options{PartitionDuration: 100})
	can := series.FromStrings("__name__", "up").AppendCanonical(nil)
	for _, start := range []int64{0, 100, 200} {
		if err := ix.Add(start, series.ID(start+1), can); err != nil {
			t.Fatal(err)
		}
	}
	p := ix.Partition(100)
	if err := ix.Drop(100); err != nil {
		t.Fatal(err)
	}
	if ix.Partition(100) != nil || len(ix.Partitions()) != 2 {
		t.Fatal("partition still listed after Drop")
	}
	if err := p.Add(7, can); err == nil {
		t.Fatal("Add on a dropped partition succeeded")
	}
	got, _ := ix.Postings(0, 1000)
	if !slices.Equal(got.ToArray(), []series.ID{1, 201}) {
		t.Fatalf("after drop: %v", got.ToArray())
	}
	if err := ix.Attach(NewPartition(0, 5)); err == nil {
		t.Fatal("Attach over an existing start succeeded")
	}
	if err := ix.Close(); err != nil {
		t.Fatal(err)
	}
	if len(ix.Partitions()) != 0 {
		t.Fatal("partitions left after Close")
	}
}
