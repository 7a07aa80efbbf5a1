package fanout

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"slices"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
)

// castagnoli is the CRC-32C table of the frame checksums.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// rawSeries is one series of a peer's answer: labels and float samples in
// strictly increasing timestamp order (ms). It owns its slices.
type rawSeries struct {
	lset labels.Labels
	ts   []int64
	vs   []float64
}

// streamDecoder decodes a STREAMED_XOR_CHUNKS answer (remote/chunks.go):
// frames of uvarint(len) | big-endian CRC-32C(msg) | ChunkedReadResponse.
// A series split over several frames (consecutive, same labels) comes
// back as one.
type streamDecoder struct {
	// maxFrame is the largest frame accepted, in bytes.
	maxFrame int
	// samplesLeft is the samples still allowed (shared by the peers of a
	// select); nil means no limit.
	samplesLeft *limit
}

// decode reads the whole stream. The stream must end at a frame boundary:
// a cut inside a frame is an error (the server cuts answers it cannot
// finish), never a short answer.
func (d *streamDecoder) decode(r io.Reader) ([]rawSeries, error) {
	br := bufio.NewReaderSize(r, 32<<10)
	var (
		out []rawSeries
		buf []byte
		msg prompb.ChunkedReadResponse
	)
	for frame := 0; ; frame++ {
		size, err := binary.ReadUvarint(br)
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%w: frame %d: length: %w", ErrBadFrame, frame, noEOF(err))
		}
		if size > uint64(d.maxFrame) {
			return nil, fmt.Errorf("%w: frame %d: %d bytes, over the %d-byte limit", ErrBadFrame, frame, size, d.maxFrame)
		}
		var sum [4]byte
		if _, err := io.ReadFull(br, sum[:]); err != nil {
			return nil, fmt.Errorf("%w: frame %d: checksum: %w", ErrBadFrame, frame, noEOF(err))
		}
		if cap(buf) < int(size) {
			buf = make([]byte, size)
		}
		buf = buf[:size]
		if _, err := io.ReadFull(br, buf); err != nil {
			return nil, fmt.Errorf("%w: frame %d: %d-byte body: %w", ErrBadFrame, frame, size, noEOF(err))
		}
		if got, want := crc32.Checksum(buf, castagnoli), binary.BigEndian.Uint32(sum[:]); got != want {
			return nil, fmt.Errorf("%w: frame %d: checksum %08x, want %08x", ErrBadFrame, frame, got, want)
		}
		msg.Reset()
		if err := msg.Unmarshal(buf); err != nil {
			return nil, fmt.Errorf("%w: frame %d: ChunkedReadResponse: %v", ErrBadFrame, frame, err)
		}
		for _, cs := range msg.ChunkedSeries {
			if out, err = d.appendSeries(out, cs); err != nil {
				return nil, fmt.Errorf("frame %d: %w", frame, err)
			}
		}
	}
}

// noEOF turns io.EOF inside a frame into io.ErrUnexpectedEOF.
func noEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// appendSeries decodes cs onto out: onto its last series when cs has the
// same labels (a continuation frame), else as a new series.
func (d *streamDecoder) appendSeries(out []rawSeries, cs *prompb.ChunkedSeries) ([]rawSeries, error) {
	lset, err := seriesLabels(cs.Labels)
	if err != nil {
		return out, err
	}
	if n := len(out); n == 0 || !labels.Equal(out[n-1].lset, lset) {
		out = append(out, rawSeries{lset: lset})
	}
	s := &out[len(out)-1]
	var it chunkenc.Iterator
	for i, chk := range cs.Chunks {
		if chk.Type != prompb.Chunk_XOR {
			return out, fmt.Errorf("%w: series %s: chunk %d: encoding %v, want XOR", ErrBadFrame, lset, i, chk.Type)
		}
		c, err := chunkenc.FromData(chunkenc.EncXOR, chk.Data)
		if err != nil {
			return out, fmt.Errorf("%w: series %s: chunk %d: %v", ErrBadFrame, lset, i, err)
		}
		// The chunk's sample count is taken from the limit and sizes the
		// columns; a chunk holding fewer (a corrupt count) fails below.
		n := c.NumSamples()
		if !d.samplesLeft.take(int64(n)) {
			return out, ErrTooManySamples
		}
		s.ts, s.vs = slices.Grow(s.ts, n), slices.Grow(s.vs, n)
		it = c.Iterator(it)
		for it.Next() == chunkenc.ValFloat {
			t, v := it.At()
			if n := len(s.ts); n > 0 && t <= s.ts[n-1] {
				return out, fmt.Errorf("%w: series %s: chunk %d: timestamp %d after %d", ErrBadFrame, lset, i, t, s.ts[n-1])
			}
			s.ts = append(s.ts, t)
			s.vs = append(s.vs, v)
		}
		if err := it.Err(); err != nil {
			return out, fmt.Errorf("%w: series %s: chunk %d: %v", ErrBadFrame, lset, i, err)
		}
	}
	return out, nil
}

// seriesLabels builds a label set from a peer's labels: not empty, no
// empty or duplicate name.
func seriesLabels(pls []prompb.Label) (labels.Labels, error) {
	if len(pls) == 0 {
		return labels.EmptyLabels(), fmt.Errorf("%w: series without labels", ErrBadFrame)
	}
	b := labels.NewScratchBuilder(len(pls))
	for _, l := range pls {
		if l.Name == "" {
			return labels.EmptyLabels(), fmt.Errorf("%w: empty label name", ErrBadFrame)
		}
		b.Add(l.Name, l.Value)
	}
	b.Sort()
	lset := b.Labels()
	if name, dup := lset.HasDuplicateLabelNames(); dup {
		return labels.EmptyLabels(), fmt.Errorf("%w: label %q twice", ErrBadFrame, name)
	}
	return lset, nil
}
