package ingest

import (
	"math"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestParseDeleteStatement(t *testing.T) {
	now := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	t2024 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	for _, c := range []struct {
		q    string
		want string // verb db measurements tags minT maxT, or "error: <substring>"
	}{
		{`DROP SERIES FROM cpu WHERE host='a'`, `DROP SERIES  [cpu] [{host a false}] min max`},
		{`drop series from "cpu", mem where host = 'a' AND dc != 'x'`, `DROP SERIES  [cpu mem] [{host a false} {dc x true}] min max`},
		{`DROP SERIES WHERE "host"='it''s'`, `error: unexpected`},
		{`DROP SERIES WHERE host='it\'s'`, `DROP SERIES  [] [{host it's false}] min max`},
		{`DELETE FROM cpu WHERE host='a' AND time < '2024-01-01T00:00:00Z'`, `DELETE  [cpu] [{host a false}] min ` + itoa(t2024-1)},
		{`DELETE WHERE time < '2024-01-01T00:00:00Z'`, `DELETE  [] [] min ` + itoa(t2024-1)},
		{`DELETE WHERE time >= 1000 AND time <= 2000`, `DELETE  [] [] 1000 2000`},
		{`DELETE FROM cpu WHERE time > now() - 1h`, `DELETE  [cpu] [] ` + itoa(now.Add(-time.Hour).UnixNano()+1) + ` max`},
		{`DELETE FROM "db"."autogen"."cpu"`, `DELETE  [cpu] [] min max`},
		{`DROP MEASUREMENT cpu`, `DROP MEASUREMENT  [cpu] [] min max`},
		{`DROP DATABASE "my db"`, `DROP DATABASE my db [] [] min max`},
		{`DELETE`, `error: needs a FROM or a WHERE clause`},
		{`DROP SERIES FROM cpu WHERE time < 5`, `error: doesn't support time`},
		{`DELETE FROM cpu WHERE host='a' OR host='b'`, `error: OR is not supported`},
		{`DELETE FROM /cpu.*/`, `error: regular expressions`},
		{`DELETE WHERE time < 'yesterday'`, `error: bad time`},
		{`DELETE WHERE host > 'a'`, `error: only =, != and <>`},
		{`DELETE WHERE host = a`, `error: single-quoted`},
		{`DROP DATABASE`, `error: missing identifier`},
		{`DROP MEASUREMENT cpu extra`, `error: unexpected "extra"`},
		{`DELETE WHERE time < now() - 5x`, `error: bad duration unit`},
	} {
		st, ok, err := parseDeleteStatement(c.q, now)
		if !ok {
			t.Errorf("%s: not recognised", c.q)
			continue
		}
		var got string
		if err != nil {
			got = "error: " + err.Error()
			if !strings.HasPrefix(c.want, "error: ") || !strings.Contains(got, strings.TrimPrefix(c.want, "error: ")) {
				t.Errorf("%s: %s, want %s", c.q, got, c.want)
			}
			continue
		}
		got = st.verb + " " + st.db + " " + fmtList(st.Measurements) + " " + fmtTags(st.Tags) + " " + fmtT(st.MinT) + " " + fmtT(st.MaxT)
		if got != c.want {
			t.Errorf("%s:\n got %s\nwant %s", c.q, got, c.want)
		}
	}
	for _, q := range []string{`SHOW DATABASES`, `CREATE DATABASE x`, `DROP RETENTION POLICY "a" ON "b"`, `SELECT * FROM cpu`} {
		if _, ok, _ := parseDeleteStatement(q, now); ok {
			t.Errorf("%s: taken as a deletion", q)
		}
	}
}

func itoa(n int64) string { return fmtT(n) }

func fmtT(n int64) string {
	switch n {
	case math.MinInt64:
		return "min"
	case math.MaxInt64:
		return "max"
	}
	return strconv.FormatInt(n, 10)
}

func fmtList(s []string) string { return "[" + strings.Join(s, " ") + "]" }

func fmtTags(ts []TagCondition) string {
	var parts []string
	for _, c := range ts {
		not := "false"
		if c.Not {
			not = "true"
		}
		parts = append(parts, "{"+c.Key+" "+c.Value+" "+not+"}")
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// FuzzParseDeleteStatement: the deletion parser never panics and a
// statement it accepts has a well-formed range or an empty one.
func FuzzParseDeleteStatement(f *testing.F) {
	for _, s := range []string{`DROP SERIES FROM cpu WHERE host='a'`, `DELETE FROM cpu WHERE time < '2024-01-01T00:00:00Z'`,
		`DELETE WHERE time > now() - 1h AND host != 'x'`, `DROP MEASUREMENT "a b"`, `DROP DATABASE db`,
		`DELETE FROM "db"."rp"."m" WHERE t='\''`} {
		f.Add(s)
	}
	now := time.Unix(1700000000, 0)
	f.Fuzz(func(t *testing.T, q string) {
		st, ok, err := parseDeleteStatement(q, now)
		if ok && err == nil && st.verb == "" {
			t.Fatalf("%q: accepted without a verb", q)
		}
	})
}
