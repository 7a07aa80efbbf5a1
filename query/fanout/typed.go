package fanout

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/util/annotations"

	"github.com/lightningdb/lightningdb/auth"
	"github.com/lightningdb/lightningdb/remote"
	lseries "github.com/lightningdb/lightningdb/series"
)

// SelectTyped reads the series matching ms (with a limited caller's
// scope) over [minT, maxT] (ns) from every peer as typed answers
// (remote.ReadTypedSeries: value types, raw values, nanosecond
// timestamps), for callers that need what the peers store rather than
// PromQL's floats (InfluxQL on a query node). The peers answer whole
// milliseconds, so series may hold samples a little outside the range.
//
// The answers are merged as Select merges them: series with the same
// labels are one, and of samples with the same timestamp the first
// peer's (in topology order) is kept. When peers hold a series with
// different value types, the first peer's type is kept and a warning
// names the samples left out. Failed peers and missing parts give
// warnings or the error, as for Select (verdict). maxSamples (0: none)
// and Options.MaxSamples both bound the samples held, counted as they are
// decoded (ErrTooManySamples). The returned series are sorted by their
// canonical labels.
func (q *Queryable) SelectTyped(ctx context.Context, minT, maxT, maxSamples int64, ms ...*labels.Matcher) ([]remote.TypedSeries, annotations.Annotations, error) {
	return q.SelectTypedSets(ctx, minT, maxT, maxSamples, [][]*labels.Matcher{ms})
}

// SelectTypedSets is SelectTyped for the union of the series matching any
// of sets (export's match[] selectors): one remote read request per peer
// with one query per set. A series matching several sets is read once per
// set (counted so against maxSamples) and merged into one.
func (q *Queryable) SelectTypedSets(ctx context.Context, minT, maxT, maxSamples int64, sets [][]*labels.Matcher) ([]remote.TypedSeries, annotations.Annotations, error) {
	scoped := make([][]*labels.Matcher, len(sets))
	for i, ms := range sets {
		scoped[i] = auth.ScopeMatchers(ctx, ms)
	}
	body, err := readRequestSets(lseries.FloorDiv(minT, 1e6), -lseries.FloorDiv(-maxT, 1e6), nil, scoped, remote.ReadTypedSeries)
	if err != nil {
		return nil, nil, err
	}
	if n := q.opts.MaxSamples; n > 0 && (maxSamples <= 0 || n < maxSamples) {
		maxSamples = n
	}
	left := newLimit(maxSamples)
	d := &remote.TypedDecoder{MaxFrame: q.opts.MaxFrameBytes, Take: left.take, ErrTooMany: ErrTooManySamples}
	peers, missing := q.topo.Peers()
	rs := gather(ctx, peers, q.opts.PeerTimeout, func(ctx context.Context, p Peer) ([]remote.TypedSeries, error) {
		return q.readPeerTyped(ctx, p, body, d)
	})
	ws, err := judge(ctx, q, rs, missing)
	if err != nil {
		return nil, nil, err
	}
	var ok []result[[]remote.TypedSeries]
	for _, r := range rs {
		if r.err == nil {
			ok = append(ok, r)
		}
	}
	out, conflicts := mergeTyped(ok)
	for _, c := range conflicts {
		ws.Add(errors.New("fanout: " + c))
	}
	return out, ws, nil
}

// readPeerTyped sends a typed read request to p and decodes its answer.
func (q *Queryable) readPeerTyped(ctx context.Context, p Peer, body []byte, d *remote.TypedDecoder) ([]remote.TypedSeries, error) {
	resp, err := q.postRead(ctx, p, body)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != remote.TypedContentType {
		// A 2xx of another type: not a Lightning DB peer that knows typed
		// answers (an older one refuses them with 400).
		return nil, fmt.Errorf("%w: answer of type %q, want %q", ErrPeerRejected, ct, remote.TypedContentType)
	}
	return d.Decode(resp.Body)
}

// mergeTyped joins the peers' answers (in peer order) into one list
// sorted by canonical labels, as merge does for Select. It returns a
// description of each series whose type differs between peers.
func mergeTyped(rs []result[[]remote.TypedSeries]) ([]remote.TypedSeries, []string) {
	type item struct {
		s    remote.TypedSeries
		peer Peer
	}
	var all []item
	for _, r := range rs {
		for _, s := range r.val {
			all = append(all, item{s, r.peer})
		}
	}
	// Stable: equal labels stay in peer order, so the first peer wins.
	slices.SortStableFunc(all, func(a, b item) int { return bytes.Compare(a.s.Labels, b.s.Labels) })
	var out []remote.TypedSeries
	var conflicts []string
	for i := 0; i < len(all); {
		s, j := all[i].s, i+1
		for ; j < len(all) && bytes.Equal(all[j].s.Labels, s.Labels); j++ {
			if o := all[j]; o.s.Type != s.Type {
				conflicts = append(conflicts, fmt.Sprintf("series %s: %d %s samples of %s left out (the series is %s on %s)",
					lseries.CanonicalString(s.Labels), len(o.s.Ts), o.s.Type, peerName(o.peer), s.Type, peerName(all[i].peer)))
				continue
			}
			s = mergeTypedSamples(s, all[j].s)
		}
		out = append(out, s)
		i = j
	}
	return out, conflicts
}

// mergeTypedSamples merges b's samples into a's (same type); a wins on
// equal timestamps.
func mergeTypedSamples(a, b remote.TypedSeries) remote.TypedSeries {
	if len(b.Ts) == 0 {
		return a
	}
	if len(a.Ts) == 0 {
		return b
	}
	out := remote.TypedSeries{Query: a.Query, Labels: a.Labels, Type: a.Type,
		Ts: make([]int64, 0, len(a.Ts)+len(b.Ts)), Vals: make([]uint64, 0, len(a.Ts)+len(b.Ts))}
	str := a.Type == lseries.TypeString
	add := func(s *remote.TypedSeries, k int) {
		out.Ts = append(out.Ts, s.Ts[k])
		if !str {
			out.Vals = append(out.Vals, s.Vals[k])
			return
		}
		v := s.String(k)
		out.Vals = append(out.Vals, uint64(len(out.Strs))<<32|uint64(len(v)))
		out.Strs = append(out.Strs, v...)
	}
	i, j := 0, 0
	for i < len(a.Ts) && j < len(b.Ts) {
		switch {
		case a.Ts[i] < b.Ts[j]:
			add(&a, i)
			i++
		case a.Ts[i] > b.Ts[j]:
			add(&b, j)
			j++
		default:
			add(&a, i)
			i++
			j++
		}
	}
	for ; i < len(a.Ts); i++ {
		add(&a, i)
	}
	for ; j < len(b.Ts); j++ {
		add(&b, j)
	}
	return out
}
