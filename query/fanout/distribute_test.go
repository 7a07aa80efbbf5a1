package fanout

import (
	"math"
	"testing"

	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/stretchr/testify/require"
)

func TestPushdownOp(t *testing.T) {
	for q, want := range map[string]bool{
		`max(max_over_time(x[5m]))`:                              true,
		`(max by (a) ((max_over_time(x{a="b"}[5m] offset 1m))))`: true,
		`min without (a) (min_over_time(x[1m]))`:                 true,
		`max(min_over_time(x[5m]))`:                              false, // a series split in time
		`min(max_over_time(x[5m]))`:                              false,
		`max(x)`:                                                 false, // the latest sample of a split series
		`sum(max_over_time(x[5m]))`:                              false, // a doubly held series counted twice
		`max(max_over_time(rate(x[1m])[5m:]))`:                   false,
		`topk(1, max_over_time(x[5m]))`:                          false,
		`max(max_over_time(x[5m])) + 1`:                          false,
	} {
		e, err := parser.NewParser(parser.Options{}).ParseExpr(q)
		require.NoError(t, err)
		_, ok := pushdownOp(e)
		require.Equal(t, want, ok, q)
	}
}

func TestFoldPoints(t *testing.T) {
	ps := []promql.FPoint{{T: 2, F: 1}, {T: 1, F: math.NaN()}, {T: 1, F: 3}, {T: 2, F: 5}, {T: 3, F: -1}}
	got := foldPoints(append([]promql.FPoint(nil), ps...), parser.MAX)
	require.Equal(t, []promql.FPoint{{T: 1, F: 3}, {T: 2, F: 5}, {T: 3, F: -1}}, got)
	got = foldPoints(append([]promql.FPoint(nil), ps...), parser.MIN)
	require.Equal(t, []promql.FPoint{{T: 1, F: 3}, {T: 2, F: 1}, {T: 3, F: -1}}, got)
}
