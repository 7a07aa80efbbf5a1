package remote

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"net/http"
	"time"

	"github.com/prometheus/prometheus/prompb"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
)

// samplesPerChunk is the XOR chunk size Prometheus's head cuts at.
const samplesPerChunk = 120

// castagnoli is the CRC-32C table of the frame checksums.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// serveChunks answers with the STREAMED_XOR_CHUNKS framing: frames of
// uvarint(len) | big-endian CRC-32C | ChunkedReadResponse, one series per
// frame (split over several when larger than ReadMaxBytesInFrame),
// flushed one by one. A limit reached mid-stream cannot change the status
// any more, so the connection is cut (the client sees a truncated stream,
// never a silently short answer) and the reason is logged.
func (h *Handler) serveChunks(ctx context.Context, w http.ResponseWriter, queries []readQuery) {
	w.Header().Set("Content-Type", "application/x-streamed-protobuf; proto=prometheus.ChunkedReadResponse")
	fw := &frameWriter{w: w, rc: http.NewResponseController(w), h: h}
	var it Iterator
	for qi, q := range queries {
		for _, s := range q.series {
			if ctx.Err() != nil {
				return
			}
			it = h.store.Select(s.id, q.minT, q.maxT, it)
			ms := newMsSamples(it)
			n, err := h.writeSeriesFrames(fw, int64(qi), promLabels(s.labels), &ms)
			if err != nil {
				h.c.readCut.Add(1)
				h.opts.Logger.Warn("remote read: streamed answer cut", "err", err)
				panic(http.ErrAbortHandler)
			}
			if n == 0 {
				continue
			}
			h.c.readSeries.Add(1)
			h.c.readSamples.Add(int64(n))
		}
	}
}

// writeSeriesFrames encodes the samples of ms as XOR chunks of at most
// samplesPerChunk samples and writes them in frames of at most
// ReadMaxBytesInFrame bytes of chunk data (one chunk over it). It holds
// one frame at a time, however long the series. It returns the number of
// samples written.
func (h *Handler) writeSeriesFrames(fw *frameWriter, queryIndex int64, labels []prompb.Label, ms *msSamples) (int, error) {
	msg := prompb.ChunkedReadResponse{
		ChunkedSeries: []*prompb.ChunkedSeries{{Labels: labels}},
		QueryIndex:    queryIndex,
	}
	cs := msg.ChunkedSeries[0]
	frameBytes, total := 0, 0
	for {
		batch := fw.batch[:0]
		for len(batch) < samplesPerChunk {
			s, ok := ms.next()
			if !ok {
				break
			}
			batch = append(batch, s)
		}
		if len(batch) > 0 {
			chk, err := xorChunk(batch)
			if err != nil {
				return total, err
			}
			cs.Chunks = append(cs.Chunks, chk)
			frameBytes += len(chk.Data)
			total += len(batch)
		}
		last := len(batch) < samplesPerChunk
		if len(cs.Chunks) > 0 && (frameBytes >= h.opts.ReadMaxBytesInFrame || last) {
			if err := fw.write(&msg, h.opts.ReadMaxBytes); err != nil {
				return total, err
			}
			clear(cs.Chunks)
			cs.Chunks, frameBytes = cs.Chunks[:0], 0
		}
		if last {
			return total, nil
		}
	}
}

// xorChunk encodes samples (time ordered, at most 120) as one Prometheus
// XOR chunk.
func xorChunk(samples []msSample) (prompb.Chunk, error) {
	c := chunkenc.NewXORChunk()
	app, err := c.Appender()
	if err != nil {
		return prompb.Chunk{}, fmt.Errorf("xor appender: %w", err)
	}
	for _, s := range samples {
		app.Append(0, s.t, s.v)
	}
	return prompb.Chunk{
		MinTimeMs: samples[0].t,
		MaxTimeMs: samples[len(samples)-1].t,
		Type:      prompb.Chunk_XOR,
		Data:      c.Bytes(),
	}, nil
}

// frameWriter writes the frames of a streamed read answer, each within
// ReadWriteTimeout: a client that stops reading fails the write, which
// cuts the answer and frees its read slot.
type frameWriter struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	h       *Handler
	buf     []byte // the frame being written, kept for the next
	written int64
	batch   [samplesPerChunk]msSample
}

func (fw *frameWriter) write(msg *prompb.ChunkedReadResponse, limit int64) error {
	size := msg.Size()
	fw.buf = fw.buf[:0]
	fw.buf = binary.AppendUvarint(fw.buf, uint64(size))
	hdr := len(fw.buf)
	fw.buf = append(fw.buf, 0, 0, 0, 0)
	fw.buf = append(fw.buf, make([]byte, size)...)
	if _, err := msg.MarshalToSizedBuffer(fw.buf[hdr+4:]); err != nil {
		return fmt.Errorf("marshal ChunkedReadResponse: %w", err)
	}
	binary.BigEndian.PutUint32(fw.buf[hdr:], crc32.Checksum(fw.buf[hdr+4:], castagnoli))
	return fw.send(limit)
}

// send writes the frame in fw.buf, within limit bytes of answer.
func (fw *frameWriter) send(limit int64) error {
	fw.written += int64(len(fw.buf))
	if fw.written > limit {
		return fmt.Errorf("%w: streamed answer over %d bytes (ReadMaxBytes)", ErrReadLimit, limit)
	}
	fw.h.setWriteDeadline(fw.rc, fw.h.opts.ReadWriteTimeout)
	if _, err := fw.w.Write(fw.buf); err != nil {
		return fmt.Errorf("write frame: %w", err)
	}
	if err := fw.rc.Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return fmt.Errorf("write frame (client not reading within %v?): %w", fw.h.opts.ReadWriteTimeout, err)
	}
	return nil
}

// setWriteDeadline gives the next writes of an answer d to complete (no
// deadline when d is negative, or when the writer cannot take one).
func (h *Handler) setWriteDeadline(rc *http.ResponseController, d time.Duration) {
	if d <= 0 {
		return
	}
	if err := rc.SetWriteDeadline(time.Now().Add(d)); err != nil && !errors.Is(err, http.ErrNotSupported) {
		h.opts.Logger.Debug("remote read: set write deadline", "err", err)
	}
}
