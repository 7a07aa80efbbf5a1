package remote

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"net/http"
	"slices"

	"github.com/prometheus/prometheus/prompb"

	"github.com/lightningdb/lightningdb/series"
)

// Typed answers: Lightning DB's own remote read response type, for its
// query nodes (InfluxQL over the peers, docs/cluster.md). Prometheus'
// answers carry float samples with millisecond timestamps; a typed answer
// carries what the engine stores: the series' value type (float,
// integer, unsigned, boolean, string), every raw value and nanosecond
// timestamps. A client asks for it by listing ReadTypedSeries in
// ReadRequest.accepted_response_types; a server that predates it answers
// 400 (no supported response type), never a lossy answer.
//
// The answer is a stream of frames, as STREAMED_XOR_CHUNKS frames it:
//
//	frame:  uvarint(len(body)) | big-endian CRC-32C(body) | body
//	body:   uvarint(query index) | uvarint(len) canonical labels |
//	        type (1 byte, series.ValueType) | uvarint(sample count, >= 1) |
//	        per sample: varint(timestamp ns - previous, the frame's first
//	                    from 0) |
//	                    value: 8 bytes little endian (float64 bits, int64,
//	                    uint64, boolean 0 or 1), or for a string series
//	                    uvarint(len) bytes
//
// A series comes in time order, in one frame or, past ReadMaxBytesInFrame
// of samples, in several consecutive frames with the same labels. Series
// follow each other in label order within a query. A limit reached
// mid-answer cuts the connection, so a client sees a truncated stream,
// never a short answer.
const (
	// ReadTypedSeries is the accepted_response_types value of a typed
	// answer. It is far from Prometheus' values (0, 1) so that a future
	// one does not collide.
	ReadTypedSeries prompb.ReadRequest_ResponseType = 0x4c44
	// TypedContentType is the Content-Type of a typed answer.
	TypedContentType = "application/x-lightningdb-typed-series; version=1"
)

// ErrBadTypedFrame marks a typed answer that does not decode.
var ErrBadTypedFrame = errors.New("bad typed read frame")

// serveTyped answers with typed frames (see ReadTypedSeries), holding one
// frame at a time however long a series is.
func (h *Handler) serveTyped(ctx context.Context, w http.ResponseWriter, queries []readQuery) {
	w.Header().Set("Content-Type", TypedContentType)
	fw := &frameWriter{w: w, rc: http.NewResponseController(w), h: h}
	var it Iterator
	var tw typedWriter
	for qi, q := range queries {
		for _, s := range q.series {
			if ctx.Err() != nil {
				return
			}
			it = h.store.Select(s.id, q.minT, q.maxT, it)
			if it.Len() == 0 || !it.Type().Valid() {
				continue
			}
			n, err := tw.writeSeries(fw, uint64(qi), s.labels, it)
			if err == nil {
				err = it.Err()
			}
			if err != nil {
				h.c.readCut.Add(1)
				h.opts.Logger.Warn("remote read: typed answer cut", "err", err)
				panic(http.ErrAbortHandler)
			}
			h.c.readSeries.Add(1)
			h.c.readSamples.Add(int64(n))
		}
	}
}

// typedWriter builds the frames of a typed answer.
type typedWriter struct {
	head, samples, body []byte // scratch, kept between series
}

// writeSeries writes the samples of it (not empty) as frames of at most
// ReadMaxBytesInFrame bytes of samples (one sample over it) and returns
// the samples written.
func (tw *typedWriter) writeSeries(fw *frameWriter, query uint64, canon []byte, it Iterator) (int, error) {
	typ := it.Type()
	tw.head = binary.AppendUvarint(tw.head[:0], query)
	tw.head = binary.AppendUvarint(tw.head, uint64(len(canon)))
	tw.head = append(append(tw.head, canon...), byte(typ))
	total, n, prev := 0, 0, int64(0)
	tw.samples = tw.samples[:0]
	flush := func() error {
		tw.body = binary.AppendUvarint(append(tw.body[:0], tw.head...), uint64(n))
		tw.body = append(tw.body, tw.samples...)
		total += n
		n, prev, tw.samples = 0, 0, tw.samples[:0]
		return fw.writeBody(tw.body, fw.h.opts.ReadMaxBytes)
	}
	for it.Next() {
		var t int64
		if typ == series.TypeString {
			var s []byte
			t, s = it.AtString()
			tw.samples = binary.AppendVarint(tw.samples, t-prev)
			tw.samples = binary.AppendUvarint(tw.samples, uint64(len(s)))
			tw.samples = append(tw.samples, s...)
		} else {
			var raw uint64
			t, raw = it.At()
			tw.samples = binary.AppendVarint(tw.samples, t-prev)
			tw.samples = binary.LittleEndian.AppendUint64(tw.samples, raw)
		}
		prev = t
		if n++; len(tw.samples) >= fw.h.opts.ReadMaxBytesInFrame {
			if err := flush(); err != nil {
				return total, err
			}
		}
	}
	if n > 0 {
		if err := flush(); err != nil {
			return total, err
		}
	}
	return total, nil
}

// writeBody writes body as one frame, within limit bytes of answer.
func (fw *frameWriter) writeBody(body []byte, limit int64) error {
	fw.buf = binary.AppendUvarint(fw.buf[:0], uint64(len(body)))
	fw.buf = binary.BigEndian.AppendUint32(fw.buf, crc32.Checksum(body, castagnoli))
	fw.buf = append(fw.buf, body...)
	return fw.send(limit)
}

// TypedSeries is one series of a typed answer: canonical labels, value
// type, timestamps (ns, strictly increasing) and raw values (see
// series.AsFloat64); a string value k is Strs[Vals[k]>>32:][:Vals[k]&
// math.MaxUint32]. It owns its slices.
type TypedSeries struct {
	Query  int
	Labels []byte
	Type   series.ValueType
	Ts     []int64
	Vals   []uint64
	Strs   []byte
}

// String returns value k of a string series.
func (s *TypedSeries) String(k int) []byte {
	off, n := s.Vals[k]>>32, s.Vals[k]&math.MaxUint32
	return s.Strs[off : off+n]
}

// TypedDecoder decodes typed answers. The zero value takes frames up to
// 50 MiB and no sample limit.
type TypedDecoder struct {
	// MaxFrame is the largest frame body accepted, in bytes (0: 50 MiB).
	MaxFrame int
	// Take, when set, is called with each frame's sample count before its
	// samples are decoded; false stops the decoding with ErrTooMany.
	Take func(n int64) bool
	// ErrTooMany is the error when Take refuses (ErrReadLimit when nil).
	ErrTooMany error
}

// Decode reads a whole typed answer. A series split over several frames
// comes back as one. The stream must end at a frame boundary: a cut
// inside a frame is an error, never a short answer.
func (d *TypedDecoder) Decode(r io.Reader) ([]TypedSeries, error) {
	maxFrame := d.MaxFrame
	if maxFrame <= 0 {
		maxFrame = 50 << 20
	}
	br := bufio.NewReaderSize(r, 32<<10)
	var out []TypedSeries
	var buf []byte
	for frame := 0; ; frame++ {
		size, err := binary.ReadUvarint(br)
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, fmt.Errorf("%w: frame %d: length: %w", ErrBadTypedFrame, frame, unexpectedEOF(err))
		}
		if size > uint64(maxFrame) {
			return out, fmt.Errorf("%w: frame %d: %d bytes, over the %d-byte limit", ErrBadTypedFrame, frame, size, maxFrame)
		}
		var sum [4]byte
		if _, err := io.ReadFull(br, sum[:]); err != nil {
			return out, fmt.Errorf("%w: frame %d: checksum: %w", ErrBadTypedFrame, frame, unexpectedEOF(err))
		}
		buf = slices.Grow(buf[:0], int(size))[:size]
		if _, err := io.ReadFull(br, buf); err != nil {
			return out, fmt.Errorf("%w: frame %d: %d-byte body: %w", ErrBadTypedFrame, frame, size, unexpectedEOF(err))
		}
		if got, want := crc32.Checksum(buf, castagnoli), binary.BigEndian.Uint32(sum[:]); got != want {
			return out, fmt.Errorf("%w: frame %d: checksum %08x, want %08x", ErrBadTypedFrame, frame, got, want)
		}
		if out, err = d.appendFrame(out, buf); err != nil {
			return out, fmt.Errorf("frame %d: %w", frame, err)
		}
	}
}

func unexpectedEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// appendFrame decodes one frame body onto out: onto its last series when
// the frame continues it (same query and labels), else as a new series.
func (d *TypedDecoder) appendFrame(out []TypedSeries, src []byte) ([]TypedSeries, error) {
	query, src, err := typedUvarint(src, "query index")
	if err != nil {
		return out, err
	}
	if query > math.MaxInt32 {
		return out, fmt.Errorf("%w: query index %d", ErrBadTypedFrame, query)
	}
	canon, src, err := typedBytes(src, "labels")
	if err != nil {
		return out, err
	}
	if len(src) < 1 {
		return out, fmt.Errorf("%w: type: truncated", ErrBadTypedFrame)
	}
	typ := series.ValueType(src[0])
	if !typ.Valid() {
		return out, fmt.Errorf("%w: invalid value type %d", ErrBadTypedFrame, src[0])
	}
	cnt, src, err := typedUvarint(src[1:], "sample count")
	if err != nil {
		return out, err
	}
	minBytes := uint64(9) // a timestamp varint and 8 bytes of value
	if typ == series.TypeString {
		minBytes = 2 // a timestamp varint and a length varint
	}
	if cnt == 0 || cnt > uint64(len(src))/minBytes {
		return out, fmt.Errorf("%w: sample count %d for %d bytes", ErrBadTypedFrame, cnt, len(src))
	}
	var s *TypedSeries
	if n := len(out); n > 0 && out[n-1].Query == int(query) && bytes.Equal(out[n-1].Labels, canon) {
		if s = &out[n-1]; s.Type != typ {
			return out, fmt.Errorf("%w: series %s: type %s, then %s", ErrBadTypedFrame, series.CanonicalString(canon), s.Type, typ)
		}
	} else {
		if len(canon) == 0 {
			return out, fmt.Errorf("%w: series without labels", ErrBadTypedFrame)
		}
		if _, err := series.UnmarshalLabels(nil, canon); err != nil {
			return out, fmt.Errorf("%w: %w", ErrBadTypedFrame, err)
		}
		out = append(out, TypedSeries{Query: int(query), Labels: slices.Clone(canon), Type: typ})
		s = &out[len(out)-1]
	}
	if d.Take != nil && !d.Take(int64(cnt)) {
		if d.ErrTooMany != nil {
			return out, d.ErrTooMany
		}
		return out, fmt.Errorf("%w: too many samples", ErrReadLimit)
	}
	s.Ts, s.Vals = slices.Grow(s.Ts, int(cnt)), slices.Grow(s.Vals, int(cnt))
	var t int64
	for k := uint64(0); k < cnt; k++ {
		delta, m := binary.Varint(src)
		if m <= 0 {
			return out, fmt.Errorf("%w: series %s: timestamp of sample %d: bad varint", ErrBadTypedFrame, series.CanonicalString(canon), k)
		}
		src = src[m:]
		t += delta
		if n := len(s.Ts); n > 0 && t <= s.Ts[n-1] {
			return out, fmt.Errorf("%w: series %s: timestamp %d after %d", ErrBadTypedFrame, series.CanonicalString(canon), t, s.Ts[n-1])
		}
		var raw uint64
		if typ == series.TypeString {
			var str []byte
			if str, src, err = typedBytes(src, "string value"); err != nil {
				return out, err
			}
			if len(s.Strs)+len(str) > math.MaxUint32 {
				return out, fmt.Errorf("%w: series %s: over 4 GiB of strings", ErrBadTypedFrame, series.CanonicalString(canon))
			}
			raw = uint64(len(s.Strs))<<32 | uint64(len(str))
			s.Strs = append(s.Strs, str...)
		} else {
			if len(src) < 8 {
				return out, fmt.Errorf("%w: series %s: value of sample %d: truncated", ErrBadTypedFrame, series.CanonicalString(canon), k)
			}
			raw, src = binary.LittleEndian.Uint64(src), src[8:]
		}
		s.Ts, s.Vals = append(s.Ts, t), append(s.Vals, raw)
	}
	if len(src) != 0 {
		return out, fmt.Errorf("%w: series %s: %d trailing bytes", ErrBadTypedFrame, series.CanonicalString(canon), len(src))
	}
	return out, nil
}

func typedUvarint(src []byte, what string) (uint64, []byte, error) {
	v, n := binary.Uvarint(src)
	if n <= 0 {
		return 0, nil, fmt.Errorf("%w: %s: bad uvarint", ErrBadTypedFrame, what)
	}
	return v, src[n:], nil
}

func typedBytes(src []byte, what string) ([]byte, []byte, error) {
	n, src, err := typedUvarint(src, what+" length")
	if err != nil {
		return nil, nil, err
	}
	if n > uint64(len(src)) {
		return nil, nil, fmt.Errorf("%w: %s: length %d past the end (%d bytes left)", ErrBadTypedFrame, what, n, len(src))
	}
	return src[:n], src[n:], nil
}
