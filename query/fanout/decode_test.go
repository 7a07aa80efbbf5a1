package fanout

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/stretchr/testify/require"
)

func decodeAll(b []byte) ([]rawSeries, error) {
	d := &streamDecoder{maxFrame: 1 << 20}
	return d.decode(bytes.NewReader(b))
}

func TestDecodeRoundTrip(t *testing.T) {
	in := []rawSeries{mkSeries("a", 1000, 10, 1, 1), mkSeries("b", 0, 15_000, 500, 0.5), mkSeries("c", -5000, 1, 121, -3)}
	// 500 samples in chunks of 120, two chunks a frame: "b" spans frames.
	got, err := decodeAll(appendFrames(t, nil, in, 120, 2))
	require.NoError(t, err)
	require.Len(t, got, 3)
	for i := range in {
		require.True(t, labels.Equal(in[i].lset, got[i].lset))
		require.Equal(t, in[i].ts, got[i].ts)
		require.Equal(t, in[i].vs, got[i].vs)
	}
	got, err = decodeAll(nil)
	require.NoError(t, err)
	require.Empty(t, got)
}

func TestDecodeRejects(t *testing.T) {
	good := appendFrames(t, nil, []rawSeries{mkSeries("a", 0, 10, 300, 1)}, 120, 1)
	badCRC := bytes.Clone(good)
	badCRC[3] ^= 0xff
	ooo := appendFrames(t, nil, []rawSeries{mkSeries("a", 1000, 10, 5, 1), mkSeries("a", 0, 10, 5, 1)}, 120, 1)
	notXOR := mustFrame(t, nil, &prompb.ChunkedReadResponse{ChunkedSeries: []*prompb.ChunkedSeries{{
		Labels: []prompb.Label{{Name: "a", Value: "b"}}, Chunks: []prompb.Chunk{{Type: prompb.Chunk_HISTOGRAM, Data: []byte{0, 0}}}}}})
	noLabels := mustFrame(t, nil, &prompb.ChunkedReadResponse{ChunkedSeries: []*prompb.ChunkedSeries{{}}})
	dup := mustFrame(t, nil, &prompb.ChunkedReadResponse{ChunkedSeries: []*prompb.ChunkedSeries{{
		Labels: []prompb.Label{{Name: "a", Value: "b"}, {Name: "a", Value: "c"}}}}})
	for name, b := range map[string][]byte{
		"cut in a frame":     good[:len(good)-7],
		"cut in the length":  append(bytes.Clone(good), 0x80),
		"cut in checksum":    append(bytes.Clone(good), 5, 1),
		"bad checksum":       badCRC,
		"frame over limit":   append(bytes.Clone(good), 0xff, 0xff, 0xff, 0x7f),
		"out of order":       ooo,
		"not XOR":            notXOR,
		"no labels":          noLabels,
		"duplicate label":    dup,
		"garbage in a frame": appendGarbageFrame(),
	} {
		_, err := decodeAll(b)
		require.ErrorIs(t, err, ErrBadFrame, name)
		if name[:3] == "cut" {
			require.ErrorIs(t, err, io.ErrUnexpectedEOF, name)
		}
	}
}

func appendGarbageFrame() []byte {
	return []byte{3, 0x48, 0x0a, 0xd1, 0xa2, 0xff, 0xff, 0xff} // checksum of the wrong bytes
}

func TestDecodeSampleLimit(t *testing.T) {
	b := appendFrames(t, nil, []rawSeries{mkSeries("a", 0, 10, 300, 1)}, 120, 1)
	d := &streamDecoder{maxFrame: 1 << 20, samplesLeft: newLimit(299)}
	_, err := d.decode(bytes.NewReader(b))
	require.True(t, errors.Is(err, ErrTooManySamples), err)
}

func TestMerge(t *testing.T) {
	// The same series from two peers, overlapping in [50, 100) ms: each
	// timestamp once, the first peer's value where both have one.
	a := mkSeries("m", 0, 10, 10, 0)    // 0..90
	b := mkSeries("m", 50, 10, 10, 100) // 50..140
	other := mkSeries("n", 0, 10, 3, 0)
	got := merge([][]rawSeries{{a}, {other, b}})
	require.Len(t, got, 2)
	require.Equal(t, "m", got[0].lset.Get("__name__"))
	require.Equal(t, []int64{0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120, 130, 140}, got[0].ts)
	require.Equal(t, []float64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 105, 106, 107, 108, 109}, got[0].vs)
	require.Equal(t, other.ts, got[1].ts)
}

func TestFloatIteratorSeek(t *testing.T) {
	s := series(mkSeries("m", 0, 10, 5, 0)) // 0, 10, ..., 40
	it := s.Iterator(nil)
	require.Equal(t, chunkenc.ValFloat, it.Seek(15))
	require.Equal(t, int64(20), it.AtT())
	require.Equal(t, chunkenc.ValFloat, it.Seek(0)) // never backwards
	require.Equal(t, int64(20), it.AtT())
	require.Equal(t, chunkenc.ValFloat, it.Next())
	require.Equal(t, int64(30), it.AtT())
	require.Equal(t, chunkenc.ValNone, it.Seek(41))
	it = s.Iterator(it) // reused from the start
	require.Equal(t, chunkenc.ValFloat, it.Next())
	require.Equal(t, int64(0), it.AtT())
}
