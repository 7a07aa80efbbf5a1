package influxql

import (
	"strings"
	"testing"
)

// TestAgainstInfluxDB16 checks answers against what InfluxDB 1.6 returned
// for the same statements over testLines (captured from influxd 1.6.7 on
// loopback; see docs/influxql.md).
func TestAgainstInfluxDB16(t *testing.T) {
	e, _ := openTest(t, "t", testLines)
	cases := []struct{ q, want string }{
		{`SHOW MEASUREMENTS`, `{"statement_id":0,"series":[{"name":"measurements","columns":["name"],"values":[["cpu"],["mem"]]}]}`},
		{`SHOW TAG KEYS`, `{"statement_id":0,"series":[{"name":"cpu","columns":["tagKey"],"values":[["host"],["region"]]},{"name":"mem","columns":["tagKey"],"values":[["host"]]}]}`},
		{`SHOW TAG VALUES WITH KEY = host`, `{"statement_id":0,"series":[{"name":"cpu","columns":["key","value"],"values":[["host","a"],["host","b"]]},{"name":"mem","columns":["key","value"],"values":[["host","a"]]}]}`},
		{`SHOW FIELD KEYS`, `{"statement_id":0,"series":[{"name":"cpu","columns":["fieldKey","fieldType"],"values":[["usage_idle","float"],["usage_user","integer"]]},{"name":"mem","columns":["fieldKey","fieldType"],"values":[["ok","boolean"],["s","string"],["used","integer"]]}]}`},
		{`SHOW SERIES`, `{"statement_id":0,"series":[{"columns":["key"],"values":[["cpu,host=a,region=eu"],["cpu,host=b,region=us"],["mem,host=a"]]}]}`},
		{`SHOW MEASUREMENT CARDINALITY`, `{"statement_id":0,"series":[{"columns":["cardinality estimation"],"values":[[2]]}]}`},
		{`SHOW SERIES CARDINALITY`, `{"statement_id":0,"series":[{"columns":["cardinality estimation"],"values":[[3]]}]}`},
		{`SHOW MEASUREMENT EXACT CARDINALITY`, `{"statement_id":0,"series":[{"columns":["count"],"values":[[2]]}]}`},
		{`SHOW SERIES EXACT CARDINALITY`, `{"statement_id":0,"series":[{"name":"cpu","columns":["count"],"values":[[2]]},{"name":"mem","columns":["count"],"values":[[1]]}]}`},
		{`SHOW TAG KEY CARDINALITY`, `{"statement_id":0,"series":[{"name":"cpu","columns":["count"],"values":[[2]]},{"name":"mem","columns":["count"],"values":[[1]]}]}`},
		{`SHOW TAG VALUES CARDINALITY WITH KEY = host`, `{"statement_id":0,"series":[{"name":"cpu","columns":["count"],"values":[[2]]},{"name":"mem","columns":["count"],"values":[[1]]}]}`},
		{`SHOW FIELD KEY CARDINALITY`, `{"statement_id":0,"series":[{"name":"cpu","columns":["count"],"values":[[2]]},{"name":"mem","columns":["count"],"values":[[3]]}]}`},
		{`SELECT * FROM cpu`, `{"statement_id":0,"series":[{"name":"cpu","columns":["time","host","region","usage_idle","usage_user"],"values":[["1970-01-01T00:16:40Z","a","eu",10,3],["1970-01-01T00:16:40Z","b","us",20,5],["1970-01-01T00:17:40Z","a","eu",30,4],["1970-01-01T00:18:40Z","a","eu",50,null]]}]}`},
		{`SELECT * FROM mem`, `{"statement_id":0,"series":[{"name":"mem","columns":["time","host","ok","s","used"],"values":[["1970-01-01T00:16:40Z","a",true,"x",1]]}]}`},
		{`SELECT mean(usage_idle), max(usage_user) FROM cpu GROUP BY host`, `{"statement_id":0,"series":[{"name":"cpu","tags":{"host":"a"},"columns":["time","mean","max"],"values":[["1970-01-01T00:00:00Z",30,4]]},{"name":"cpu","tags":{"host":"b"},"columns":["time","mean","max"],"values":[["1970-01-01T00:00:00Z",20,5]]}]}`},
		{`SELECT max(usage_idle) FROM cpu`, `{"statement_id":0,"series":[{"name":"cpu","columns":["time","max"],"values":[["1970-01-01T00:18:40Z",50]]}]}`},
		{`SELECT mean(usage_idle),mean(usage_idle) FROM cpu`, `{"statement_id":0,"series":[{"name":"cpu","columns":["time","mean","mean_1"],"values":[["1970-01-01T00:00:00Z",27.5,27.5]]}]}`},
		{`SELECT usage_idle*2 + usage_user, host FROM cpu`, `{"statement_id":0,"series":[{"name":"cpu","columns":["time","usage_idle_usage_user","host"],"values":[["1970-01-01T00:16:40Z",23,"a"],["1970-01-01T00:16:40Z",45,"b"],["1970-01-01T00:17:40Z",64,"a"],["1970-01-01T00:18:40Z",null,"a"]]}]}`},
		{`SELECT max(usage_idle), host FROM cpu`, `{"statement_id":0,"series":[{"name":"cpu","columns":["time","max","host"],"values":[["1970-01-01T00:18:40Z",50,"a"]]}]}`},
		{`SELECT first(usage_idle) FROM cpu GROUP BY *`, `{"statement_id":0,"series":[{"name":"cpu","tags":{"host":"a","region":"eu"},"columns":["time","first"],"values":[["1970-01-01T00:16:40Z",10]]},{"name":"cpu","tags":{"host":"b","region":"us"},"columns":["time","first"],"values":[["1970-01-01T00:16:40Z",20]]}]}`},
		{`SELECT count(usage_idle) FROM cpu WHERE time >= 1000s and time <= 1200s GROUP BY time(1m) fill(none)`, `{"statement_id":0,"series":[{"name":"cpu","columns":["time","count"],"values":[["1970-01-01T00:16:00Z",2],["1970-01-01T00:17:00Z",1],["1970-01-01T00:18:00Z",1]]}]}`},
		{`SELECT count("usage_idle") FROM "cpu" WHERE time >= 900000ms and time <= 1300000ms GROUP BY time(1m)`, `{"statement_id":0,"series":[{"name":"cpu","columns":["time","count"],"values":[["1970-01-01T00:15:00Z",0],["1970-01-01T00:16:00Z",2],["1970-01-01T00:17:00Z",1],["1970-01-01T00:18:00Z",1],["1970-01-01T00:19:00Z",0],["1970-01-01T00:20:00Z",0],["1970-01-01T00:21:00Z",0]]}]}`},
		{`SELECT sum(usage_user) FROM cpu WHERE host = 'a'`, `{"statement_id":0,"series":[{"name":"cpu","columns":["time","sum"],"values":[["1970-01-01T00:00:00Z",7]]}]}`},
		{`SELECT usage_idle FROM cpu WHERE host =~ /a|b/ AND usage_idle > 15`, `{"statement_id":0,"series":[{"name":"cpu","columns":["time","usage_idle"],"values":[["1970-01-01T00:16:40Z",20],["1970-01-01T00:17:40Z",30],["1970-01-01T00:18:40Z",50]]}]}`},
		{`SELECT * FROM nope`, `{"statement_id":0}`},
	}
	for _, c := range cases {
		if got := run(t, e, "t", c.q); got != c.want {
			t.Errorf("%s\n got: %s\nwant: %s", c.q, got, c.want)
		}
	}
}

// TestGrafanaDefaultQuery is the query Grafana's InfluxDB editor starts
// with, $timeFilter and $__interval substituted as Grafana does.
func TestGrafanaDefaultQuery(t *testing.T) {
	e, _ := openTest(t, "t", testLines)
	got := run(t, e, "t", `SELECT mean("usage_idle") FROM "cpu" WHERE time >= 900000ms and time <= 1300000ms GROUP BY time(1m), "host" fill(previous)`)
	want := `{"statement_id":0,"series":[{"name":"cpu","tags":{"host":"a"},"columns":["time","mean"],"values":[["1970-01-01T00:15:00Z",null],["1970-01-01T00:16:00Z",10],["1970-01-01T00:17:00Z",30],["1970-01-01T00:18:00Z",50],["1970-01-01T00:19:00Z",50],["1970-01-01T00:20:00Z",50],["1970-01-01T00:21:00Z",50]]},{"name":"cpu","tags":{"host":"b"},"columns":["time","mean"],"values":[["1970-01-01T00:15:00Z",null],["1970-01-01T00:16:00Z",20],["1970-01-01T00:17:00Z",20],["1970-01-01T00:18:00Z",20],["1970-01-01T00:19:00Z",20],["1970-01-01T00:20:00Z",20],["1970-01-01T00:21:00Z",20]]}]}`
	if got != want {
		t.Errorf("got:  %s\nwant: %s", got, want)
	}
}

// TestCatalogSplitsAmbiguousNames: cpu_usage.idle and cpu.usage_idle give
// the same metric name; the catalog keeps them apart, and a series
// written without line protocol reads as <name>.value.
func TestCatalogSplitsAmbiguousNames(t *testing.T) {
	e, _ := openTest(t, "t", "cpu_usage idle=1 1000000000\ncpu_x,h=a y=2i 1000000000\n")
	if got := run(t, e, "t", "SHOW MEASUREMENTS"); got != `{"statement_id":0,"series":[{"name":"measurements","columns":["name"],"values":[["cpu_usage"],["cpu_x"]]}]}` {
		t.Errorf("measurements: %s", got)
	}
	if got := run(t, e, "t", "SELECT idle FROM cpu_usage"); got != `{"statement_id":0,"series":[{"name":"cpu_usage","columns":["time","idle"],"values":[["1970-01-01T00:00:01Z",1]]}]}` {
		t.Errorf("select: %s", got)
	}
	e.opts.Catalog = nil // as for series written by remote write
	if got := run(t, e, "t", "SHOW FIELD KEYS"); got != `{"statement_id":0,"series":[{"name":"cpu_usage_idle","columns":["fieldKey","fieldType"],"values":[["value","float"]]},{"name":"cpu_x_y","columns":["fieldKey","fieldType"],"values":[["value","integer"]]}]}` {
		t.Errorf("fallback: %s", got)
	}
}

func TestErrorsAndLimits(t *testing.T) {
	e, _ := openTest(t, "t", testLines)
	cases := []struct{ q, want string }{
		{`SELECT foo(usage_idle) FROM cpu`, "error: undefined function foo()"},
		{`SELECT usage_idle, mean(usage_idle) FROM cpu`, "error: mixing aggregate and non-aggregate queries is not supported"},
		{`SELECT mean(usage_idle) FROM cpu GROUP BY time(1ns)`, "error: max-select-buckets limit exceeded"},
		{`SELECT top(usage_idle, 0) FROM cpu`, "error: top() limit must be between 1 and 10000"},
		{`SELECT mean(usage_idle) INTO x FROM cpu`, "error: statement not supported: SELECT INTO"},
		{`SELECT host FROM cpu`, `{"statement_id":0}`},
	}
	for _, c := range cases {
		if got := run(t, e, "t", c.q); !strings.HasPrefix(got, c.want) {
			t.Errorf("%s\n got: %s\nwant: %s...", c.q, got, c.want)
		}
	}
	e.opts.MaxSeries = 1
	if got := run(t, e, "t", `SELECT * FROM cpu`); !strings.HasPrefix(got, "error: max-select-series limit exceeded") {
		t.Errorf("max series: %s", got)
	}
	e.opts.MaxSeries, e.opts.MaxSamples = 100, 2
	if got := run(t, e, "t", `SELECT * FROM cpu`); !strings.HasPrefix(got, "error: max-select-point limit exceeded") {
		t.Errorf("max samples: %s", got)
	}
}

// TestUnlabelledSeries: series without a db label (written without a
// database, or by other protocols) are read through the "prometheus"
// database; a statement without a database is refused as by InfluxDB.
func TestUnlabelledSeries(t *testing.T) {
	e, _ := openTest(t, "", "node_load1 value=0.5 1000000000\n")
	if got := run(t, e, "prometheus", "SELECT value FROM node_load1"); got != `{"statement_id":0,"series":[{"name":"node_load1","columns":["time","value"],"values":[["1970-01-01T00:00:01Z",0.5]]}]}` {
		t.Errorf("prometheus db: %s", got)
	}
	if got := run(t, e, "t", "SHOW MEASUREMENTS"); got != `{"statement_id":0}` {
		t.Errorf("other db: %s", got)
	}
	if got := run(t, e, "", "SHOW MEASUREMENTS"); got != "error: database name required" {
		t.Errorf("no db: %s", got)
	}
}

// TestExtremeTimeBounds: bounds at the ends of the time range, with a
// zone, neither wrap around nor panic.
func TestExtremeTimeBounds(t *testing.T) {
	e, _ := openTest(t, "t", testLines)
	for _, q := range []string{
		`SELECT mean(usage_idle) FROM cpu WHERE time >= -9223372036854775806 GROUP BY time(1h) tz('Asia/Tokyo')`,
		`SELECT mean(usage_idle) FROM cpu WHERE time >= -9223372036854775806 AND time <= 9223372036854775806 GROUP BY time(1ms)`,
		`SELECT count(usage_idle) FROM cpu WHERE time <= 9223372036854775806 GROUP BY time(1000000000000000000ns, 999999999999999999ns)`,
	} {
		if got := run(t, e, "t", q); !strings.HasPrefix(got, "error: max-select-buckets") && !strings.HasPrefix(got, "{") {
			t.Errorf("%s: %s", q, got)
		}
	}
}

// TestConditionOnUnknownName: a WHERE on a name that is neither a tag nor
// a field matches nothing (InfluxDB answers no rows), while tag-only
// conditions still select series.
func TestConditionOnUnknownName(t *testing.T) {
	e, _ := openTest(t, "t", testLines)
	if got := run(t, e, "t", `SELECT usage_idle FROM cpu WHERE nosuch > 5`); got != `{"statement_id":0}` {
		t.Errorf("unknown name: %s", got)
	}
	if got := run(t, e, "t", `SELECT max(usage_idle) FROM cpu WHERE host = 'b' OR region = 'eu'`); got != `{"statement_id":0,"series":[{"name":"cpu","columns":["time","max"],"values":[["1970-01-01T00:18:40Z",50]]}]}` {
		t.Errorf("tags: %s", got)
	}
}

// TestDatabaseNotFound: a SELECT on a database without series that is
// not known gets InfluxDB's error; SHOW answers empty, as InfluxDB does.
func TestDatabaseNotFound(t *testing.T) {
	e, _ := openTest(t, "t", testLines)
	e.opts.DatabaseExists = func(db string) bool { return db == "created" }
	if got := run(t, e, "nope", "SELECT * FROM cpu"); got != "error: database not found: nope" {
		t.Errorf("unknown db: %s", got)
	}
	if got := run(t, e, "created", "SELECT * FROM cpu"); got != `{"statement_id":0}` {
		t.Errorf("created db: %s", got)
	}
	if got := run(t, e, "nope", "SHOW MEASUREMENTS"); got != `{"statement_id":0}` {
		t.Errorf("show on unknown db: %s", got)
	}
	if got := run(t, e, "t", "SELECT usage_user FROM cpu WHERE host = 'b'"); !strings.Contains(got, `5]`) {
		t.Errorf("db with series: %s", got)
	}
}

// TestTransformInsideMath: non_negative_derivative(mean(x), 1s) * 8, the
// query of Grafana's network panel, multiplies the derivative, not the
// mean (it answered mean*8 before).
func TestTransformInsideMath(t *testing.T) {
	e, _ := openTest(t, "t", "net,host=a rx=100 60000000000\nnet,host=a rx=160 120000000000\nnet,host=a rx=280 180000000000\n")
	got := run(t, e, "t", `SELECT non_negative_derivative(mean("rx"), 1s) * 8 FROM net WHERE time >= 60s AND time < 240s GROUP BY time(1m) fill(null)`)
	want := `{"statement_id":0,"series":[{"name":"net","columns":["time","non_negative_derivative"],"values":[["1970-01-01T00:02:00Z",8],["1970-01-01T00:03:00Z",16]]}]}`
	if got != want {
		t.Errorf("got:  %s\nwant: %s", got, want)
	}
	got = run(t, e, "t", `SELECT 1 + difference(max("rx")) FROM net WHERE time >= 60s AND time < 240s GROUP BY time(1m) fill(none)`)
	want = `{"statement_id":0,"series":[{"name":"net","columns":["time","difference"],"values":[["1970-01-01T00:02:00Z",61],["1970-01-01T00:03:00Z",121]]}]}`
	if got != want {
		t.Errorf("got:  %s\nwant: %s", got, want)
	}
}

// TestInfluxDBArgumentErrors: wrong arguments get InfluxDB 1.6's error
// texts, and numeric functions of strings and booleans fail clearly
// (they answered a number, or were accepted, before).
func TestInfluxDBArgumentErrors(t *testing.T) {
	e, _ := openTest(t, "t", testLines)
	cases := []struct{ q, want string }{
		{`SELECT moving_average(usage_idle) FROM cpu`, "error: invalid number of arguments for moving_average, expected 2, got 1"},
		{`SELECT moving_average(usage_idle, 1) FROM cpu`, "error: moving_average window must be greater than 1, got 1"},
		{`SELECT derivative(usage_idle, -1s) FROM cpu`, "error: duration argument must be positive, got -1s"},
		{`SELECT difference(usage_idle, 2) FROM cpu`, "error: invalid number of arguments for difference, expected 1, got 2"},
		{`SELECT sample(usage_idle, 0) FROM cpu`, "error: sample window must be greater than 1, got 0"},
		{`SELECT count(distinct(usage_idle, usage_user)) FROM cpu`, "error: distinct function can only have one argument"},
		{`SELECT integral(usage_idle, 'x') FROM cpu`, "error: second argument must be a duration"},
		{`SELECT mean(s) FROM mem`, `error: statement not supported: mean() of string field "s" (it takes integer and float fields)`},
		{`SELECT sum(ok) FROM mem`, `error: statement not supported: sum() of boolean field "ok" (it takes integer and float fields)`},
	}
	for _, c := range cases {
		if got := run(t, e, "t", c.q); got != c.want {
			t.Errorf("%s\n got: %s\nwant: %s", c.q, got, c.want)
		}
	}
}

// TestMissingTagsAndCasts: a tag a series lacks is null in SELECT * over
// measurements with different tag keys, WHERE on a tag key no series has
// compares it as "", and x::integer truncates a float field, as in
// InfluxDB 1.6 (each differed before).
func TestMissingTagsAndCasts(t *testing.T) {
	e, _ := openTest(t, "t", testLines)
	cases := []struct{ q, want string }{
		{`SELECT * FROM cpu, mem WHERE host = 'a' AND time < 1001s`, `{"statement_id":0,"series":[{"name":"cpu","columns":["time","host","ok","region","s","usage_idle","usage_user","used"],"values":[["1970-01-01T00:16:40Z","a",null,"eu",null,10,3,null]]},{"name":"mem","columns":["time","host","ok","region","s","usage_idle","usage_user","used"],"values":[["1970-01-01T00:16:40Z","a",true,null,"x",null,null,1]]}]}`},
		{`SELECT usage_user FROM cpu WHERE nosuch = '' AND host = 'b'`, `{"statement_id":0,"series":[{"name":"cpu","columns":["time","usage_user"],"values":[["1970-01-01T00:16:40Z",5]]}]}`},
		{`SELECT usage_user FROM cpu WHERE nosuch = 'x'`, `{"statement_id":0}`},
	}
	for _, c := range cases {
		if got := run(t, e, "t", c.q); got != c.want {
			t.Errorf("%s\n got: %s\nwant: %s", c.q, got, c.want)
		}
	}
	e, _ = openTest(t, "t", "w temp=-2.5 1000000000\nw temp=3.75 2000000000\n")
	got := run(t, e, "t", `SELECT temp::integer, temp FROM w`)
	if want := `{"statement_id":0,"series":[{"name":"w","columns":["time","temp","temp_1"],"values":[["1970-01-01T00:00:01Z",-2,-2.5],["1970-01-01T00:00:02Z",3,3.75]]}]}`; got != want {
		t.Errorf("cast\n got: %s\nwant: %s", got, want)
	}
}

// TestPercentileZeroNoSeries: percentile(x, 0) selects no point in any
// window, and InfluxDB answers no series for it, GROUP BY time() or not
// (a series of nulls before).
func TestPercentileZeroNoSeries(t *testing.T) {
	e, _ := openTest(t, "t", testLines)
	for _, q := range []string{
		`SELECT percentile(usage_idle, 0) FROM cpu WHERE time >= 900s AND time < 1300s GROUP BY time(1m)`,
		`SELECT percentile(usage_idle, 0) FROM cpu`,
	} {
		if got := run(t, e, "t", q); got != `{"statement_id":0}` {
			t.Errorf("%s: %s", q, got)
		}
	}
}

// TestCumulativeSumOfCountEmptyWindows: count() of an empty window is 0
// under fill(null), and cumulative_sum(count(x)) carries the sum through
// it, as InfluxDB (the empty windows were dropped before).
func TestCumulativeSumOfCountEmptyWindows(t *testing.T) {
	e, _ := openTest(t, "t", testLines)
	got := run(t, e, "t", `SELECT cumulative_sum(count(usage_idle)) FROM cpu WHERE time >= 960s AND time <= 1200s GROUP BY time(1m)`)
	want := `{"statement_id":0,"series":[{"name":"cpu","columns":["time","cumulative_sum"],"values":[["1970-01-01T00:16:00Z",2],["1970-01-01T00:17:00Z",3],["1970-01-01T00:18:00Z",4],["1970-01-01T00:19:00Z",4],["1970-01-01T00:20:00Z",4]]}]}`
	if got != want {
		t.Errorf("got:  %s\nwant: %s", got, want)
	}
}

// TestTransformReadsWindowBeforeRange: derivative(mean(x)) and
// moving_average(mean(x), n) read the windows before the range start
// their first answered window needs, as InfluxDB, so the range's first
// window has a value (it had none before).
func TestTransformReadsWindowBeforeRange(t *testing.T) {
	e, _ := openTest(t, "t", testLines)
	cases := []struct{ q, want string }{
		{`SELECT derivative(mean(usage_idle), 1m) FROM cpu WHERE host = 'a' AND time >= 1020s AND time < 1200s GROUP BY time(1m)`,
			`{"statement_id":0,"series":[{"name":"cpu","columns":["time","derivative"],"values":[["1970-01-01T00:17:00Z",20],["1970-01-01T00:18:00Z",20]]}]}`},
		{`SELECT moving_average(mean(usage_idle), 3) FROM cpu WHERE host = 'a' AND time >= 1080s AND time < 1200s GROUP BY time(1m)`,
			`{"statement_id":0,"series":[{"name":"cpu","columns":["time","moving_average"],"values":[["1970-01-01T00:18:00Z",30]]}]}`},
		{`SELECT moving_average(mean(usage_idle), 9223372036854775807) FROM cpu WHERE time >= 1080s GROUP BY time(1m)`, `{"statement_id":0}`},
	}
	for _, c := range cases {
		if got := run(t, e, "t", c.q); got != c.want {
			t.Errorf("%s\n got: %s\nwant: %s", c.q, got, c.want)
		}
	}
}

// TestIntegralWithoutWindowsAtTimeZero: integral() without GROUP BY
// time() answers at time 0, as InfluxDB 1.6 (the range start before).
func TestIntegralWithoutWindowsAtTimeZero(t *testing.T) {
	e, _ := openTest(t, "t", testLines)
	got := run(t, e, "t", `SELECT integral(usage_idle, 1m) FROM cpu WHERE host = 'a' AND time >= 900s AND time <= 1200s`)
	want := `{"statement_id":0,"series":[{"name":"cpu","columns":["time","integral"],"values":[["1970-01-01T00:00:00Z",60]]}]}`
	if got != want {
		t.Errorf("got:  %s\nwant: %s", got, want)
	}
}
