package cluster

import (
	"bytes"
	"errors"
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/lightningdb/lightningdb/series"
)

func testBatch(t testing.TB) *series.Batch {
	var b series.Batch
	b.AddSeries(series.Labels{{Name: "__name__", Value: "cpu"}, {Name: "host", Value: "a"}}, series.TypeFloat)
	b.AppendFloat(1000, 1.5)
	b.AppendFloat(-5, math.Inf(1))
	b.AppendFloat(math.MaxInt64-1, 3)
	b.AddSeries(series.Labels{{Name: "__name__", Value: "log"}}, series.TypeString)
	b.AppendString(7, []byte("hello"))
	b.AppendString(8, nil)
	b.AddSeries(series.Labels{{Name: "__name__", Value: "up"}}, series.TypeBool)
	b.AppendBool(9, true)
	require.NoError(t, b.Validate())
	return &b
}

// batchString renders a batch's series and samples for comparisons.
func batchString(b *series.Batch) string {
	var buf bytes.Buffer
	for i := range b.Len() {
		canon, typ, ts, vals := b.Series(i)
		buf.Write(canon)
		buf.WriteByte(byte(typ))
		for k := range ts {
			v := vals[k]
			if typ == series.TypeString {
				buf.Write(b.Str(v))
				v = 0
			}
			buf.WriteString(string(rune(ts[k] % 1000)))
			buf.WriteString(string(rune(v % 1000)))
		}
		buf.WriteByte('\n')
	}
	return buf.String()
}

func TestMessageRoundTrip(t *testing.T) {
	b := testBatch(t)
	spans := []span{{0, 0, 3}, {1, 0, 2}, {2, 0, 1}}
	msg, _ := appendMessage(nil, nil, b, spans)
	var got series.Batch
	_, err := UnmarshalMessage(&got, msg, nil)
	require.NoError(t, err)
	require.Equal(t, batchString(b), batchString(&got))
	for i := range b.Len() {
		_, _, ts, vals := b.Series(i)
		_, _, gts, gvals := got.Series(i)
		require.Equal(t, ts, gts)
		if i != 1 {
			require.Equal(t, vals, gvals)
		}
	}
}

func TestMessageErrorsNameTheProblem(t *testing.T) {
	b := testBatch(t)
	msg, _ := appendMessage(nil, nil, b, []span{{0, 0, 3}})
	cases := map[string]struct {
		in   []byte
		want string
	}{
		"empty":   {nil, "bad magic"},
		"version": {[]byte{'L', 'B', 9, 0}, "unknown version 9"},
		"flags":   {[]byte{'L', 'B', 1, 4}, "unknown flags"},
		"zstd":    {append([]byte{'L', 'B', 1, 1}, 1, 2, 3), "zstd"},
		"trunc":   {[]byte{'L', 'B', 1, 0, 1, 5, 'a'}, "labels: length 5 past the end"},
		"type":    {[]byte{'L', 'B', 1, 0, 1, 0, 9}, "invalid value type 9"},
		"count":   {[]byte{'L', 'B', 1, 0, 1, 0, 1, 0}, "sample count 0"},
		"short":   {msg[:len(msg)-3], "zstd"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			var got series.Batch
			_, err := UnmarshalMessage(&got, c.in, nil)
			require.ErrorIs(t, err, ErrCorruptMessage)
			require.ErrorContains(t, err, c.want)
		})
	}
}

func TestSplitCutsLargeSeriesAndKeepsPartitions(t *testing.T) {
	var b series.Batch
	for i := range 50 {
		b.AddSeries(series.Labels{{Name: "__name__", Value: "m"}, {Name: "i", Value: string(rune('a' + i%26))}, {Name: "j", Value: string(rune('a' + i/26))}}, series.TypeFloat)
		for k := range 100 {
			b.AppendFloat(int64(k), float64(k))
		}
	}
	parts := split(&b, 8, 2000, nil) // ~110 samples a message
	seen := map[[2]int]int{}         // (series, sample) -> times
	for _, p := range parts {
		raw := 0
		for _, s := range p.spans {
			canon, _, _, _ := b.Series(s.i)
			require.Equal(t, p.p, PartitionOf(canon, 8))
			raw += spanRawBytes(&b, s)
			for k := s.lo; k < s.hi; k++ {
				seen[[2]int{s.i, k}]++
			}
		}
		require.LessOrEqual(t, raw, 2000)
	}
	require.Len(t, seen, 5000)
	for _, n := range seen {
		require.Equal(t, 1, n)
	}
}

// FuzzUnmarshalMessage checks that any payload either decodes into a batch
// that re-encodes to the same body, or fails with ErrCorruptMessage.
func FuzzUnmarshalMessage(f *testing.F) {
	b := testBatch(f)
	msg, _ := appendMessage(nil, nil, b, []span{{0, 0, 3}, {1, 0, 2}, {2, 0, 1}})
	f.Add(msg)
	raw := append([]byte{'L', 'B', 1, 0}, appendBody(nil, b, []span{{0, 0, 3}, {1, 0, 2}})...)
	f.Add(raw)
	f.Fuzz(func(t *testing.T, in []byte) {
		var got series.Batch
		_, err := UnmarshalMessage(&got, in, nil)
		if err != nil {
			if !errors.Is(err, ErrCorruptMessage) {
				t.Fatalf("error %v is not ErrCorruptMessage", err)
			}
			return
		}
		var spans []span
		for i := range got.Len() {
			_, _, ts, _ := got.Series(i)
			spans = append(spans, span{i, 0, len(ts)})
		}
		again, _ := appendMessage(nil, nil, &got, spans)
		var got2 series.Batch
		_, err = UnmarshalMessage(&got2, again, nil)
		require.NoError(t, err)
		require.Equal(t, batchString(&got), batchString(&got2))
	})
}

// TestSealedRecordsOfTwoWrites checks that the series records of two
// batches, concatenated as the linger does, decode as one batch.
func TestSealedRecordsOfTwoWrites(t *testing.T) {
	a, b := testBatch(t), testBatch(t)
	recs := appendSeries(nil, a, []span{{0, 0, 3}, {1, 0, 2}})
	recs = appendSeries(recs, b, []span{{2, 0, 1}})
	msg, _ := sealMessage(nil, nil, 3, recs)
	var got series.Batch
	_, err := UnmarshalMessage(&got, msg, nil)
	require.NoError(t, err)
	want, _ := appendMessage(nil, nil, a, []span{{0, 0, 3}, {1, 0, 2}, {2, 0, 1}})
	var wantB series.Batch
	_, err = UnmarshalMessage(&wantB, want, nil)
	require.NoError(t, err)
	require.Equal(t, batchString(&wantB), batchString(&got))
	require.Equal(t, 3, got.Len())
}
