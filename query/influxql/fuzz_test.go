package influxql

import (
	"context"
	"strings"
	"testing"
	"time"

	ql "github.com/influxdata/influxql"
)

// FuzzStatement parses any text as InfluxQL and runs what parses against a
// small dataset with tight limits: nothing may panic, and every statement
// must finish within the limits (bounded work).
func FuzzStatement(f *testing.F) {
	for _, s := range []string{
		`SELECT mean("usage_idle") FROM "cpu" WHERE time >= 900000ms and time <= 1300000ms GROUP BY time(1m) fill(null)`,
		`SELECT * FROM /.*/ WHERE host =~ /a/ OR region != 'eu' ORDER BY time DESC LIMIT 2 OFFSET 1 SLIMIT 1`,
		`SELECT derivative(mean(usage_idle), 1s), difference(max(usage_user)) FROM cpu GROUP BY time(30s, 10s), * fill(linear)`,
		`SELECT top(usage_idle, 2), bottom(usage_user, 1) FROM cpu`,
		`SELECT percentile(usage_idle, 50), median(usage_user), mode(s), spread(used), stddev(usage_idle), integral(usage_idle, 1m) FROM cpu, mem`,
		`SELECT mean(x) FROM (SELECT max(usage_idle) AS x FROM cpu GROUP BY time(1m), host) GROUP BY time(2m) tz('Europe/Paris')`,
		`SELECT usage_idle * 2 / usage_user % 3 FROM cpu WHERE usage_user > 3 AND time > now() - 1h`,
		`SELECT count(distinct(s)), cumulative_sum(usage_idle), moving_average(usage_idle, 2), elapsed(usage_idle) FROM mem`,
		`SHOW TAG VALUES FROM cpu WITH KEY IN ("host", "region") WHERE host != 'b'`,
		`SHOW SERIES EXACT CARDINALITY FROM /c.*/ WHERE region = 'eu'`,
		`EXPLAIN SELECT max(usage_idle) FROM cpu GROUP BY time(1m)`,
		`SELECT sample(usage_idle, 3), non_negative_derivative(usage_idle, 1ms) FROM cpu`,
		`SELECT mean(usage_idle) FROM cpu WHERE time >= -9223372036854775806 GROUP BY time(1h) tz('Asia/Tokyo')`,
		`SELECT count(usage_idle) FROM cpu WHERE time <= 9223372036854775806 GROUP BY time(1000000000000000000ns, 999999999999999999ns)`,
		`SELECT non_negative_derivative(mean(usage_idle), 1s) * 8, 1 - moving_average(max(usage_user), 3) FROM cpu WHERE time >= 960s GROUP BY time(1m), host fill(previous)`,
		`SELECT usage_idle::integer, host, nosuch FROM cpu, mem WHERE (host = 'a' OR host = 'b') AND nosuch = '' ORDER BY time DESC LIMIT 1 OFFSET 1`,
		`SELECT cumulative_sum(count(usage_idle)), percentile(usage_idle, 0) FROM cpu WHERE time >= 900s AND time <= 1200s GROUP BY time(1m)`,
	} {
		f.Add(s)
	}
	e, _ := openTest(f, "t", testLines)
	e.opts.MaxPoints, e.opts.MaxSamples, e.opts.MaxSeries, e.opts.Timeout = 10_000, 1_000, 100, 2*time.Second
	f.Fuzz(func(t *testing.T, q string) {
		stmt, err := ql.ParseStatement(q)
		if err != nil {
			return
		}
		start := time.Now()
		res := e.Execute(context.Background(), stmt, Params{DB: "t"})
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("%q took %v", q, d)
		}
		if res.Err != nil && strings.Contains(res.Err.Error(), "internal error") {
			t.Fatalf("%q: %v", q, res.Err)
		}
		n := 0
		for _, r := range res.Series {
			n += len(r.Values)
		}
		if n > 10_000+maxTopN {
			t.Fatalf("%q gave %d rows, past the limits", q, n)
		}
	})
}
