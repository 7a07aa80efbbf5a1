package tagindex

import (
	"cmp"
	"slices"
	"unsafe"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/lightningdb/lightningdb/series"
)

// Stat is one entry of a top-N list: a label name, a metric name or a
// "name=value" pair, with its count or size.
type Stat struct {
	Name  string
	Value uint64
}

// Stats holds cardinality statistics of the partitions overlapping a time
// range, as Prometheus's /api/v1/status/tsdb reports them. Counts of series
// are exact (bitmap unions across partitions); memory figures are estimates
// of what the in-memory index holds.
type Stats struct {
	NumSeries     uint64 // distinct series in the range
	NumLabelNames int
	NumLabelPairs int // distinct name=value pairs

	Partitions []PartitionSummary

	SeriesCountByMetricName     []Stat // top N metric names by series
	LabelValueCountByLabelName  []Stat // top N label names by distinct values
	MemoryInBytesByLabelName    []Stat // top N label names by index memory
	SeriesCountByLabelValuePair []Stat // top N name=value pairs by series
}

// PartitionSummary is the cheap per-partition part of Stats.
type PartitionSummary struct {
	MinT, MaxT  int64
	NumSeries   int
	MemoryBytes uint64
}

// PartitionStats is the cached Stats of one partition and the generation
// (series count changes) it was computed at.
type PartitionStats struct {
	Stats
	gen  uint64
	topN int
}

// Stats returns the statistics of the partition with top-N lists of topN
// entries (0 means 10). The result is cached until a new series arrives, so
// repeated reads are cheap.
func (p *Partition) Stats(topN int) Stats {
	if topN <= 0 {
		topN = 10
	}
	gen := p.gen.Load()
	p.statsMu.Lock()
	defer p.statsMu.Unlock()
	if s := p.stats; s != nil && s.gen == gen && s.topN == topN {
		return s.Stats
	}
	s := computeStats([]*Partition{p}, topN)
	p.stats = &PartitionStats{Stats: s, gen: gen, topN: topN}
	return s
}

// Stats returns the statistics of the partitions overlapping [minT, maxT].
// A range within one partition reads that partition's cached figures;
// a wider one computes exact unions on each call, at a cost in proportion
// to the number of label pairs times partitions.
func (ix *Index) Stats(minT, maxT int64, topN int) Stats {
	parts := ix.overlapping(minT, maxT)
	if len(parts) == 1 {
		return parts[0].Stats(topN)
	}
	if topN <= 0 {
		topN = 10
	}
	return computeStats(parts, topN)
}

// computeStats read-locks parts in order of MinT (the only order in which
// several partition locks are ever taken; writers hold one at a time).
func computeStats(parts []*Partition, topN int) Stats {
	for _, p := range parts {
		p.mu.RLock()
		defer p.mu.RUnlock()
	}
	var s Stats
	alls := make([]*roaring.Bitmap, 0, len(parts))
	var lists [][]string
	for _, p := range parts {
		if p.closed {
			continue
		}
		alls = append(alls, p.all)
		lists = append(lists, p.sortedNames)
		s.Partitions = append(s.Partitions, PartitionSummary{
			MinT: p.minT, MaxT: p.maxT, NumSeries: p.NumSeries(), MemoryBytes: p.memoryBytesRLocked(),
		})
	}
	s.NumSeries = unionCard(alls)
	names := mergeSorted(lists, 0)
	s.NumLabelNames = len(names)
	byName := newTopN(topN)
	pairs := newTopN(topN)
	values := newTopN(topN)
	memory := newTopN(topN)
	for _, name := range names {
		nis := make([]*nameIndex, 0, len(parts))
		lists = lists[:0]
		var mem uint64
		for _, p := range parts {
			if ni := p.names[name]; ni != nil {
				nis = append(nis, ni)
				vals, _ := ni.sortedValues()
				lists = append(lists, vals)
				mem += ni.memoryBytes()
			}
		}
		vals := mergeSorted(lists, 0)
		s.NumLabelPairs += len(vals)
		values.push(name, uint64(len(vals)))
		memory.push(name, mem)
		bms := make([]*roaring.Bitmap, 0, len(nis))
		for _, v := range vals {
			bms = bms[:0]
			for _, ni := range nis {
				if b := ni.values[v]; b != nil {
					bms = append(bms, b)
				}
			}
			n := unionCard(bms)
			if pairs.wants(n) {
				pairs.push(name+"="+v, n)
			}
			if name == series.MetricName {
				byName.push(v, n)
			}
		}
	}
	s.SeriesCountByMetricName = byName.sorted()
	s.SeriesCountByLabelValuePair = pairs.sorted()
	s.LabelValueCountByLabelName = values.sorted()
	s.MemoryInBytesByLabelName = memory.sorted()
	return s
}

func unionCard(bms []*roaring.Bitmap) uint64 {
	switch len(bms) {
	case 0:
		return 0
	case 1:
		return bms[0].GetCardinality()
	}
	return roaring.FastOr(bms...).GetCardinality()
}

// Estimated overheads of Go structures, per value and per map entry.
const (
	stringHeaderBytes = uint64(unsafe.Sizeof(""))
	mapEntryBytes     = 48 // key, pointer and a share of the buckets
	bitmapBytes       = 80 // roaring.Bitmap and its slice headers
)

// memoryBytes estimates the heap ni holds (a loaded partition's container
// data lives in the mapped file and is counted too).
func (ni *nameIndex) memoryBytes() uint64 {
	n := ni.any.GetSizeInBytes() + bitmapBytes
	for v, b := range ni.values {
		n += uint64(len(v)) + stringHeaderBytes + mapEntryBytes + bitmapBytes + b.GetSizeInBytes()
	}
	return n + uint64(len(ni.values))*stringHeaderBytes // sorted
}

func (p *Partition) memoryBytesRLocked() uint64 {
	n := p.all.GetSizeInBytes() + p.seen.sizeBytes()
	for name, ni := range p.names {
		n += uint64(len(name)) + ni.memoryBytes()
	}
	return n
}

// topN keeps the n largest entries pushed, as a min-heap.
type topN struct {
	n int
	h []Stat
}

func newTopN(n int) *topN { return &topN{n: n} }

// wants reports whether push(_, v) would keep the entry, so callers can
// skip building its name.
func (t *topN) wants(v uint64) bool { return len(t.h) < t.n || v > t.h[0].Value }

func (t *topN) push(name string, v uint64) {
	if len(t.h) < t.n {
		t.h = append(t.h, Stat{name, v})
		t.up(len(t.h) - 1)
		return
	}
	if v <= t.h[0].Value {
		return
	}
	t.h[0] = Stat{name, v}
	t.down(0)
}

func (t *topN) up(i int) {
	for i > 0 {
		parent := (i - 1) / 2
		if t.h[parent].Value <= t.h[i].Value {
			return
		}
		t.h[parent], t.h[i] = t.h[i], t.h[parent]
		i = parent
	}
}

func (t *topN) down(i int) {
	for {
		small, l, r := i, 2*i+1, 2*i+2
		if l < len(t.h) && t.h[l].Value < t.h[small].Value {
			small = l
		}
		if r < len(t.h) && t.h[r].Value < t.h[small].Value {
			small = r
		}
		if small == i {
			return
		}
		t.h[small], t.h[i] = t.h[i], t.h[small]
		i = small
	}
}

// sorted returns the entries, largest first, ties by name.
func (t *topN) sorted() []Stat {
	out := slices.Clone(t.h)
	slices.SortFunc(out, func(a, b Stat) int {
		if c := cmp.Compare(b.Value, a.Value); c != 0 {
			return c
		}
		return cmp.Compare(a.Name, b.Name)
	})
	return out
}
