package remote

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/prometheus/prometheus/prompb"

	"github.com/lightningdb/lightningdb/series"
	"github.com/lightningdb/lightningdb/tagindex"
)

// readQuery is one query of a read request, resolved: the range in ns and
// the matching series sorted by labels (as Prometheus's merge expects).
type readQuery struct {
	minT, maxT int64
	series     []readSeries
}

// readSeries is a matching series: its ID and its canonical labels, the
// registry's own bytes (not copied: 32 bytes a series however many labels
// it has, so ReadMaxSeries of them cost little).
type readSeries struct {
	id     series.ID
	labels []byte
}

// ServeRead serves POST /api/v1/read.
func (h *Handler) ServeRead(w http.ResponseWriter, r *http.Request) {
	h.c.readRequests.Add(1)
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if h.store == nil {
		http.Error(w, "remote read is not enabled", http.StatusNotImplemented)
		return
	}
	req, err := h.readRequest(r)
	if err != nil {
		h.readFailed(w, err)
		return
	}
	if err := h.acquireRead(r.Context()); err != nil {
		h.readFailed(w, err)
		return
	}
	defer func() { <-h.readSem }()
	answer, err := negotiate(req.AcceptedResponseTypes)
	if err != nil {
		h.readFailed(w, err)
		return
	}
	queries, err := h.resolve(r.Context(), req.Queries)
	if err != nil {
		h.readFailed(w, err)
		return
	}
	switch answer {
	case prompb.ReadRequest_STREAMED_XOR_CHUNKS:
		h.serveChunks(r.Context(), w, queries)
	case ReadTypedSeries:
		h.serveTyped(r.Context(), w, queries) // typed.go
	default:
		h.serveSamples(r.Context(), w, queries)
	}
}

// readFailed answers a remote read that failed before its answer began,
// and counts the refusals.
func (h *Handler) readFailed(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, context.Canceled):
		// The client is gone; nobody reads an answer.
	case errors.Is(err, ErrReadBusy):
		h.c.readBusy.Add(1)
		h.retryLater(w, err.Error())
	case errors.Is(err, ErrInflightLimit):
		h.c.readOverloaded.Add(1)
		h.retryLater(w, err.Error())
	case errors.Is(err, ErrReadLimit):
		h.c.readRejected.Add(1)
		http.Error(w, err.Error(), http.StatusBadRequest)
	case errors.Is(err, ErrBodyTooLarge):
		http.Error(w, err.Error(), http.StatusRequestEntityTooLarge)
	case errors.Is(err, ErrBadSnappy), errors.Is(err, ErrBadProtobuf), errors.Is(err, ErrNoResponseType),
		errors.Is(err, errBadMatcher), errors.Is(err, errReadBody):
		http.Error(w, err.Error(), http.StatusBadRequest)
	default:
		http.Error(w, err.Error(), http.StatusInternalServerError)
	}
}

// acquireRead takes one of the ReadConcurrency slots, waiting at most
// ReadQueueTimeout (ErrReadBusy) or until ctx ends.
func (h *Handler) acquireRead(ctx context.Context) error {
	select {
	case h.readSem <- struct{}{}:
		return nil
	default:
	}
	var timeout <-chan time.Time
	if h.opts.ReadQueueTimeout > 0 {
		t := time.NewTimer(h.opts.ReadQueueTimeout)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case h.readSem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-timeout:
		return fmt.Errorf("%w: waited %v for one of %d (read_concurrency); retry later",
			ErrReadBusy, h.opts.ReadQueueTimeout, h.opts.ReadConcurrency)
	}
}

// readRequest reads and decodes a ReadRequest. Its body and decoded bytes
// are held in the budget only until it is decoded: the answer is bounded
// by the read limits and slots instead.
func (h *Handler) readRequest(r *http.Request) (*prompb.ReadRequest, error) {
	l := lease{Budget: h.opts.Budget}
	defer l.Release()
	raw, err := readBody(nil, r, h.opts.MaxBodyBytes, &l, make([]byte, 1))
	if err != nil {
		return nil, err
	}
	return decodeReadRequest(raw, h.opts.MaxDecodedBytes, &l)
}

// decodeReadRequest decodes a snappy ReadRequest of at most maxDecoded
// bytes once decoded, reserving them in l.
func decodeReadRequest(raw []byte, maxDecoded int64, l *lease) (*prompb.ReadRequest, error) {
	var buf []byte
	body, err := decodeSnappy(&buf, raw, maxDecoded, l)
	if err != nil {
		return nil, err
	}
	var req prompb.ReadRequest
	if err := req.Unmarshal(body); err != nil {
		return nil, fmt.Errorf("%w: ReadRequest: %v", ErrBadProtobuf, err)
	}
	return &req, nil
}

// negotiate picks the first accepted response type the server supports
// (SAMPLES, STREAMED_XOR_CHUNKS or our ReadTypedSeries); none listed
// means SAMPLES.
func negotiate(accepted []prompb.ReadRequest_ResponseType) (prompb.ReadRequest_ResponseType, error) {
	if len(accepted) == 0 {
		return prompb.ReadRequest_SAMPLES, nil
	}
	for _, t := range accepted {
		switch t {
		case prompb.ReadRequest_SAMPLES, prompb.ReadRequest_STREAMED_XOR_CHUNKS, ReadTypedSeries:
			return t, nil
		}
	}
	return 0, fmt.Errorf("%w: %v", ErrNoResponseType, accepted)
}

var errBadMatcher = errors.New("invalid matcher")

// resolve turns the queries into series lists, enforcing ReadMaxSeries
// over the whole request before anything is written.
func (h *Handler) resolve(ctx context.Context, qs []*prompb.Query) ([]readQuery, error) {
	out := make([]readQuery, len(qs))
	total := 0
	for i, q := range qs {
		minT, maxT := queryRange(q)
		ms, err := indexMatchers(q.Matchers)
		if err != nil {
			return nil, fmt.Errorf("query %d: %w", i, err)
		}
		bm, err := h.store.Postings(ctx, minT, maxT, ms...)
		if err != nil {
			return nil, fmt.Errorf("query %d: postings: %w", i, err)
		}
		total += int(bm.GetCardinality())
		if total > h.opts.ReadMaxSeries {
			return nil, fmt.Errorf("%w: more than %d series match (ReadMaxSeries; narrow the matchers or the time range)", ErrReadLimit, h.opts.ReadMaxSeries)
		}
		rq := readQuery{minT: minT, maxT: maxT, series: make([]readSeries, 0, bm.GetCardinality())}
		it := bm.Iterator()
		for it.HasNext() {
			id := it.Next()
			if ls := h.store.Labels(id); validCanonical(ls) {
				rq.series = append(rq.series, readSeries{id: id, labels: ls})
			}
		}
		slices.SortFunc(rq.series, func(a, b readSeries) int { return compareCanonical(a.labels, b.labels) })
		out[i] = rq
	}
	return out, nil
}

// queryRange returns a query's range in ns, narrowed by its hints when
// they are narrower (Prometheus sets them to what the PromQL selector
// needs, lookback included).
func queryRange(q *prompb.Query) (minT, maxT int64) {
	start, end := q.StartTimestampMs, q.EndTimestampMs
	if hs := q.Hints; hs != nil {
		if hs.StartMs > start && hs.StartMs <= end {
			start = hs.StartMs
		}
		if hs.EndMs > 0 && hs.EndMs < end && hs.EndMs >= start {
			end = hs.EndMs
		}
	}
	// A sample stored with ns precision inside the last millisecond rounds
	// down to it, so it belongs to the answer.
	minT, maxT = msToNsClamped(start), msToNsClamped(end)
	maxT = min(maxT, series.MaxTime-999_999) + 999_999
	return minT, maxT
}

// msToNsClamped converts ms to ns, clamped to series.MinTime..MaxTime.
func msToNsClamped(ms int64) int64 {
	if ns, ok := msToNs(ms); ok {
		return ns
	}
	if ms < 0 {
		return series.MinTime
	}
	return series.MaxTime
}

// nsToMs converts ns to ms, rounding down (towards minus infinity).
func nsToMs(ns int64) int64 {
	ms := ns / 1e6
	if ns%1e6 < 0 {
		ms--
	}
	return ms
}

func indexMatchers(ms []*prompb.LabelMatcher) ([]*tagindex.Matcher, error) {
	out := make([]*tagindex.Matcher, 0, len(ms))
	for _, m := range ms {
		var t tagindex.MatchType
		switch m.Type {
		case prompb.LabelMatcher_EQ:
			t = tagindex.MatchEqual
		case prompb.LabelMatcher_NEQ:
			t = tagindex.MatchNotEqual
		case prompb.LabelMatcher_RE:
			t = tagindex.MatchRegexp
		case prompb.LabelMatcher_NRE:
			t = tagindex.MatchNotRegexp
		default:
			return nil, fmt.Errorf("%w: unknown matcher type %d", errBadMatcher, m.Type)
		}
		tm, err := tagindex.NewMatcher(t, m.Name, m.Value)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", errBadMatcher, err)
		}
		out = append(out, tm)
	}
	return out, nil
}

// promLabels converts canonical labels (sorted) to prompb labels.
func promLabels(canon []byte) []prompb.Label {
	if len(canon) == 0 {
		return nil
	}
	var ls []prompb.Label
	if err := series.ForEachCanonical(canon, func(name, value []byte) error {
		ls = append(ls, prompb.Label{Name: string(name), Value: string(value)})
		return nil
	}); err != nil {
		return nil
	}
	return ls
}

// validCanonical reports whether canon is a non-empty canonical label
// form.
func validCanonical(canon []byte) bool {
	return len(canon) > 0 && series.ForEachCanonical(canon, func(_, _ []byte) error { return nil }) == nil
}

// compareCanonical orders canonical label forms (valid ones) as
// Prometheus's labels.Compare orders the label sets: name, then value,
// label by label; a set that is a prefix of the other comes first.
func compareCanonical(a, b []byte) int {
	for len(a) > 0 && len(b) > 0 {
		var x, y [2][]byte
		x[0], a = nextCanonical(a)
		x[1], a = nextCanonical(a)
		y[0], b = nextCanonical(b)
		y[1], b = nextCanonical(b)
		for i := range x {
			if c := bytes.Compare(x[i], y[i]); c != 0 {
				return c
			}
		}
	}
	return cmpLen(len(a), len(b))
}

// nextCanonical splits the next length-prefixed string off a canonical
// form (a valid one).
func nextCanonical(src []byte) (s, rest []byte) {
	n, k := binary.Uvarint(src)
	return src[k : k+int(n)], src[k+int(n):]
}

func cmpLen(a, b int) int {
	switch {
	case a > 0 && b == 0:
		return 1
	case a == 0 && b > 0:
		return -1
	}
	return 0
}
