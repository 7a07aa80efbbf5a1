package influxql

import (
	"context"
	"fmt"
	"strings"
	"testing"

	ql "github.com/influxdata/influxql"
)

// tsbsFields are TSBS cpu-only's fields.
var tsbsFields = []string{"usage_user", "usage_system", "usage_idle", "usage_nice", "usage_iowait",
	"usage_irq", "usage_softirq", "usage_steal", "usage_guest", "usage_guest_nice"}

// openTSBS loads TSBS-like cpu data (hosts × steps at 10 s, ten tags and
// ten fields per point) and flushes it to segments.
func openTSBS(b *testing.B, hosts, steps int) *Executor {
	b.Helper()
	var sb strings.Builder
	for s := 0; s < steps; s++ {
		for h := 0; h < hosts; h++ {
			fmt.Fprintf(&sb, "cpu,hostname=host_%d,region=r%d,datacenter=d%d,rack=%d,os=Ubuntu,arch=x64,team=T%d,service=%d,service_version=1,service_environment=prod ",
				h, h%3, h%7, h%50, h%4, h%20)
			for i, f := range tsbsFields {
				if i > 0 {
					sb.WriteByte(',')
				}
				fmt.Fprintf(&sb, "%s=%d", f, (s*7+h*13+i*31)%100)
			}
			fmt.Fprintf(&sb, " %d\n", int64(s)*10e9)
		}
	}
	e, eng := openTest(b, "bench", sb.String())
	if err := eng.Flush(context.Background()); err != nil {
		b.Fatal(err)
	}
	return e
}

func mustParse(tb testing.TB, q string) ql.Statement {
	tb.Helper()
	stmt, err := ql.ParseStatement(q)
	if err != nil {
		tb.Fatal(err)
	}
	return stmt
}

// BenchmarkTSBS runs TSBS cpu-only query shapes in their InfluxQL form.
func BenchmarkTSBS(b *testing.B) {
	e := openTSBS(b, 100, 1080)
	hosts := func(n int) string {
		var or []string
		for i := 0; i < n; i++ {
			or = append(or, fmt.Sprintf("hostname = 'host_%d'", i*7))
		}
		return "(" + strings.Join(or, " or ") + ")"
	}
	maxOf := func(n int) string {
		var s []string
		for _, f := range tsbsFields[:n] {
			s = append(s, "max("+f+")")
		}
		return strings.Join(s, ", ")
	}
	tr := func(h int) string {
		return fmt.Sprintf("time >= '1970-01-01T01:00:00Z' and time < '1970-01-01T%02d:00:00Z'", 1+h)
	}
	cases := []struct{ name, q string }{
		{"single-groupby-1-1-1", "SELECT " + maxOf(1) + " from cpu where " + hosts(1) + " and " + tr(1) + " group by time(1m)"},
		{"single-groupby-1-8-1", "SELECT " + maxOf(1) + " from cpu where " + hosts(8) + " and " + tr(1) + " group by time(1m)"},
		{"single-groupby-5-8-1", "SELECT " + maxOf(5) + " from cpu where " + hosts(8) + " and " + tr(1) + " group by time(1m)"},
		{"cpu-max-all-8", "SELECT " + maxOf(10) + " from cpu where " + hosts(8) + " and " + tr(2) + " group by time(1m)"},
		{"high-cpu-1", "SELECT * from cpu where usage_user > 90.0 and " + hosts(1) + " and " + tr(2)},
		{"lastpoint", `SELECT * from cpu group by "hostname" order by time desc limit 1`},
		{"high-cpu-all", "SELECT * from cpu where usage_user > 90.0 and " + tr(2)},
		{"high-cpu-1-none", "SELECT * from cpu where usage_user > 100.0 and " + hosts(1) + " and " + tr(2)},
	}
	for _, c := range cases {
		stmt := mustParse(b, c.q)
		b.Run(c.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				if res := e.Execute(context.Background(), stmt, Params{DB: "bench"}); res.Err != nil || len(res.Series) == 0 && !strings.HasSuffix(c.name, "-none") {
					b.Fatalf("%s: %v (%d series)", c.q, res.Err, len(res.Series))
				}
			}
		})
	}
}
