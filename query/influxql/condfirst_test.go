package influxql

import (
	"fmt"
	"strings"
	"testing"
)

// TestCondFieldsReadFirst: with WHERE comparing a field, a series none of
// whose points pass reads no other field (so a sample budget of the
// condition field's points suffices), and the answers equal those of a
// full read, for conditions the shortcut may and may not take.
func TestCondFieldsReadFirst(t *testing.T) {
	var b strings.Builder
	for i := 0; i < 1000; i++ {
		for _, h := range []string{"a", "b", "c"} {
			u := i % 90
			if h == "a" && i%100 == 0 {
				u = 95
			}
			fmt.Fprintf(&b, "cpu,host=%s usage_user=%d.5,usage_idle=%di,extra=%d 1%09d000\n", h, u, i, i, i)
		}
	}
	e, _ := openTest(t, "t", b.String())
	e.opts.MaxSamples = 3500 // usage_user's 3000 points, not all 9000
	if got := run(t, e, "t", `SELECT * FROM cpu WHERE usage_user > 200`); got != `{"statement_id":0}` {
		t.Errorf("no match: %.300s", got)
	}
	queries := []string{
		`SELECT * FROM cpu WHERE usage_user > 90`,
		`SELECT count(usage_idle) FROM cpu WHERE usage_user > 90 GROUP BY host`,
		`SELECT usage_idle FROM cpu WHERE usage_user > 90 OR host = 'c'`, // OR: every field read
		`SELECT extra FROM cpu WHERE (usage_user >= 89 AND host != 'b') AND usage_idle < 500`,
	}
	for _, q := range queries {
		e.opts.MaxSamples = 1 << 30
		fast := run(t, e, "t", q)
		e.opts.DisableSummaries = true
		full := run(t, e, "t", q)
		e.opts.DisableSummaries = false
		if fast != full || !strings.Contains(fast, `"series"`) {
			t.Errorf("%s\n fast: %.300s\n full: %.300s", q, fast, full)
		}
	}
}
