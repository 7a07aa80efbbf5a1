package fanout

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/util/annotations"

	"github.com/lightningdb/lightningdb/auth"
)

// LabelNames returns the label names of the series matching any of the
// match[] selectors (all series when none) over [minT, maxT] (ms), from
// every peer's /api/v1/labels, merged and sorted. limit > 0 keeps the
// first limit names.
func (q *Queryable) LabelNames(ctx context.Context, minT, maxT int64, match []string, limit int) ([]string, annotations.Annotations, error) {
	return q.names(ctx, "/api/v1/labels", minT, maxT, match, limit)
}

// LabelValues is LabelNames for the values of label name
// (/api/v1/label/<name>/values).
func (q *Queryable) LabelValues(ctx context.Context, name string, minT, maxT int64, match []string, limit int) ([]string, annotations.Annotations, error) {
	return q.names(ctx, "/api/v1/label/"+url.PathEscape(name)+"/values", minT, maxT, match, limit)
}

func (q *Queryable) names(ctx context.Context, path string, minT, maxT int64, match []string, limit int) ([]string, annotations.Annotations, error) {
	match, err := scopedSelectors(ctx, match)
	if err != nil {
		return nil, nil, err
	}
	form := metaForm(minT, maxT, match)
	rs, ws, err := fanMeta[[]string](ctx, q, path, form)
	if err != nil {
		return nil, nil, err
	}
	var out []string
	for _, r := range rs {
		out = append(out, r.val...)
	}
	slices.Sort(out)
	out = slices.Compact(out)
	if limit > 0 && len(out) > limit {
		out = out[:limit]
		ws.Add(fmt.Errorf("results truncated due to limit"))
	}
	if out == nil {
		out = []string{}
	}
	return out, ws, nil
}

// Series returns the label sets of the series matching any of the match[]
// selectors over [minT, maxT] (ms), from every peer's /api/v1/series,
// merged and sorted. limit > 0 keeps the first limit.
func (q *Queryable) Series(ctx context.Context, minT, maxT int64, match []string, limit int) ([]labels.Labels, annotations.Annotations, error) {
	match, err := scopedSelectors(ctx, match)
	if err != nil {
		return nil, nil, err
	}
	rs, ws, err := fanMeta[[]map[string]string](ctx, q, "/api/v1/series", metaForm(minT, maxT, match))
	if err != nil {
		return nil, nil, err
	}
	var out []labels.Labels
	for _, r := range rs {
		for _, m := range r.val {
			out = append(out, labels.FromMap(m))
		}
	}
	slices.SortFunc(out, labels.Compare)
	out = slices.CompactFunc(out, labels.Equal)
	if limit > 0 && len(out) > limit {
		out = out[:limit]
		ws.Add(fmt.Errorf("results truncated due to limit"))
	}
	if out == nil {
		out = []labels.Labels{}
	}
	return out, ws, nil
}

// scopedSelectors returns the match[] selectors limited to the scope of
// ctx's caller (auth.ScopeSets): unchanged for an unlimited caller, else
// parsed, the scope added to each (or alone when there is none) and
// written back.
func scopedSelectors(ctx context.Context, match []string) ([]string, error) {
	if !auth.FromContext(ctx).Limited() {
		return match, nil
	}
	var sets [][]*labels.Matcher
	for _, m := range match {
		ms, err := parser.NewParser(parser.Options{}).ParseMetricSelector(m)
		if err != nil {
			return nil, fmt.Errorf("%w: match[] %q: %v", ErrBadSelector, m, err)
		}
		sets = append(sets, ms)
	}
	var out []string
	for _, ms := range auth.ScopeSets(ctx, sets) {
		out = append(out, selectors(ms)...)
	}
	return out, nil
}

// metaForm is the form of a metadata request: match[], start and end in
// seconds, left out when math.MinInt64 and math.MaxInt64 (all time).
func metaForm(minT, maxT int64, match []string) url.Values {
	form := url.Values{"match[]": match}
	if minT != math.MinInt64 {
		form.Set("start", msToSeconds(minT))
	}
	if maxT != math.MaxInt64 {
		form.Set("end", msToSeconds(maxT))
	}
	return form
}

func msToSeconds(ms int64) string {
	return strconv.FormatFloat(float64(ms)/1000, 'f', 3, 64)
}

// fanMeta sends form to path on every peer and decodes each answer's data
// as T; failures become warnings or the error (verdict).
func fanMeta[T any](ctx context.Context, q *Queryable, path string, form url.Values) ([]result[T], annotations.Annotations, error) {
	peers, missing := q.topo.Peers()
	body := form.Encode()
	rs := gather(ctx, peers, q.opts.PeerTimeout, func(ctx context.Context, p Peer) (T, error) {
		return getJSON[T](ctx, q, strings.TrimSuffix(p.URL, "/")+path, body)
	})
	ws, err := judge(ctx, q, rs, missing)
	if err != nil {
		return nil, nil, err
	}
	ok := rs[:0]
	for _, r := range rs {
		if r.err == nil {
			ok = append(ok, r)
		}
	}
	return ok, ws, nil
}

// peerAnswer is a Prometheus API answer's data and warnings.
type peerAnswer struct {
	Status   string          `json:"status"`
	Data     json.RawMessage `json:"data"`
	Error    string          `json:"error"`
	Warnings []string        `json:"warnings"`
}

// getAnswer GETs u with the form as its query (label values take GET
// only) and decodes a successful Prometheus API answer.
func (q *Queryable) getAnswer(ctx context.Context, u, form string) (peerAnswer, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u+"?"+form, nil)
	if err != nil {
		return peerAnswer{}, fmt.Errorf("%w: %v", ErrPeerRejected, err)
	}
	q.authorize(req)
	resp, err := q.opts.Client.Do(req)
	if err != nil {
		return peerAnswer{}, err
	}
	defer resp.Body.Close()
	if err := checkStatus(resp); err != nil {
		return peerAnswer{}, err
	}
	var ans peerAnswer
	if err := json.NewDecoder(resp.Body).Decode(&ans); err != nil {
		return peerAnswer{}, fmt.Errorf("decode answer: %w", err)
	}
	if ans.Status != "success" {
		return peerAnswer{}, fmt.Errorf("%w: status %q: %s", ErrPeerRejected, ans.Status, ans.Error)
	}
	return ans, nil
}

// getJSON is getAnswer decoding the data as T.
func getJSON[T any](ctx context.Context, q *Queryable, u, form string) (T, error) {
	var v T
	ans, err := q.getAnswer(ctx, u, form)
	if err != nil {
		return v, err
	}
	if err := json.Unmarshal(ans.Data, &v); err != nil {
		return v, fmt.Errorf("decode answer data: %w", err)
	}
	return v, nil
}
