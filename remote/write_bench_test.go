package remote

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/klauspost/compress/s2"
	"github.com/prometheus/prometheus/prompb"

	"github.com/lightningdb/lightningdb/engine"
)

// BenchmarkWrite measures remote write end to end in process: snappy body
// -> handler (decode, batch) -> real engine (WAL group commit, memtable,
// tag index), for 1.0 and 2.0 requests of Prometheus's usual shapes.
//
//	go test -run '^$' -bench Write -benchtime 2000x ./remote/
func BenchmarkWrite(b *testing.B) {
	for _, sync := range []engine.SyncMode{engine.SyncNone, engine.SyncFsync} {
		for _, shape := range []struct{ series, samples int }{{2000, 1}, {500, 10}} {
			for _, v := range []int{1, 2} {
				name := fmt.Sprintf("v%d/%dx%d/%s", v, shape.series, shape.samples, sync)
				b.Run(name, func(b *testing.B) { benchWrite(b, sync, v, shape.series, shape.samples) })
			}
		}
	}
}

func benchWrite(b *testing.B, sync engine.SyncMode, v, nSeries, nSamples int) {
	db := openEngine(b, sync)
	h, err := NewHandler(db, engineStorage{db}, Options{})
	if err != nil {
		b.Fatal(err)
	}
	// Successive scrapes: each body carries the next samples of the same
	// series, as a Prometheus shard sends them.
	const nBodies = 64
	bodies := make([][]byte, nBodies)
	ct := "application/x-protobuf"
	if v == 2 {
		ct = ctV2
	}
	for i := range bodies {
		in := promSeriesSet(nSeries, nSamples, t0+int64(i*nSamples)*15000)
		var data []byte
		if v == 1 {
			data, err = (&prompb.WriteRequest{Timeseries: in}).Marshal()
		} else {
			data, err = v2Request(in).Marshal()
		}
		if err != nil {
			b.Fatal(err)
		}
		bodies[i] = s2.EncodeSnappy(nil, data)
	}
	b.SetBytes(int64(len(bodies[0])))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r := httptest.NewRequest(http.MethodPost, "/api/v1/write", bytes.NewReader(bodies[i%nBodies]))
		r.Header.Set("Content-Type", ct)
		r.Header.Set("Content-Encoding", "snappy")
		w := httptest.NewRecorder()
		h.ServeWrite(w, r)
		if w.Code != http.StatusNoContent {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N*nSeries*nSamples)/b.Elapsed().Seconds(), "samples/s")
	b.ReportMetric(float64(len(bodies[0]))/float64(nSeries*nSamples), "B/sample")
}
