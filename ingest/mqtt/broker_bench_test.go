package mqtt

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/lightningdb/lightningdb/series"
)

// nopAppender accepts every sample at once, so a benchmark measures the
// MQTT side alone.
type nopAppender struct{ batches atomic.Int64 }

func (a *nopAppender) Append(_ context.Context, b *series.Batch) (series.AppendResult, error) {
	a.batches.Add(1)
	return series.AppendResult{Accepted: b.Samples()}, nil
}

// BenchmarkBrokerHookOnPublish is the hook's per-message path as mochi
// calls it for a QoS 1 PUBLISH of one line protocol sample: decode,
// submit to the shared committer, wait for the Append, count, observe
// the ack latency. Many goroutines publish at once, like connections.
func BenchmarkBrokerHookOnPublish(b *testing.B) {
	for _, samples := range []int{1, 10} {
		b.Run("samples="+strconv.Itoa(samples), func(b *testing.B) {
			app := &nopAppender{}
			in, err := New(app, Options{})
			if err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { in.Run(ctx); close(done) }()
			defer func() { cancel(); <-done }()
			src, err := in.newSource("broker", nil)
			if err != nil {
				b.Fatal(err)
			}
			h := &brokerHook{b: &Broker{in: in, src: src, ctx: ctx}}
			payload := []byte("bench,dev=d1 ")
			for i := range samples {
				if i > 0 {
					payload = append(payload, ',')
				}
				payload = append(payload, "f"+strconv.Itoa(i)+"=1.5"...)
			}
			payload = append(payload, " 1700000000000000000"...)
			b.SetBytes(int64(len(payload)))
			b.ReportAllocs()
			b.SetParallelism(64)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				cl := &mochi.Client{}
				cl.Properties.ProtocolVersion = 4
				pk := packets.Packet{TopicName: "bench/d1", Payload: payload}
				pk.FixedHeader.Type = packets.Publish
				pk.FixedHeader.Qos = 1
				for pb.Next() {
					if _, err := h.OnPublish(cl, pk); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			b.ReportMetric(float64(b.N)/float64(app.batches.Load()), "msgs/Append")
		})
	}
}
