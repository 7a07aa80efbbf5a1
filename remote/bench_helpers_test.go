package remote

import (
	"fmt"
	"testing"

	"github.com/prometheus/prometheus/prompb"
	"github.com/stretchr/testify/require"
)

// promSeriesSet returns n node-exporter-shaped series of k samples each,
// at tMs onwards (one per 15 s).
func promSeriesSet(n, k int, tMs int64) []prompb.TimeSeries {
	out := make([]prompb.TimeSeries, n)
	for i := range out {
		out[i].Labels = lbls("__name__", fmt.Sprintf("node_metric_%d", i%50), "cpu", fmt.Sprint(i/50),
			"instance", "host-17.example.org:9100", "job", "node", "mode", "user")
		for j := range k {
			out[i].Samples = append(out[i].Samples, prompb.Sample{Timestamp: tMs + int64(j)*15000, Value: float64(i*j) * 1.25})
		}
	}
	return out
}

// rawBody is a decoded (not snappy) request body of n series x k samples.
func rawBody(tb testing.TB, v, n, k int) []byte {
	in := promSeriesSet(n, k, t0)
	var data []byte
	var err error
	if v == 1 {
		data, err = (&prompb.WriteRequest{Timeseries: in}).Marshal()
	} else {
		data, err = v2Request(in).Marshal()
	}
	require.NoError(tb, err)
	return data
}
