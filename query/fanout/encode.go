package fanout

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
)

// samplesPerChunk is the XOR chunk size Prometheus's head cuts at.
const samplesPerChunk = 120

// maxChunkBytesInFrame is the chunk data after which a frame is closed
// (Prometheus' default frame size).
const maxChunkBytesInFrame = 1 << 20

// promLabels converts a label set to prompb labels.
func promLabels(lset labels.Labels) []prompb.Label {
	out := make([]prompb.Label, 0, lset.Len())
	lset.Range(func(l labels.Label) { out = append(out, prompb.Label{Name: l.Name, Value: l.Value}) })
	return out
}

// appendSeriesFrames appends s as STREAMED_XOR_CHUNKS frames of query
// queryIndex (uvarint(len) | big-endian CRC-32C | ChunkedReadResponse),
// XOR chunks of at most samplesPerChunk samples, a frame closed past
// maxChunkBytesInFrame. A series without samples is left out.
func appendSeriesFrames(dst []byte, queryIndex int64, s *rawSeries) ([]byte, error) {
	msg := prompb.ChunkedReadResponse{ChunkedSeries: []*prompb.ChunkedSeries{{Labels: promLabels(s.lset)}}, QueryIndex: queryIndex}
	cs := msg.ChunkedSeries[0]
	frameBytes := 0
	for i := 0; i < len(s.ts); i += samplesPerChunk {
		j := min(i+samplesPerChunk, len(s.ts))
		c := chunkenc.NewXORChunk()
		app, err := c.Appender()
		if err != nil {
			return dst, fmt.Errorf("xor appender: %w", err)
		}
		for k := i; k < j; k++ {
			app.Append(0, s.ts[k], s.vs[k])
		}
		cs.Chunks = append(cs.Chunks, prompb.Chunk{MinTimeMs: s.ts[i], MaxTimeMs: s.ts[j-1], Type: prompb.Chunk_XOR, Data: c.Bytes()})
		frameBytes += len(c.Bytes())
		if frameBytes >= maxChunkBytesInFrame || j == len(s.ts) {
			if dst, err = appendFrame(dst, &msg); err != nil {
				return dst, err
			}
			cs.Chunks, frameBytes = cs.Chunks[:0], 0
		}
	}
	return dst, nil
}

// appendFrame appends msg as one frame.
func appendFrame(dst []byte, msg *prompb.ChunkedReadResponse) ([]byte, error) {
	b, err := msg.Marshal()
	if err != nil {
		return dst, fmt.Errorf("marshal ChunkedReadResponse: %w", err)
	}
	dst = binary.AppendUvarint(dst, uint64(len(b)))
	dst = binary.BigEndian.AppendUint32(dst, crc32.Checksum(b, castagnoli))
	return append(dst, b...), nil
}
