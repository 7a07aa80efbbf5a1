package forward

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/klauspost/compress/s2"
	"github.com/prometheus/prometheus/prompb"

	"github.com/lightningdb/lightningdb/series"
)

// TestRemoteWriteSink: the request is a remote write 1.0 WriteRequest
// (decoded here with Prometheus' prompb), with its headers; 400 matches
// ErrRejected, 429 and 503 do not (retried).
func TestRemoteWriteSink(t *testing.T) {
	codes := make(chan int, 1)
	var got prompb.WriteRequest
	var hdr http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		plain, err := s2.Decode(nil, body)
		if err != nil {
			t.Errorf("snappy: %v", err)
		}
		got.Reset()
		if err := got.Unmarshal(plain); err != nil {
			t.Errorf("protobuf: %v", err)
		}
		hdr = r.Header
		w.WriteHeader(<-codes)
	}))
	defer srv.Close()
	sink, err := NewRemoteWriteSink(RemoteWriteOptions{URL: srv.URL, BearerToken: "tok", Headers: map[string]string{"X-Site": "s1"}})
	if err != nil {
		t.Fatal(err)
	}
	ls := series.FromStrings("__name__", "m", "host", "a")
	b := &Batch{Samples: 2, Series: []Series{{Labels: ls.AppendCanonical(nil), T: []int64{-5, 1700000000000}, V: []float64{1.5, -2}}}}
	codes <- 204
	if err := sink.Send(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	if len(got.Timeseries) != 1 || len(got.Timeseries[0].Labels) != 2 || got.Timeseries[0].Labels[1].Value != "a" ||
		len(got.Timeseries[0].Samples) != 2 || got.Timeseries[0].Samples[0].Timestamp != -5 || got.Timeseries[0].Samples[1].Value != -2 {
		t.Fatalf("decoded %+v", got)
	}
	if hdr.Get("Authorization") != "Bearer tok" || hdr.Get("X-Site") != "s1" || hdr.Get("Content-Encoding") != "snappy" ||
		hdr.Get("X-Prometheus-Remote-Write-Version") != "0.1.0" {
		t.Fatalf("headers %v", hdr)
	}
	for code, rejected := range map[int]bool{400: true, 429: false, 503: false} {
		codes <- code
		err := sink.Send(context.Background(), b)
		if err == nil || errors.Is(err, ErrRejected) != rejected || statusCode(err) != strconv.Itoa(code) {
			t.Fatalf("answer %d: %v (rejected %v)", code, err, errors.Is(err, ErrRejected))
		}
	}
}
