package remote

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"net/http"
	"testing"

	"github.com/klauspost/compress/s2"
	"github.com/prometheus/prometheus/prompb"
	"github.com/stretchr/testify/require"

	"github.com/lightningdb/lightningdb/series"
)

// typedFixture stores one series of each value type, with nanosecond
// timestamps (two in one millisecond) and values a float64 cannot hold,
// and returns the batch stored.
func typedFixture(t *testing.T, db interface {
	Append(context.Context, *series.Batch) (series.AppendResult, error)
}, n int) *series.Batch {
	t.Helper()
	var b series.Batch
	for _, typ := range []series.ValueType{series.TypeFloat, series.TypeInt, series.TypeUint, series.TypeBool, series.TypeString} {
		b.AddSeries(series.FromStrings("__name__", "m_"+typ.String(), "db", "x"), typ)
		for k := range n {
			ts := t0*1e6 + int64(k)*1_000_003 + int64(k%2)*7 // some in one ms with the previous one
			switch typ {
			case series.TypeFloat:
				b.AppendFloat(ts, float64(k)/3)
			case series.TypeInt:
				b.AppendInt(ts, 1<<53+int64(k))
			case series.TypeUint:
				b.AppendUint(ts, math.MaxUint64-uint64(k))
			case series.TypeBool:
				b.AppendBool(ts, k%3 == 0)
			case series.TypeString:
				b.AppendString(ts, []byte(fmt.Sprintf("v%d \"q\" \x00 %d", k, k*k)))
			}
		}
	}
	res, err := db.Append(context.Background(), &b)
	require.NoError(t, err)
	require.Empty(t, res.Rejected)
	return &b
}

func typedRequest(t testing.TB, q *prompb.Query) []byte {
	req := &prompb.ReadRequest{Queries: []*prompb.Query{q}, AcceptedResponseTypes: []prompb.ReadRequest_ResponseType{ReadTypedSeries}}
	data, err := req.Marshal()
	require.NoError(t, err)
	return s2.EncodeSnappy(nil, data)
}

// TestReadTyped: a typed answer gives back every series as stored: its
// type, raw values and nanosecond timestamps, a series split over frames
// by ReadMaxBytesInFrame coming back whole.
func TestReadTyped(t *testing.T) {
	for _, frame := range []int{0, 64} {
		h, db := newTestHandler(t, Options{ReadMaxBytesInFrame: frame})
		b := typedFixture(t, db, 300)
		w := post(mux(h), "/api/v1/read", "application/x-protobuf", typedRequest(t, &prompb.Query{
			StartTimestampMs: t0, EndTimestampMs: t0 + 1000,
			Matchers: []*prompb.LabelMatcher{{Type: prompb.LabelMatcher_EQ, Name: "db", Value: "x"}},
		}))
		require.Equal(t, http.StatusOK, w.Code, w.Body.String())
		require.Equal(t, TypedContentType, w.Header().Get("Content-Type"))
		frames := 0
		for body := w.Body.Bytes(); len(body) > 0; frames++ {
			n, k := binary.Uvarint(body)
			body = body[k+4+int(n):]
		}
		got, err := (&TypedDecoder{}).Decode(bytes.NewReader(w.Body.Bytes()))
		require.NoError(t, err)
		require.Len(t, got, b.Len())
		want := map[string]int{}
		for i := range b.Len() {
			canon, _, _, _ := b.Series(i)
			want[string(canon)] = i
		}
		for _, s := range got {
			i, ok := want[string(s.Labels)]
			require.True(t, ok, series.CanonicalString(s.Labels))
			_, typ, ts, vals := b.Series(i)
			require.Equal(t, typ, s.Type)
			require.Equal(t, ts, s.Ts)
			if typ == series.TypeString {
				for k := range vals {
					require.Equal(t, b.Str(vals[k]), s.String(k))
				}
				continue
			}
			require.Equal(t, vals, s.Vals)
		}
		t.Logf("ReadMaxBytesInFrame %d: %d frames, %d bytes", frame, frames, w.Body.Len())
		if frame == 64 {
			require.Greater(t, frames, 5*20)
		} else {
			require.Equal(t, 5, frames)
		}
	}
}

// TestReadTypedLimits: the remote read limits hold for typed answers: too
// many series is a 400 before anything is sent, an answer past
// ReadMaxBytes is cut (the decoder reports the cut stream), and the
// decoder's Take stops a client at its own sample limit.
func TestReadTypedLimits(t *testing.T) {
	h, db := newTestHandler(t, Options{ReadMaxSeries: 4})
	typedFixture(t, db, 300)
	q := &prompb.Query{StartTimestampMs: t0, EndTimestampMs: t0 + 1000,
		Matchers: []*prompb.LabelMatcher{{Type: prompb.LabelMatcher_EQ, Name: "db", Value: "x"}}}
	w := post(mux(h), "/api/v1/read", "application/x-protobuf", typedRequest(t, q))
	require.Equal(t, http.StatusBadRequest, w.Code, w.Body.String())

	h, db = newTestHandler(t, Options{ReadMaxBytes: 4000, ReadMaxBytesInFrame: 256})
	typedFixture(t, db, 300)
	m := mux(h)
	require.Panics(t, func() { post(m, "/api/v1/read", "application/x-protobuf", typedRequest(t, q)) }, "answer past ReadMaxBytes is cut")

	h, db = newTestHandler(t, Options{})
	typedFixture(t, db, 300)
	w = post(mux(h), "/api/v1/read", "application/x-protobuf", typedRequest(t, q))
	require.Equal(t, http.StatusOK, w.Code)
	left := int64(1000)
	tooMany := errors.New("too many")
	d := TypedDecoder{Take: func(n int64) bool { left -= n; return left >= 0 }, ErrTooMany: tooMany}
	_, err := d.Decode(bytes.NewReader(w.Body.Bytes()))
	require.ErrorIs(t, err, tooMany)
	// A stream cut inside a frame is an error, not a short answer.
	full := w.Body.Bytes()
	_, err = (&TypedDecoder{}).Decode(bytes.NewReader(full[:len(full)-3]))
	require.ErrorIs(t, err, ErrBadTypedFrame)
	// An older peer: a request listing only response types it does not
	// know is refused.
	req := &prompb.ReadRequest{Queries: []*prompb.Query{q}, AcceptedResponseTypes: []prompb.ReadRequest_ResponseType{ReadTypedSeries + 1}}
	data, err := req.Marshal()
	require.NoError(t, err)
	w = post(mux(h), "/api/v1/read", "application/x-protobuf", s2.EncodeSnappy(nil, data))
	require.Equal(t, http.StatusBadRequest, w.Code)
}

// typedFrame frames body as a typed answer frame.
func typedFrame(body []byte) []byte {
	out := binary.AppendUvarint(nil, uint64(len(body)))
	out = binary.BigEndian.AppendUint32(out, crc32.Checksum(body, castagnoli))
	return append(out, body...)
}

// FuzzTypedDecode: any input gives a clear error (ErrBadTypedFrame, or
// the limit's) or series with valid labels and types, strictly
// increasing timestamps and string values inside their bytes. The input
// is tried as a stream and as one frame's body (so the fuzzer need not
// find checksums).
func FuzzTypedDecode(f *testing.F) {
	canon := series.FromStrings("__name__", "m", "host", "a").AppendCanonical(nil)
	body := func(typ series.ValueType, samples ...[]byte) []byte {
		b := binary.AppendUvarint(nil, 0)
		b = binary.AppendUvarint(b, uint64(len(canon)))
		b = append(append(b, canon...), byte(typ))
		b = binary.AppendUvarint(b, uint64(len(samples)))
		for _, s := range samples {
			b = append(b, s...)
		}
		return b
	}
	num := func(dt int64, v uint64) []byte {
		return binary.LittleEndian.AppendUint64(binary.AppendVarint(nil, dt), v)
	}
	str := func(dt int64, s string) []byte {
		return append(binary.AppendUvarint(binary.AppendVarint(nil, dt), uint64(len(s))), s...)
	}
	f.Add(body(series.TypeInt, num(1_700_000_000_000_000_007, 1<<60), num(300, 2)))
	f.Add(body(series.TypeString, str(5, "ok"), str(1, ""), str(1, "x\x00y")))
	f.Add(body(series.TypeFloat, num(1, math.Float64bits(math.NaN())), num(0, 1)))
	f.Add(append(typedFrame(body(series.TypeBool, num(1, 1))), typedFrame(body(series.TypeBool, num(2, 0)))...))
	f.Add(body(9, num(1, 1)))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, in := range [][]byte{data, typedFrame(data)} {
			left := int64(1 << 16)
			limit := errors.New("limit")
			d := TypedDecoder{MaxFrame: 1 << 20, Take: func(n int64) bool { left -= n; return left >= 0 }, ErrTooMany: limit}
			out, err := d.Decode(bytes.NewReader(in))
			if err != nil && !errors.Is(err, ErrBadTypedFrame) && !errors.Is(err, limit) {
				t.Fatalf("unexpected error class: %v", err)
			}
			for i, s := range out {
				if err == nil || i < len(out)-1 { // the last may be half decoded
					_, lerr := series.UnmarshalLabels(nil, s.Labels)
					require.NoError(t, lerr)
					require.True(t, s.Type.Valid())
					require.Len(t, s.Vals, len(s.Ts))
					require.NotEmpty(t, s.Ts)
				}
				for k := 1; k < len(s.Ts); k++ {
					if s.Ts[k] <= s.Ts[k-1] {
						t.Fatalf("series %d: timestamp %d after %d", i, s.Ts[k], s.Ts[k-1])
					}
				}
				if s.Type == series.TypeString {
					for k := range s.Vals {
						_ = s.String(k) // in range
					}
				}
			}
		}
	})
}
