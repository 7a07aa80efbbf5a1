package influxql

import (
	"context"
	"strings"
	"testing"

	ql "github.com/influxdata/influxql"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/lightningdb/lightningdb/auth"
)

// TestScopeLimitsEveryStatement: a caller limited to {host="b"} (auth)
// sees nothing of host a in any statement: not its rows, tag values,
// tag keys, fields or series. Every index lookup goes through the
// schema's matchers; a lookup that takes the database matcher alone
// fails here.
func TestScopeLimitsEveryStatement(t *testing.T) {
	e, _ := openTest(t, "t", `cpu,host=a,region=eu,secretkey=zz usage_idle=10,usage_user=3i 1000000000000
cpu,host=b,region=us usage_idle=20 1000000000000
mem,host=a used=1i 1000000000000
`)
	ctx := auth.NewContext(context.Background(), &auth.Principal{ID: "t", Perm: auth.Read,
		Scope: []*labels.Matcher{labels.MustNewMatcher(labels.MatchEqual, "host", "b")}})
	seen := false
	for _, q := range []string{
		"SELECT * FROM cpu", "SELECT * FROM cpu GROUP BY *", "SELECT count(*) FROM cpu", "SELECT * FROM /.*/",
		"SHOW MEASUREMENTS", "SHOW TAG KEYS", "SHOW TAG VALUES WITH KEY = host", "SHOW TAG VALUES WITH KEY =~ /.*/",
		"SHOW FIELD KEYS", "SHOW SERIES", "SHOW SERIES CARDINALITY", "SHOW TAG VALUES CARDINALITY WITH KEY = host",
		"EXPLAIN SELECT * FROM cpu",
	} {
		stmt, err := ql.ParseStatement(q)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		res := e.Execute(ctx, stmt, Params{DB: "t"})
		if res.Err != nil {
			t.Fatalf("%s: %v", q, res.Err)
		}
		out := resultJSON(res)
		for _, leak := range []string{`"a"`, "host=a", "eu", "secretkey", "zz", "usage_user", "mem"} {
			if strings.Contains(out, leak) {
				t.Errorf("%s shows %s to a caller limited to host=b: %s", q, leak, out)
			}
		}
		seen = seen || strings.Contains(out, "us")
	}
	if !seen {
		t.Error("the caller saw nothing of host=b either")
	}
	if out := run(t, e, "t", "SHOW TAG KEYS"); !strings.Contains(out, "secretkey") {
		t.Errorf("an unlimited caller does not see every tag key: %s", out)
	}
}
