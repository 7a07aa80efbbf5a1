package fanout

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/klauspost/compress/snappy"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"
	"github.com/prometheus/prometheus/storage"
)

// Limits of a remote read request to the query node.
const (
	maxReadBodyBytes    = 16 << 20
	maxReadDecodedBytes = 64 << 20
)

var errBadReadRequest = errors.New("bad remote read request")

// decodeReadRequest decodes a snappy-compressed ReadRequest and its
// matchers.
func decodeReadRequest(body []byte) (*prompb.ReadRequest, [][]*labels.Matcher, error) {
	n, err := snappy.DecodedLen(body)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: snappy: %v", errBadReadRequest, err)
	}
	if n > maxReadDecodedBytes {
		return nil, nil, fmt.Errorf("%w: %d bytes decoded, over %d", errBadReadRequest, n, maxReadDecodedBytes)
	}
	raw, err := snappy.Decode(nil, body)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: snappy: %v", errBadReadRequest, err)
	}
	var req prompb.ReadRequest
	if err := req.Unmarshal(raw); err != nil {
		return nil, nil, fmt.Errorf("%w: ReadRequest: %v", errBadReadRequest, err)
	}
	sets := make([][]*labels.Matcher, len(req.Queries))
	for i, q := range req.Queries {
		if q == nil {
			return nil, nil, fmt.Errorf("%w: query %d is empty", errBadReadRequest, i)
		}
		for _, pm := range q.Matchers {
			var t labels.MatchType
			switch pm.Type {
			case prompb.LabelMatcher_EQ:
				t = labels.MatchEqual
			case prompb.LabelMatcher_NEQ:
				t = labels.MatchNotEqual
			case prompb.LabelMatcher_RE:
				t = labels.MatchRegexp
			case prompb.LabelMatcher_NRE:
				t = labels.MatchNotRegexp
			default:
				return nil, nil, fmt.Errorf("%w: query %d: unknown matcher type %d", errBadReadRequest, i, pm.Type)
			}
			m, err := labels.NewMatcher(t, pm.Name, pm.Value)
			if err != nil {
				return nil, nil, fmt.Errorf("%w: query %d: %v", errBadReadRequest, i, err)
			}
			sets[i] = append(sets[i], m)
		}
	}
	return &req, sets, nil
}

// ServeRead answers a remote read (POST /api/v1/read) for the peers, as
// STREAMED_XOR_CHUNKS or SAMPLES, whichever the client lists first.
// Remote read has no warnings, so a partial answer is refused (503) and
// never sent.
func (api *API) ServeRead(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxReadBodyBytes))
	if err != nil {
		http.Error(w, fmt.Sprintf("read body: %v", err), http.StatusBadRequest)
		return
	}
	req, sets, err := decodeReadRequest(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	streamed := false
	for _, t := range req.AcceptedResponseTypes {
		if t == prompb.ReadRequest_STREAMED_XOR_CHUNKS || t == prompb.ReadRequest_SAMPLES {
			streamed = t == prompb.ReadRequest_STREAMED_XOR_CHUNKS
			break
		}
	}
	ctx := WithPartialResponse(r.Context(), false)
	answers := make([][]rawSeries, len(req.Queries))
	for i, q := range req.Queries {
		if answers[i], err = api.readQuery(ctx, q, sets[i]); err != nil {
			code := http.StatusInternalServerError
			switch {
			case errors.Is(err, ErrPartialResponse):
				code = http.StatusServiceUnavailable
			case errors.Is(err, ErrPeerRejected), errors.Is(err, ErrTooManySamples):
				code = http.StatusBadRequest
			}
			http.Error(w, fmt.Sprintf("query %d: %v", i, err), code)
			return
		}
	}
	if streamed {
		api.writeChunks(w, answers)
		return
	}
	api.writeSamples(w, answers)
}

// readQuery selects one query's series over its range (narrowed by its
// hints, as our remote read server does).
func (api *API) readQuery(ctx context.Context, q *prompb.Query, ms []*labels.Matcher) ([]rawSeries, error) {
	minT, maxT := q.StartTimestampMs, q.EndTimestampMs
	hints := &storage.SelectHints{Start: minT, End: maxT}
	if h := q.Hints; h != nil {
		hints = &storage.SelectHints{Start: max(minT, h.StartMs), End: maxT, Step: h.StepMs, Func: h.Func, Grouping: h.Grouping, By: h.By, Range: h.RangeMs}
		if h.EndMs > 0 {
			hints.End = min(maxT, h.EndMs)
		}
	}
	qr, err := api.q.Querier(minT, maxT)
	if err != nil {
		return nil, err
	}
	ss := qr.Select(ctx, true, hints, ms...)
	if err := ss.Err(); err != nil {
		return nil, err
	}
	return ss.(*seriesSet).list, nil
}

func (api *API) writeChunks(w http.ResponseWriter, answers [][]rawSeries) {
	w.Header().Set("Content-Type", "application/x-streamed-protobuf; proto=prometheus.ChunkedReadResponse")
	var buf []byte
	for qi, ss := range answers {
		for i := range ss {
			var err error
			if buf, err = appendSeriesFrames(buf[:0], int64(qi), &ss[i]); err != nil {
				api.q.opts.Logger.Warn("fan-out remote read: answer cut", "err", err)
				panic(http.ErrAbortHandler)
			}
			if _, err := w.Write(buf); err != nil {
				return
			}
		}
	}
}

func (api *API) writeSamples(w http.ResponseWriter, answers [][]rawSeries) {
	resp := prompb.ReadResponse{Results: make([]*prompb.QueryResult, len(answers))}
	for qi, ss := range answers {
		qr := &prompb.QueryResult{}
		for _, s := range ss {
			ts := &prompb.TimeSeries{Labels: promLabels(s.lset), Samples: make([]prompb.Sample, len(s.ts))}
			for k := range s.ts {
				ts.Samples[k] = prompb.Sample{Timestamp: s.ts[k], Value: s.vs[k]}
			}
			qr.Timeseries = append(qr.Timeseries, ts)
		}
		resp.Results[qi] = qr
	}
	raw, err := resp.Marshal()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.Header().Set("Content-Encoding", "snappy")
	w.Write(snappy.Encode(nil, raw))
}
