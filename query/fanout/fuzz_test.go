package fanout

import (
	"bytes"
	"testing"

	"github.com/klauspost/compress/snappy"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
)

// FuzzDecodeStream feeds arbitrary bytes to the streamed remote read
// decoder: it must return an error or series that survive a round trip
// (encode, decode again, same series), and never panic.
func FuzzDecodeStream(f *testing.F) {
	f.Add(appendFrames(f, nil, []rawSeries{mkSeries("a", 0, 10, 130, 1), mkSeries("b", -7, 1, 1, 0)}, 120, 1))
	f.Add(appendFrames(f, nil, []rawSeries{mkSeries("c", 1e12, 15_000, 3, 0.25)}, 2, 1))
	f.Add([]byte{})
	f.Add([]byte{0x80, 0x80})
	f.Fuzz(func(t *testing.T, b []byte) {
		d := &streamDecoder{maxFrame: 1 << 16, samplesLeft: newLimit(1 << 16)}
		ss, err := d.decode(bytes.NewReader(b))
		if err != nil {
			return
		}
		again, err := decodeAll(appendFrames(t, nil, ss, 120, 4))
		if err != nil {
			t.Fatalf("re-encoded answer does not decode: %v", err)
		}
		if len(again) != len(ss) {
			t.Fatalf("%d series, %d after a round trip", len(ss), len(again))
		}
		for i := range ss {
			if !labels.Equal(ss[i].lset, again[i].lset) || len(ss[i].ts) != len(again[i].ts) {
				t.Fatalf("series %d: %s/%d, %s/%d after a round trip", i, ss[i].lset, len(ss[i].ts), again[i].lset, len(again[i].ts))
			}
			for k := range ss[i].ts {
				if ss[i].ts[k] != again[i].ts[k] || !sameFloat(ss[i].vs[k], again[i].vs[k]) {
					t.Fatalf("series %d sample %d differs after a round trip", i, k)
				}
			}
		}
	})
}

func sameFloat(a, b float64) bool { return a == b || a != a && b != b }

// FuzzReadRequest feeds arbitrary bytes, raw and snappy-compressed, to the
// query node's remote read request decoder: an error or a request whose
// matcher sets match its queries, never a panic.
func FuzzReadRequest(f *testing.F) {
	body, err := readRequest(0, 1000, nil, []*labels.Matcher{labels.MustNewMatcher(labels.MatchRegexp, "job", "a.*")})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(body)
	f.Add(snappy.Encode(nil, []byte{0x0a, 0x02, 0x08, 0x01}))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, in := range [][]byte{b, snappy.Encode(nil, b)} {
			req, sets, err := decodeReadRequest(in)
			if err == nil && len(sets) != len(req.Queries) {
				t.Fatalf("%d matcher sets for %d queries", len(sets), len(req.Queries))
			}
		}
	})
}

// FuzzJSONPoint feeds arbitrary bytes to the point decoder of peers'
// answers: an error, or a point that Prometheus' encoder writes back to
// the same point.
func FuzzJSONPoint(f *testing.F) {
	for _, s := range []string{`[1767244680,"7"]`, `[1.5, "NaN"]`, `[ -3.25 , "+Inf"]`, `[1,"1e-300"]`, `[]`, `["1","2"]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var p jsonPoint
		if p.UnmarshalJSON(b) != nil {
			return
		}
		out, err := promql.FPoint(p).MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		var again jsonPoint
		if err := again.UnmarshalJSON(out); err != nil {
			t.Fatalf("%s written as %s: %v", b, out, err)
		}
		if again.T != p.T || !sameFloat(again.F, p.F) {
			t.Fatalf("%s: %v, written as %s: %v", b, p, out, again)
		}
	})
}
