package fanout

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/lightningdb/lightningdb/auth"
)

// Distributed evaluation (Options.DisablePushdown turns it off).
//
// A query of the shape max by (...) (max_over_time(sel[r])), or the same
// with min and min_over_time, is sent whole to every peer, which answers
// it with its own optimizer (block summaries, no samples on the wire),
// and the answers are merged by taking, for each output series and
// timestamp, the max (min) over the peers. This is exact however the
// series are spread: a series held by two peers (a partition moving)
// gives each the same or a partial window, and the max of the partial
// maxima is the maximum. Other shapes are not exact that way (sum and
// count would count a doubly held series twice; max(min_over_time) or
// max(last sample) mix up the windows of a series split in time), so they
// are evaluated here over the peers' samples.

// pushdownOp returns the aggregation of a query that can be evaluated by
// the peers and merged, or false.
func pushdownOp(e parser.Expr) (parser.ItemType, bool) {
	a, ok := unparen(e).(*parser.AggregateExpr)
	if !ok || a.Param != nil || (a.Op != parser.MAX && a.Op != parser.MIN) {
		return 0, false
	}
	c, ok := unparen(a.Expr).(*parser.Call)
	if !ok || c.Func == nil || len(c.Args) != 1 {
		return 0, false
	}
	if want := map[parser.ItemType]string{parser.MAX: "max_over_time", parser.MIN: "min_over_time"}[a.Op]; c.Func.Name != want {
		return 0, false
	}
	if _, ok := c.Args[0].(*parser.MatrixSelector); !ok {
		return 0, false
	}
	return a.Op, true
}

func unparen(e parser.Expr) parser.Expr {
	for {
		p, ok := e.(*parser.ParenExpr)
		if !ok {
			return e
		}
		e = p.Expr
	}
}

// distributed answers the query of r by distributed evaluation when its
// shape allows (pushdownOp) and reports whether it did. path is the API
// path (query or query_range) and params the times to send (time, or
// start, end and step), fixed here so that every peer evaluates the same
// steps.
func (api *API) distributed(w http.ResponseWriter, r *http.Request, path string, params url.Values) bool {
	if api.q.opts.DisablePushdown || auth.FromContext(r.Context()).Limited() {
		return false // a limited caller's scope is applied to the selects
	}
	qs := r.FormValue("query")
	expr, err := parser.NewParser(parser.Options{}).ParseExpr(qs)
	if err != nil {
		return false
	}
	op, ok := pushdownOp(expr)
	if !ok {
		return false
	}
	ctx := r.Context()
	if v := r.FormValue("timeout"); v != "" {
		d, err := parseDuration(v)
		if err != nil || d <= 0 {
			return false // evaluate reports it
		}
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
		params.Set("timeout", v)
	}
	params.Set("query", qs)
	if v := r.FormValue("lookback_delta"); v != "" {
		params.Set("lookback_delta", v)
	}
	form := params.Encode()
	peers, missing := api.q.topo.Peers()
	rs := gather(ctx, peers, api.q.opts.PeerTimeout, func(ctx context.Context, p Peer) (peerAnswer, error) {
		return api.q.getAnswer(ctx, strings.TrimSuffix(p.URL, "/")+path, form)
	})
	ws, err := judge(ctx, api.q, rs, missing)
	if err != nil {
		respondError(w, errorFor(err), err)
		return true
	}
	warnings := warningStrings(ws)
	m := map[string]*promql.Series{}
	resultType := ""
	for _, res := range rs {
		if res.err != nil {
			continue
		}
		rt, err := mergeAnswer(m, res.val.Data, op)
		if err != nil {
			err = &peerError{res.peer, err}
			respondError(w, errorExec, err)
			return true
		}
		if rt != "" {
			resultType = rt
		}
		for _, pw := range res.val.Warnings {
			warnings = append(warnings, (&peerError{res.peer, errors.New(pw)}).Error())
		}
	}
	respond(w, &queryData{ResultType: parser.ValueType(resultTypeOr(resultType, path)), Result: mergedValue(m, resultType, path)}, warnings)
	return true
}

func resultTypeOr(rt, path string) string {
	if rt != "" {
		return rt
	}
	if strings.HasSuffix(path, "_range") {
		return string(parser.ValueTypeMatrix)
	}
	return string(parser.ValueTypeVector)
}

// mergeAnswer merges a peer's vector or matrix into m (labels -> series),
// keeping the max (min) of equal timestamps, and returns its result type.
func mergeAnswer(m map[string]*promql.Series, data json.RawMessage, op parser.ItemType) (string, error) {
	var d struct {
		ResultType string `json:"resultType"`
		Result     []struct {
			Metric map[string]string `json:"metric"`
			Value  *jsonPoint        `json:"value"`
			Values []jsonPoint       `json:"values"`
		} `json:"result"`
	}
	if err := json.Unmarshal(data, &d); err != nil {
		return "", fmt.Errorf("decode result: %w", err)
	}
	if d.ResultType != string(parser.ValueTypeVector) && d.ResultType != string(parser.ValueTypeMatrix) {
		return "", fmt.Errorf("result type %q, want vector or matrix", d.ResultType)
	}
	for _, it := range d.Result {
		lset := labels.FromMap(it.Metric)
		k := lset.String()
		s := m[k]
		if s == nil {
			s = &promql.Series{Metric: lset}
			m[k] = s
		}
		if it.Value != nil {
			s.Floats = append(s.Floats, promql.FPoint(*it.Value))
		}
		for _, p := range it.Values {
			s.Floats = append(s.Floats, promql.FPoint(p))
		}
	}
	for _, s := range m {
		s.Floats = foldPoints(s.Floats, op)
	}
	return d.ResultType, nil
}

// jsonPoint is a point of a Prometheus answer, [seconds, "value"],
// decoded without reflection.
type jsonPoint promql.FPoint

func (p *jsonPoint) UnmarshalJSON(b []byte) error {
	in := bytes.TrimSpace(b)
	if len(in) < 2 || in[0] != '[' || in[len(in)-1] != ']' {
		return fmt.Errorf("point %.40s: want [time, \"value\"]", b)
	}
	ts, vs, ok := bytes.Cut(in[1:len(in)-1], []byte{','})
	vs = bytes.TrimSpace(vs)
	if !ok || len(vs) < 2 || vs[0] != '"' || vs[len(vs)-1] != '"' {
		return fmt.Errorf("point %.40s: want [time, \"value\"]", b)
	}
	sec, err := strconv.ParseFloat(string(bytes.TrimSpace(ts)), 64)
	if err == nil && !(math.Abs(sec) < 9e15) { // NaN, infinities, out of int64 ms
		err = errors.New("out of range")
	}
	if err != nil {
		return fmt.Errorf("point %.40s: time: %w", b, err)
	}
	v, err := strconv.ParseFloat(string(vs[1:len(vs)-1]), 64)
	if err != nil {
		return fmt.Errorf("point %.40s: value: %w", b, err)
	}
	*p = jsonPoint{T: int64(math.Round(sec * 1000)), F: v}
	return nil
}

// foldPoints sorts ps by time and keeps one point a timestamp: the max
// (min) as PromQL's max (min) takes it, a number over NaN.
func foldPoints(ps []promql.FPoint, op parser.ItemType) []promql.FPoint {
	slices.SortStableFunc(ps, func(a, b promql.FPoint) int { return cmpInt(a.T, b.T) })
	out := ps[:0]
	for _, p := range ps {
		if n := len(out); n > 0 && out[n-1].T == p.T {
			cur := &out[n-1].F
			if math.IsNaN(*cur) || (op == parser.MAX && p.F > *cur) || (op == parser.MIN && p.F < *cur) {
				*cur = p.F
			}
			continue
		}
		out = append(out, p)
	}
	return out
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// mergedValue returns the merged series as a matrix or vector, sorted by
// labels.
func mergedValue(m map[string]*promql.Series, resultType, path string) parser.Value {
	list := make([]*promql.Series, 0, len(m))
	for _, s := range m {
		list = append(list, s)
	}
	slices.SortFunc(list, func(a, b *promql.Series) int { return labels.Compare(a.Metric, b.Metric) })
	if resultTypeOr(resultType, path) == string(parser.ValueTypeMatrix) {
		mat := promql.Matrix{}
		for _, s := range list {
			mat = append(mat, *s)
		}
		return mat
	}
	vec := promql.Vector{}
	for _, s := range list {
		for _, p := range s.Floats {
			vec = append(vec, promql.Sample{Metric: s.Metric, T: p.T, F: p.F})
		}
	}
	return vec
}
