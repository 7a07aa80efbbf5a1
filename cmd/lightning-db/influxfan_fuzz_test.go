package main

import (
	"slices"
	"testing"
	"time"

	ql "github.com/influxdata/influxql"

	"github.com/lightningdb/lightningdb/query/influxql"
)

// FuzzInfluxReadOf: what a query node reads for a statement never panics,
// always covers the statement's own time range, names only measurements
// the statement's sources name, and reads the request's database.
func FuzzInfluxReadOf(f *testing.F) {
	for _, s := range []string{
		`SELECT mean(usage) FROM cpu WHERE time >= '2026-01-01T00:00:00Z' AND time < '2026-01-02T00:00:00Z' GROUP BY time(1m), host`,
		`SELECT * FROM cpu, db2.autogen.mem WHERE host = 'a' AND time > now() - 1h`,
		`SELECT count(x) FROM /c.*/ WHERE time > 5s`,
		`SELECT mean(x) FROM (SELECT max(u) AS x FROM cpu WHERE time > now() - 1h GROUP BY time(1m))`,
		`SELECT u FROM cpu WHERE time > now() - 1h OR host = 'a'`,
		`SELECT u FROM cpu WHERE time >= -9223372036854775806 AND time <= 9223372036854775806`,
		`SELECT u FROM cpu WHERE time >= '0001-01-01T00:00:00Z' AND time <= '9999-12-31T00:00:00Z'`,
		`SHOW TAG VALUES ON other FROM cpu WITH KEY = host`,
		`SHOW SERIES`, `SHOW FIELD KEYS FROM cpu`, `EXPLAIN SELECT max(u) FROM cpu`, `DROP MEASUREMENT cpu`,
	} {
		f.Add(s)
	}
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, q string) {
		stmt, err := ql.ParseStatement(q)
		if err != nil {
			return
		}
		rd, ok := influxReadOf(stmt, influxql.Params{DB: "fan"}, now)
		if !ok {
			return
		}
		if len(rd.dbs) == 0 {
			t.Fatalf("%q: no database read", q)
		}
		if e, ok := stmt.(*ql.ExplainStatement); ok {
			stmt = e.Statement
		}
		sel, isSel := stmt.(*ql.SelectStatement)
		if !isSel {
			if rd.minT != minInt64 || rd.maxT != maxInt64 || rd.meas != nil {
				t.Fatalf("%q: a SHOW reads all measurements over all time, got %+v", q, rd)
			}
			return
		}
		for _, m := range rd.meas {
			if !slices.ContainsFunc(sel.Sources, func(s ql.Source) bool { x, ok := s.(*ql.Measurement); return ok && x.Name == m }) {
				t.Fatalf("%q: reads measurement %q its sources do not name", q, m)
			}
		}
		if sel.Condition == nil {
			return
		}
		_, tr, err := ql.ConditionExpr(sel.Condition, &ql.NowValuer{Now: now, Location: sel.Location})
		if err != nil {
			return
		}
		if nanoRange(tr.Min) && rd.minT > tr.Min.UnixNano() || nanoRange(tr.Max) && rd.maxT < tr.Max.UnixNano() {
			t.Fatalf("%q: reads [%d, %d], the statement asks [%v, %v]", q, rd.minT, rd.maxT, tr.Min, tr.Max)
		}
		if !nanoRange(tr.Min) && rd.minT != minInt64 || !nanoRange(tr.Max) && rd.maxT != maxInt64 {
			t.Fatalf("%q: reads [%d, %d], the statement asks [%v, %v]", q, rd.minT, rd.maxT, tr.Min, tr.Max)
		}
	})
}
