package ingest

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/lightningdb/lightningdb/query/influxql"
	"github.com/lightningdb/lightningdb/series"
)

// discardAppender accepts every batch and stores nothing, so that the
// benchmark measures the handler: body read, gzip, parse, batch.
type discardAppender struct{}

func (discardAppender) Append(_ context.Context, b *series.Batch) (series.AppendResult, error) {
	return series.AppendResult{Accepted: b.Samples()}, nil
}

// BenchmarkInfluxWrite measures the /write handler in process on
// Telegraf-shaped bodies of 5,000 lines, plain and gzipped, and plain
// with the InfluxQL measurement catalog learning fields as the server
// runs it (catalog=on).
//
//	go test -run '^$' -bench InfluxWrite -count 5 ./ingest/
func BenchmarkInfluxWrite(b *testing.B) {
	var sb strings.Builder
	for i := range 5000 {
		fmt.Fprintf(&sb, "cpu,host=host-%d,region=eu-west,cpu=cpu%d usage_user=%d.5,usage_system=%d.25,usage_idle=90.125 %d\n",
			i%100, i%8, i%97, i%13, 1_700_000_000_000_000_000+int64(i)*1e9)
	}
	for _, enc := range []string{"", "gzip", "catalog"} {
		body := []byte(sb.String())
		if enc == "gzip" {
			body = gzipped(sb.String())
		}
		name := "encoding=" + enc
		var opts InfluxOptions
		if enc == "catalog" {
			name, enc, opts.Catalog = "encoding=/catalog=on", "", influxql.NewCatalog()
		}
		b.Run(name, func(b *testing.B) {
			h, err := NewInfluxHandler(discardAppender{}, opts)
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				r := httptest.NewRequest(http.MethodPost, "/write?db=bench", bytes.NewReader(body))
				if enc != "" {
					r.Header.Set("Content-Encoding", enc)
				}
				w := httptest.NewRecorder()
				h.ServeHTTP(w, r)
				if w.Code != http.StatusNoContent {
					b.Fatalf("status %d: %s", w.Code, w.Body)
				}
			}
		})
	}
}
