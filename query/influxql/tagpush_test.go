package influxql

import "testing"

// TestTagConditionPushdown: tag equalities of WHERE select the series
// through the index (tagMatchers), and the answer is what the condition
// means, with ORs, fields, missing tags and literals on the left.
func TestTagConditionPushdown(t *testing.T) {
	e, _ := openTest(t, "t", testLines)
	count := func(n int) string {
		return `{"statement_id":0,"series":[{"name":"cpu","columns":["time","count"],"values":[["1970-01-01T00:00:00Z",` + string(rune('0'+n)) + `]]}]}`
	}
	none := `{"statement_id":0}`
	cases := []struct{ cond, want string }{
		{`host = 'a'`, count(3)},
		{`'a' = host`, count(3)},
		{`host = 'a' OR host = 'b'`, count(4)},
		{`(host = 'a' OR region = 'us') AND usage_idle > 15`, count(3)},
		{`host = 'a' OR usage_idle > 15`, count(4)},
		{`host = 'a' AND region = 'us'`, none},
		{`host = 'b' AND time >= 0s`, count(1)},
		{`nosuch = 'x'`, none},
		{`host = ''`, none},
		{`host != 'a' AND region = 'us'`, count(1)},
	}
	for _, c := range cases {
		if got := run(t, e, "t", "SELECT count(usage_idle) FROM cpu WHERE "+c.cond); got != c.want {
			t.Errorf("%s\n got: %s\nwant: %s", c.cond, got, c.want)
		}
	}
}
