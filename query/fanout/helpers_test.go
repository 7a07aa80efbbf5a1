package fanout

import (
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// appendFrames encodes ss as a streamed remote read answer, as
// remote/chunks.go does: XOR chunks of at most perChunk samples, at most
// chunksPerFrame chunks a frame (a long series spans frames). A series
// without samples is one frame without chunks.
func appendFrames(tb testing.TB, dst []byte, ss []rawSeries, perChunk, chunksPerFrame int) []byte {
	tb.Helper()
	for _, s := range ss {
		pls := promLabels(s.lset)
		var chunks []prompb.Chunk
		for i := 0; i < len(s.ts); i += perChunk {
			j := min(i+perChunk, len(s.ts))
			c := chunkenc.NewXORChunk()
			app, err := c.Appender()
			if err != nil {
				tb.Fatal(err)
			}
			for k := i; k < j; k++ {
				app.Append(0, s.ts[k], s.vs[k])
			}
			chunks = append(chunks, prompb.Chunk{MinTimeMs: s.ts[i], MaxTimeMs: s.ts[j-1], Type: prompb.Chunk_XOR, Data: c.Bytes()})
		}
		for first := true; first || len(chunks) > 0; first = false {
			n := min(chunksPerFrame, len(chunks))
			msg := prompb.ChunkedReadResponse{ChunkedSeries: []*prompb.ChunkedSeries{{Labels: pls, Chunks: chunks[:n]}}}
			chunks = chunks[n:]
			dst = mustFrame(tb, dst, &msg)
		}
	}
	return dst
}

func mustFrame(tb testing.TB, dst []byte, msg *prompb.ChunkedReadResponse) []byte {
	tb.Helper()
	dst, err := appendFrame(dst, msg)
	if err != nil {
		tb.Fatal(err)
	}
	return dst
}

// mkSeries makes a series of n samples from t0 every step ms.
func mkSeries(name string, t0, step int64, n int, v0 float64) rawSeries {
	s := rawSeries{lset: labels.FromStrings("__name__", name, "job", "j")}
	for i := range n {
		s.ts = append(s.ts, t0+int64(i)*step)
		s.vs = append(s.vs, v0+float64(i))
	}
	return s
}
