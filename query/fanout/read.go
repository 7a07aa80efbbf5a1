package fanout

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/klauspost/compress/snappy"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"
	"github.com/prometheus/prometheus/storage"
)

// readRequest returns the snappy-compressed ReadRequest of one select:
// the matchers, the range (ms, inclusive) and the hints, asking for
// STREAMED_XOR_CHUNKS only.
func readRequest(minT, maxT int64, hints *storage.SelectHints, ms []*labels.Matcher) ([]byte, error) {
	return readRequestOf(minT, maxT, hints, ms, prompb.ReadRequest_STREAMED_XOR_CHUNKS)
}

// readRequestOf is readRequest asking for the answer type accept only.
func readRequestOf(minT, maxT int64, hints *storage.SelectHints, ms []*labels.Matcher, accept prompb.ReadRequest_ResponseType) ([]byte, error) {
	q := &prompb.Query{StartTimestampMs: minT, EndTimestampMs: maxT}
	for _, m := range ms {
		pm := &prompb.LabelMatcher{Name: m.Name, Value: m.Value}
		switch m.Type {
		case labels.MatchEqual:
			pm.Type = prompb.LabelMatcher_EQ
		case labels.MatchNotEqual:
			pm.Type = prompb.LabelMatcher_NEQ
		case labels.MatchRegexp:
			pm.Type = prompb.LabelMatcher_RE
		case labels.MatchNotRegexp:
			pm.Type = prompb.LabelMatcher_NRE
		default:
			return nil, fmt.Errorf("matcher %s: unknown type %v", m, m.Type)
		}
		q.Matchers = append(q.Matchers, pm)
	}
	if hints != nil {
		q.Hints = &prompb.ReadHints{StartMs: hints.Start, EndMs: hints.End, StepMs: hints.Step, Func: hints.Func,
			Grouping: hints.Grouping, By: hints.By, RangeMs: hints.Range}
	}
	req := prompb.ReadRequest{
		Queries:               []*prompb.Query{q},
		AcceptedResponseTypes: []prompb.ReadRequest_ResponseType{accept},
	}
	raw, err := req.Marshal()
	if err != nil {
		return nil, fmt.Errorf("marshal ReadRequest: %w", err)
	}
	return snappy.Encode(nil, raw), nil
}

// readPeer sends a read request (readRequest's body) to p and decodes its
// streamed answer.
func (q *Queryable) readPeer(ctx context.Context, p Peer, body []byte, d *streamDecoder) ([]rawSeries, error) {
	resp, err := q.postRead(ctx, p, body)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/x-streamed-protobuf") {
		return nil, fmt.Errorf("%w: answer of type %q, want streamed chunks", ErrBadFrame, ct)
	}
	return d.decode(resp.Body)
}

// postRead sends a read request (readRequest's body) to p and returns
// its answer when it is a 2xx (the caller closes its body).
func (q *Queryable) postRead(ctx context.Context, p Peer, body []byte) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(p.URL, "/")+"/api/v1/read", bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrPeerRejected, err)
	}
	req.Header.Set("Content-Type", "application/x-protobuf")
	req.Header.Set("Content-Encoding", "snappy")
	req.Header.Set("X-Prometheus-Remote-Read-Version", "0.1.0")
	q.authorize(req)
	// A read is idempotent: a nil X-Idempotency-Key (not sent) lets the
	// transport retry it on a fresh connection when a kept-alive one turns
	// out dead (a peer restarted), instead of failing the peer.
	req.Header["X-Idempotency-Key"] = nil
	resp, err := q.opts.Client.Do(req)
	if err != nil {
		return nil, err
	}
	if err := checkStatus(resp); err != nil {
		resp.Body.Close()
		return nil, err
	}
	return resp, nil
}

// authorize adds the peers' bearer token, if any.
func (q *Queryable) authorize(req *http.Request) {
	if q.opts.BearerToken != "" {
		req.Header.Set("Authorization", "Bearer "+q.opts.BearerToken)
	}
}
