package influxql

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

// TestSummariesMatchSamples: over flushed segments, aggregates that read
// whole blocks from their summaries answer what decoding every sample
// answers, float and integer fields alike, and they do read summaries.
func TestSummariesMatchSamples(t *testing.T) {
	var b strings.Builder
	for i := 0; i < 6000; i++ {
		for _, h := range []string{"a", "b", "c"} {
			fmt.Fprintf(&b, "m,host=%s f=%d.25,n=%di,big=%di %d\n", h, (i*7919)%1000, (i*31)%977-400, int64(i)<<40, int64(i)*1e9)
		}
	}
	e, eng := openTest(t, "t", b.String(), 128) // blocks of 128 s: many fit a window
	if err := eng.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	queries := []string{
		`SELECT count(f), sum(f), mean(f), min(f), max(f), first(f), last(f) FROM m WHERE time >= 0 AND time < 6000s GROUP BY time(10m)`,
		`SELECT count(n), sum(n), mean(n), min(n), max(n), first(n), last(n) FROM m WHERE time >= 0 AND time < 6000s GROUP BY time(7m), host`,
		`SELECT sum(big), max(big) FROM m WHERE time >= 0 AND time < 6000s GROUP BY time(30m)`,
		`SELECT first(f), last(n), count(n) FROM m WHERE host = 'b'`,
		`SELECT mean(f) FROM m WHERE time >= 100s AND time < 5000s AND host != 'a' GROUP BY time(1h) fill(none)`,
	}
	for _, q := range queries {
		before := e.SummaryBlocks()
		fast := run(t, e, "t", q)
		used := e.SummaryBlocks() - before
		e.opts.DisableSummaries = true
		slow := run(t, e, "t", q)
		e.opts.DisableSummaries = false
		if fast != slow {
			t.Errorf("%s\nsummaries: %.400s\n  samples: %.400s", q, fast, slow)
		}
		if used == 0 && !strings.Contains(q, "big") {
			t.Errorf("%s: no block summary used", q)
		}
	}
}
