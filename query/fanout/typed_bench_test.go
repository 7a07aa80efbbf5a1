package fanout

import (
	"context"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunkenc"

	"github.com/lightningdb/lightningdb/remote"
	lseries "github.com/lightningdb/lightningdb/series"
)

// BenchmarkReadPeers compares a select's two answer types over the same
// float data on three peers (10 series of 2,000 samples each, every 10
// s): PromQL's streamed XOR chunks (Select) and typed answers
// (SelectTyped, InfluxQL on a query node).
func BenchmarkReadPeers(b *testing.B) {
	const t0 = int64(1_700_000_000_000_000_000)
	var peers []Peer
	for p := range 3 {
		var bt lseries.Batch
		for s := range 10 {
			bt.AddSeries(lseries.FromStrings("__name__", "cpu_usage", "host", fmt.Sprintf("h%d-%d", p, s)), lseries.TypeFloat)
			for k := range 2000 {
				bt.AppendFloat(t0+int64(k)*10e9, float64(k%100)/4)
			}
		}
		peers = append(peers, typedPeer(b, &bt))
	}
	q, err := New(topo{peers: peers}, Options{PeerTimeout: 10 * time.Second})
	if err != nil {
		b.Fatal(err)
	}
	m := labels.MustNewMatcher(labels.MatchEqual, "__name__", "cpu_usage")
	minT, maxT := t0, t0+2000*10e9
	// wire returns the bytes of one peer's answer of type accept, per sample.
	wire := func(accept prompb.ReadRequest_ResponseType) float64 {
		body, err := readRequestOf(minT/1e6, maxT/1e6, nil, []*labels.Matcher{m}, accept)
		if err != nil {
			b.Fatal(err)
		}
		resp, err := q.postRead(context.Background(), peers[0], body)
		if err != nil {
			b.Fatal(err)
		}
		defer resp.Body.Close()
		n, err := io.Copy(io.Discard, resp.Body)
		if err != nil {
			b.Fatal(err)
		}
		return float64(n) / 20000
	}
	b.Run("chunks", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			qr, _ := q.Querier(minT/1e6, maxT/1e6)
			ss := qr.Select(context.Background(), false, &storage.SelectHints{Start: minT / 1e6, End: maxT / 1e6}, m)
			n := 0
			var it chunkenc.Iterator
			for ss.Next() {
				it = ss.At().Iterator(it)
				for it.Next() != chunkenc.ValNone {
					n++
				}
			}
			if ss.Err() != nil || n != 60000 {
				b.Fatal(ss.Err(), n)
			}
		}
		b.ReportMetric(wire(prompb.ReadRequest_STREAMED_XOR_CHUNKS), "wireB/sample")
	})
	b.Run("typed", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			list, _, err := q.SelectTyped(context.Background(), minT, maxT, 0, m)
			n := 0
			for _, s := range list {
				n += len(s.Ts)
			}
			if err != nil || n != 60000 {
				b.Fatal(err, n)
			}
		}
		b.ReportMetric(wire(remote.ReadTypedSeries), "wireB/sample")
	})
}
