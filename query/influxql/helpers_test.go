package influxql

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	ql "github.com/influxdata/influxql"

	"github.com/lightningdb/lightningdb/engine"
	"github.com/lightningdb/lightningdb/ingest/lineproto"
	"github.com/lightningdb/lightningdb/series"
)

// testLines is the data the tests read, written to database "t": the same
// lines the InfluxDB 1.6 answers in the tests were taken from.
const testLines = `cpu,host=a,region=eu usage_idle=10,usage_user=3i 1000000000000
cpu,host=b,region=us usage_idle=20,usage_user=5i 1000000000000
cpu,host=a,region=eu usage_idle=30,usage_user=4i 1060000000000
cpu,host=a,region=eu usage_idle=50 1120000000000
mem,host=a used=1i,ok=true,s="x" 1000000000000
`

// testNow is what now() means in the tests.
var testNow = time.Unix(1200, 0)

// openTest opens an engine, writes lines to database db through the line
// protocol parser with a catalog, and returns an executor over it.
func openTest(t testing.TB, db, lines string, blockSamples ...int) (*Executor, *engine.DB) {
	t.Helper()
	eo := engine.Options{SyncMode: engine.SyncNone}
	if len(blockSamples) > 0 {
		eo.BlockSamples = blockSamples[0]
	}
	eng, err := engine.Open(t.TempDir(), eo)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	cat := NewCatalog()
	write(t, eng, cat, db, lines)
	return New(eng, Options{Catalog: cat, Now: func() time.Time { return testNow }}), eng
}

func write(t testing.TB, eng *engine.DB, cat *Catalog, db, lines string) {
	t.Helper()
	p := lineproto.NewParser(lineproto.Options{Observer: cat, SeriesKeyCache: 100})
	var b series.Batch
	res := p.Parse(&b, []byte(lines), db, 0, lineproto.Nanosecond)
	if res.Rejected > 0 {
		t.Fatalf("rejected lines: %v", p.Errors()[0])
	}
	if _, err := eng.Append(context.Background(), &b); err != nil {
		t.Fatal(err)
	}
}

// run executes one statement and returns its result as InfluxDB's JSON
// (times as RFC3339), or the error text.
func run(t testing.TB, e *Executor, db, q string) string {
	t.Helper()
	stmt, err := ql.ParseStatement(q)
	if err != nil {
		return "parse error: " + err.Error()
	}
	res := e.Execute(context.Background(), stmt, Params{DB: db})
	if res.Err != nil {
		return "error: " + res.Err.Error()
	}
	return resultJSON(res)
}

func resultJSON(res Result) string {
	type out struct {
		StatementID int    `json:"statement_id"`
		Series      []*Row `json:"series,omitempty"`
	}
	for _, r := range res.Series {
		for _, v := range r.Values {
			for i, x := range v {
				if tm, ok := x.(Time); ok {
					ts := time.Unix(0, int64(tm)).UTC()
					if res.Location != nil {
						ts = ts.In(res.Location)
					}
					v[i] = ts.Format(time.RFC3339Nano)
				}
			}
		}
	}
	b, _ := json.Marshal(out{Series: res.Series})
	return string(b)
}
