package tagindex

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/lightningdb/lightningdb/series"
)

func writeRandomPartition(t *testing.T, seed uint64) (*Partition, *model, string) {
	t.Helper()
	ix, m := buildRandom(t, rand.New(rand.NewPCG(seed, 9)), 1500)
	p := ix.Partition(100)
	path := filepath.Join(t.TempDir(), "p100.tidx")
	writePartitionFile(t, p, path)
	return p, m, path
}

func samePartition(t *testing.T, want, got *Partition) {
	t.Helper()
	if got.MinT() != want.MinT() || got.MaxT() != want.MaxT() || got.NumSeries() != want.NumSeries() {
		t.Fatalf("loaded [%d,%d] %d series, want [%d,%d] %d", got.MinT(), got.MaxT(), got.NumSeries(), want.MinT(), want.MaxT(), want.NumSeries())
	}
	if !slices.Equal(got.labelNames(nil), want.labelNames(nil)) {
		t.Fatalf("names %v, want %v", got.labelNames(nil), want.labelNames(nil))
	}
	for _, n := range want.labelNames(nil) {
		if !slices.Equal(got.labelValues(n, nil, nil), want.labelValues(n, nil, nil)) {
			t.Fatalf("values of %q differ", n)
		}
	}
	rng := rand.New(rand.NewPCG(3, 3))
	for range 300 {
		ms := []*Matcher{randomMatcher(rng), randomMatcher(rng)}
		a, _ := want.Postings(ms...)
		b, _ := got.Postings(ms...)
		if !a.Equals(b) {
			t.Fatalf("%v: loaded partition gives %d series, built %d", ms, b.GetCardinality(), a.GetCardinality())
		}
	}
}

func TestPersistenceRoundTrip(t *testing.T) {
	p, _, path := writeRandomPartition(t, 1)
	loaded, err := OpenPartition(osFS{}, path)
	if err != nil {
		t.Fatal(err)
	}
	samePartition(t, p, loaded)

	// Results must not alias the mapping: use one after Close (unmap).
	res, _ := loaded.Postings(MustNewMatcher(MatchRegexp, "host", ".+"))
	want, _ := p.Postings(MustNewMatcher(MatchRegexp, "host", ".+"))
	vals := loaded.labelValues("host", nil, nil)
	if err := loaded.Close(); err != nil {
		t.Fatal(err)
	}
	if !res.Equals(want) || len(vals) == 0 || vals[0] == "" {
		t.Fatal("result changed after Close")
	}

	// Write, decode from memory, write again: the bytes must be equal.
	var a, b bytes.Buffer
	if _, err := p.WriteTo(&a); err != nil {
		t.Fatal(err)
	}
	q, err := DecodePartition("mem", a.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := q.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatal("re-encoding a decoded partition changed the bytes")
	}
}

func TestLoadedPartitionAcceptsAdds(t *testing.T) {
	p, _, path := writeRandomPartition(t, 2)
	loaded, err := OpenPartition(osFS{}, path)
	if err != nil {
		t.Fatal(err)
	}
	defer loaded.Close()
	can := series.FromStrings("__name__", "late", "host", "a", "new", "label").AppendCanonical(nil)
	for _, q := range []*Partition{p, loaded} {
		if err := q.Add(5000, can); err != nil {
			t.Fatal(err)
		}
		// An ID the file already holds is a no-op.
		if err := q.Add(q.all.Minimum(), can); err != nil {
			t.Fatal(err)
		}
	}
	samePartition(t, p, loaded)
	got, _ := loaded.Postings(MustNewMatcher(MatchEqual, "new", "label"))
	if !slices.Equal(got.ToArray(), []series.ID{5000}) {
		t.Fatalf("late series: got %v", got.ToArray())
	}
}

func TestCorruptionDetected(t *testing.T) {
	_, _, path := writeRandomPartition(t, 3)
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(4, 4))
	offsets := []int{0, 8, 16, 31, 32, 36, 40, len(orig) - 1, len(orig) - 10, len(orig) - 24}
	for range 200 {
		offsets = append(offsets, rng.IntN(len(orig)))
	}
	for _, off := range offsets {
		data := slices.Clone(orig)
		data[off] ^= 1 << rng.IntN(8)
		_, err := DecodePartition("f", data)
		var ce *CorruptionError
		if !errors.As(err, &ce) || !errors.Is(err, ErrCorrupt) {
			t.Fatalf("flip at %d: error %v, want *CorruptionError", off, err)
		}
		if ce.File != "f" || ce.Offset < 0 || ce.Offset > int64(len(orig)) {
			t.Fatalf("flip at %d: error %+v", off, ce)
		}
		if ce.Offset > int64(off) {
			t.Fatalf("flip at %d reported at offset %d, after the damage", off, ce.Offset)
		}
	}
	for _, n := range []int{0, 10, headerSize + footerSize - 1, len(orig) / 2, len(orig) - 1} {
		if _, err := DecodePartition("f", orig[:n]); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("truncated to %d: error %v", n, err)
		}
	}
	// Through OpenPartition, the error names the file.
	data := slices.Clone(orig)
	data[len(data)/2] ^= 0xff
	bad := filepath.Join(t.TempDir(), "bad.tidx")
	if err := os.WriteFile(bad, data, 0o644); err != nil {
		t.Fatal(err)
	}
	var ce *CorruptionError
	if _, err := OpenPartition(osFS{}, bad); !errors.As(err, &ce) || ce.File != bad {
		t.Fatalf("open damaged file: %v", err)
	}
}
