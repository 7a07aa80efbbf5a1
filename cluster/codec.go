package cluster

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sync"

	"github.com/klauspost/compress/zstd"

	"github.com/lightningdb/lightningdb/series"
)

// Message format, version 1: the payload of one JetStream message, a part
// of a series.Batch that falls in one partition.
//
//	+-----------------+-------------+-----------+---------------------------------+
//	| magic "LB" (2)  | version (1) | flags (1) | body (zstd frame if flags&1)    |
//	+-----------------+-------------+-----------+---------------------------------+
//	body:   uvarint(series count) then per series:
//	        uvarint(len) canonical labels | type (1) | uvarint(sample count) |
//	        per sample: varint(timestamp - previous timestamp, the first from 0) |
//	                    value: 8 bytes little endian, or for a string series
//	                    uvarint(len) bytes
//
// The message carries no checksum of its own: JetStream stores and
// replicates it whole (its file store checksums every record), and a
// body that does not decode is refused with ErrCorruptMessage.
const (
	msgMagic0, msgMagic1 = 'L', 'B'
	msgVersion           = 1
	flagZstd             = 1
	headerLen            = 4
)

// maxDecodedBytes bounds the decompressed body of one message, so a
// corrupt or hostile message cannot make a storage node allocate without
// bound. Publishers keep their raw bodies under maxRawBytes.
const maxDecodedBytes = 64 << 20

var (
	encOnce sync.Once
	enc     *zstd.Encoder
	dec     *zstd.Decoder
)

func codecs() (*zstd.Encoder, *zstd.Decoder) {
	encOnce.Do(func() {
		// EncodeAll and DecodeAll are safe for concurrent use; the options
		// cannot fail.
		enc, _ = zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1))
		dec, _ = zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecoderMaxMemory(maxDecodedBytes))
	})
	return enc, dec
}

// span is samples lo..hi of series i of a batch.
type span struct {
	i, lo, hi int
}

// appendBody appends the uncompressed body of the spans of b to dst.
func appendBody(dst []byte, b *series.Batch, spans []span) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(spans)))
	return appendSeries(dst, b, spans)
}

// appendSeries appends the series records of the spans (a body without
// its count): records of several writes concatenate into one body.
func appendSeries(dst []byte, b *series.Batch, spans []span) []byte {
	for _, s := range spans {
		canon, typ, ts, vals := b.Series(s.i)
		dst = binary.AppendUvarint(dst, uint64(len(canon)))
		dst = append(dst, canon...)
		dst = append(dst, byte(typ))
		dst = binary.AppendUvarint(dst, uint64(s.hi-s.lo))
		var prev int64
		for k := s.lo; k < s.hi; k++ {
			dst = binary.AppendVarint(dst, ts[k]-prev)
			prev = ts[k]
			if typ == series.TypeString {
				str := b.Str(vals[k])
				dst = binary.AppendUvarint(dst, uint64(len(str)))
				dst = append(dst, str...)
				continue
			}
			dst = binary.LittleEndian.AppendUint64(dst, vals[k])
		}
	}
	return dst
}

// spanRawBytes estimates the body bytes of a span (an upper bound).
func spanRawBytes(b *series.Batch, s span) int {
	canon, typ, _, vals := b.Series(s.i)
	n := len(canon) + 12 + (s.hi-s.lo)*(10+8)
	if typ == series.TypeString {
		for k := s.lo; k < s.hi; k++ {
			n += int(vals[k]&math.MaxUint32) + 5
		}
	}
	return n
}

// AppendMessage appends the message holding spans of b to dst,
// zstd-compressed; scratch is reused for the raw body and returned.
func appendMessage(dst, scratch []byte, b *series.Batch, spans []span) (msg, scratchOut []byte) {
	e, _ := codecs()
	scratch = appendBody(scratch[:0], b, spans)
	dst = append(dst, msgMagic0, msgMagic1, msgVersion, flagZstd)
	return e.EncodeAll(scratch, dst), scratch
}

// sealMessage appends the message whose body is count series records.
func sealMessage(dst, scratch []byte, count int, records []byte) (msg, scratchOut []byte) {
	e, _ := codecs()
	scratch = binary.AppendUvarint(scratch[:0], uint64(count))
	scratch = append(scratch, records...)
	dst = append(dst, msgMagic0, msgMagic1, msgVersion, flagZstd)
	return e.EncodeAll(scratch, dst), scratch
}

// ErrCorruptMessage marks a message payload that does not decode.
var ErrCorruptMessage = errors.New("corrupt cluster message")

// UnmarshalMessage decodes a message payload and appends its series to
// dst. On error, dst holds the series decoded before the bad one.
// scratch is reused for the decompressed body and returned.
func UnmarshalMessage(dst *series.Batch, src, scratch []byte) ([]byte, error) {
	if len(src) < headerLen || src[0] != msgMagic0 || src[1] != msgMagic1 {
		return scratch, fmt.Errorf("%w: bad magic", ErrCorruptMessage)
	}
	if src[2] != msgVersion {
		return scratch, fmt.Errorf("%w: unknown version %d (this node reads %d)", ErrCorruptMessage, src[2], msgVersion)
	}
	if src[3]&^flagZstd != 0 {
		return scratch, fmt.Errorf("%w: unknown flags %#x", ErrCorruptMessage, src[3])
	}
	body := src[headerLen:]
	if src[3]&flagZstd != 0 {
		_, d := codecs()
		var err error
		if scratch, err = d.DecodeAll(body, scratch[:0]); err != nil {
			return scratch, fmt.Errorf("%w: zstd: %w", ErrCorruptMessage, err)
		}
		body = scratch
	}
	return scratch, unmarshalBody(dst, body)
}

func unmarshalBody(dst *series.Batch, src []byte) error {
	n, src, err := uvarint(src, "series count")
	if err != nil {
		return err
	}
	for i := uint64(0); i < n; i++ {
		if src, err = unmarshalSeries(dst, src); err != nil {
			return fmt.Errorf("series %d: %w", i, err)
		}
	}
	if len(src) != 0 {
		return fmt.Errorf("%w: %d trailing bytes", ErrCorruptMessage, len(src))
	}
	return nil
}

func unmarshalSeries(dst *series.Batch, src []byte) ([]byte, error) {
	canon, src, err := bytesField(src, "labels")
	if err != nil {
		return nil, err
	}
	if len(src) < 1 {
		return nil, fmt.Errorf("%w: type: truncated", ErrCorruptMessage)
	}
	typ := series.ValueType(src[0])
	if !typ.Valid() {
		return nil, fmt.Errorf("%w: invalid value type %d", ErrCorruptMessage, src[0])
	}
	cnt, src, err := uvarint(src[1:], "sample count")
	if err != nil {
		return nil, err
	}
	if cnt == 0 || cnt > uint64(len(src)) { // every sample takes a byte at least
		return nil, fmt.Errorf("%w: sample count %d for %d bytes", ErrCorruptMessage, cnt, len(src))
	}
	dst.AddCanonical(canon, typ)
	var t int64
	for k := uint64(0); k < cnt; k++ {
		d, m := binary.Varint(src)
		if m <= 0 {
			dst.DropLast()
			return nil, fmt.Errorf("%w: timestamp of sample %d: bad varint", ErrCorruptMessage, k)
		}
		t += d
		src = src[m:]
		if typ == series.TypeString {
			var str []byte
			if str, src, err = bytesField(src, "string value"); err != nil {
				dst.DropLast()
				return nil, err
			}
			dst.AppendString(t, str)
			continue
		}
		if len(src) < 8 {
			dst.DropLast()
			return nil, fmt.Errorf("%w: value of sample %d: truncated", ErrCorruptMessage, k)
		}
		dst.AppendRaw(t, binary.LittleEndian.Uint64(src))
		src = src[8:]
	}
	return src, nil
}

func uvarint(src []byte, what string) (uint64, []byte, error) {
	v, n := binary.Uvarint(src)
	if n <= 0 {
		return 0, nil, fmt.Errorf("%w: %s: bad uvarint", ErrCorruptMessage, what)
	}
	return v, src[n:], nil
}

func bytesField(src []byte, what string) ([]byte, []byte, error) {
	n, src, err := uvarint(src, what+" length")
	if err != nil {
		return nil, nil, err
	}
	if n > uint64(len(src)) {
		return nil, nil, fmt.Errorf("%w: %s: length %d past the end (%d bytes left)", ErrCorruptMessage, what, n, len(src))
	}
	return src[:n], src[n:], nil
}
