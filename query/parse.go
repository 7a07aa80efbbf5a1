package query

import (
	"context"
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
)

// rejectReasons are the values of query_rejected_total's reason label.
var rejectReasons = []string{"query_length", "points", "empty_matchers", "series", "samples", "samples_in_memory", "timeout", "concurrency"}

// newRejectedCounter returns query_rejected_total on reg (nil: not
// registered), with every reason present from the start.
func newRejectedCounter(reg prometheus.Registerer) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "query_rejected_total",
		Help: "PromQL and Prometheus API requests refused by a query limit, by limit.",
	}, []string{"reason"})
	for _, r := range rejectReasons {
		c.WithLabelValues(r)
	}
	if reg != nil {
		reg.MustRegister(c)
	}
	return c
}

// countRejected counts err in query_rejected_total if a limit refused it.
func (api *API) countRejected(err error) {
	if r := rejectReason(err); r != "" {
		api.rejected.WithLabelValues(r).Inc()
	}
}

// rejectReason is errReason extended with the PromQL engine's limits.
func rejectReason(err error) string {
	var (
		ets promql.ErrTooManySamples
		eqt promql.ErrQueryTimeout
	)
	switch {
	case errors.As(err, &ets):
		return "samples_in_memory"
	case errors.As(err, &eqt), errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	}
	return errReason(err)
}

// parseExpr parses the PromQL expression of parameter param after checking
// its length.
func (api *API) parseExpr(param, qs string) (parser.Expr, *apiError) {
	if err := checkQueryLength(param, qs, api.a.opts.MaxQueryLength); err != nil {
		return nil, badData(err)
	}
	expr, err := api.parser.ParseExpr(qs)
	if err != nil {
		return nil, invalidParam(param, err)
	}
	return expr, nil
}

// parseMatchers parses match[] selectors: each within the length limit,
// and each with a matcher that does not match the empty string.
func (api *API) parseMatchers(selectors []string) ([][]*labels.Matcher, error) {
	return parseSelectors(api.parser, selectors, api.a.opts.MaxQueryLength)
}

// ParseMatchers parses match[] selectors as /api/v1/series does, for
// other endpoints that take them (export): within the expression length
// limit and each with a matcher that does not match the empty string. A
// refusal is counted in query_rejected_total.
func (api *API) ParseMatchers(selectors []string) ([][]*labels.Matcher, error) {
	sets, err := api.parseMatchers(selectors)
	if err != nil {
		api.countRejected(err)
		return nil, err
	}
	return sets, nil
}

// ParseMatchSelectors parses match[] selectors as API.ParseMatchers does,
// without an API (a query node's export): each at most maxQueryLength
// bytes (<= 0: no limit) and each with a matcher that does not match the
// empty string.
func ParseMatchSelectors(selectors []string, maxQueryLength int) ([][]*labels.Matcher, error) {
	return parseSelectors(parser.NewParser(parser.Options{}), selectors, maxQueryLength)
}

func parseSelectors(p parser.Parser, selectors []string, maxQueryLength int) ([][]*labels.Matcher, error) {
	out := make([][]*labels.Matcher, 0, len(selectors))
	for _, s := range selectors {
		if err := checkQueryLength("match[]", s, maxQueryLength); err != nil {
			return nil, err
		}
		ms, err := p.ParseMetricSelector(s)
		if err != nil {
			return nil, fmt.Errorf("%q: %w", s, err)
		}
		if err := checkMatchers(ms); err != nil {
			return nil, fmt.Errorf("%q: %w", s, err)
		}
		out = append(out, ms)
	}
	return out, nil
}
