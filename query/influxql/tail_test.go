package influxql

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

// TestTailReadsNewestBlocks: a raw SELECT with LIMIT (TSBS lastpoint:
// SELECT * ... GROUP BY host ORDER BY time DESC LIMIT 1) reads only the
// blocks holding each series' newest (or oldest) points, so it answers
// within a sample budget far below the data's size, and it answers what a
// full read answers, with unflushed points newer than the blocks too. The
// series come in descending tag order under ORDER BY time DESC, as in
// InfluxDB.
func TestTailReadsNewestBlocks(t *testing.T) {
	var b strings.Builder
	for i := 0; i < 3000; i++ {
		for _, h := range []string{"a", "b", "c"} {
			fmt.Fprintf(&b, "m,host=%s f=%d.5,n=%di %d\n", h, i%97, i, int64(i)*1e9)
		}
	}
	e, eng := openTest(t, "t", b.String(), 128)
	if err := eng.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	write(t, eng, e.opts.Catalog, "t", "m,host=b f=1000.5 4000000000000\n") // newer, in the memtable
	queries := []string{
		`SELECT * FROM m GROUP BY host ORDER BY time DESC LIMIT 1`,
		`SELECT f, n FROM m GROUP BY host ORDER BY time DESC LIMIT 3 OFFSET 200`,
		`SELECT * FROM m LIMIT 2`,
		`SELECT n FROM m WHERE host = 'a' AND time < 2000s ORDER BY time DESC LIMIT 5`,
	}
	for _, q := range queries {
		e.opts.MaxSamples = 2000 // the data holds 18000
		tail := run(t, e, "t", q)
		e.opts.MaxSamples = 1 << 30
		e.opts.DisableSummaries = true // no summaries: every sample read
		full := run(t, e, "t", q)
		e.opts.DisableSummaries = false
		if tail != full {
			t.Errorf("%s\n tail: %.500s\n full: %.500s", q, tail, full)
		}
	}
	// A LIMIT past maxTail reads every point (no overflow of LIMIT+OFFSET).
	huge := `SELECT n FROM m WHERE host = 'c' ORDER BY time DESC LIMIT 9223372036854775807 OFFSET 2998`
	if got := run(t, e, "t", huge); !strings.Contains(got, `"values":[["1970-01-01T00:00:01Z",1],["1970-01-01T00:00:00Z",0]]`) {
		t.Errorf("huge limit: %.300s", got)
	}
	got := run(t, e, "t", queries[0])
	if want := `"tags":{"host":"c"}`; !strings.Contains(got, want) || strings.Index(got, want) > strings.Index(got, `"tags":{"host":"a"}`) {
		t.Errorf("series order under DESC: %s", got)
	}
}
