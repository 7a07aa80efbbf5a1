package engine

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/lightningdb/lightningdb/engine/encoding"
	"github.com/lightningdb/lightningdb/series"
)

type segCase struct {
	id   series.ID
	typ  series.ValueType
	ts   []int64
	vals []uint64
	strs []byte
}

func segCases() []segCase {
	f := math.Float64bits
	str := func(ss ...string) ([]uint64, []byte) {
		var vals []uint64
		var buf []byte
		for _, s := range ss {
			vals = append(vals, uint64(len(buf))<<32|uint64(len(s)))
			buf = append(buf, s...)
		}
		return vals, buf
	}
	sv, sb := str("", "ok", "", "a longer string value", "ok")
	many := make([]int64, 1000)
	manyV := make([]uint64, 1000)
	for i := range many {
		many[i] = int64(i) * 10_000_000_000
		manyV[i] = uint64(i % 7)
	}
	return []segCase{
		{1, series.TypeFloat, []int64{-5, 0, 3}, []uint64{f(math.NaN()), f(math.Inf(-1)), f(math.Copysign(0, -1))}, nil},
		{2, series.TypeInt, []int64{math.MinInt64 + 1, 0, math.MaxInt64}, []uint64{1 << 63, 0, math.MaxInt64}, nil},
		{7, series.TypeUint, many, manyV, nil},
		{8, series.TypeBool, []int64{1, 2}, []uint64{1, 0}, nil},
		{1 << 20, series.TypeString, []int64{1, 2, 3, 4, 5}, sv, sb},
	}
}

// writeTestSegment writes the cases to a segment file and returns its path.
func writeTestSegment(t testing.TB, dir string, blockSamples int) string {
	t.Helper()
	must(t, os.MkdirAll(filepath.Join(dir, segDir), 0o755))
	path := segName(dir, 1)
	w, err := newSegmentWriter(OSFS{}, path, &encoding.Encoder{}, blockSamples)
	must(t, err)
	for _, c := range segCases() {
		must(t, w.writeSeries(c.id, c.typ, c.ts, c.vals, c.strs))
	}
	_, err = w.finish()
	must(t, err)
	return path
}

func TestSegmentRoundTrip(t *testing.T) {
	for _, bs := range []int{16, 8192} {
		dir := t.TempDir()
		writeTestSegment(t, dir, bs)
		seg, err := openSegment(OSFS{}, dir, segMeta{fileNum: 1, partition: math.MinInt64}, -1)
		must(t, err)
		parts := []partSegs{{start: 0, segs: []*segment{seg}}}
		it := &Iterator{}
		for _, c := range segCases() {
			it.load(c.id, math.MinInt64, math.MaxInt64, parts, nil, nil, nil)
			must(t, it.Err())
			if it.typ != c.typ || !slices.Equal(it.ts, c.ts) {
				t.Fatalf("block %d series %d: type %v ts %v", bs, c.id, it.typ, it.ts)
			}
			for i := range c.ts {
				it.i = i
				if c.typ == series.TypeString {
					_, got := it.AtString()
					off, n := c.vals[i]>>32, c.vals[i]&math.MaxUint32
					if string(got) != string(c.strs[off:off+n]) {
						t.Fatalf("series %d sample %d: %q", c.id, i, got)
					}
				} else if it.vals[i] != c.vals[i] {
					t.Fatalf("series %d sample %d: %x want %x", c.id, i, it.vals[i], c.vals[i])
				}
			}
			// A sub-range read trims at both ends.
			if len(c.ts) >= 3 {
				it.load(c.id, c.ts[1], c.ts[len(c.ts)-2], parts, nil, nil, nil)
				if !slices.Equal(it.ts, c.ts[1:len(c.ts)-1]) {
					t.Fatalf("sub-range of series %d: %v", c.id, it.ts)
				}
			}
		}
		it.load(3, math.MinInt64, math.MaxInt64, parts, nil, nil, nil)
		if it.Len() != 0 {
			t.Fatal("absent series read samples")
		}
		if seg.x.nSamples != 1013 || len(seg.x.ids) != 5 || (bs == 16) != (len(seg.x.blocks) > 5) {
			t.Fatalf("index: %d samples, %d series, %d blocks", seg.x.nSamples, len(seg.x.ids), len(seg.x.blocks))
		}
		seg.unref()
	}
}

// TestSegmentTruncatedOrFlipped: every truncation of a segment is rejected
// with a CorruptionError, and so is a flipped byte anywhere outside the
// blocks (blocks are checked when read, see TestBlockCorruption).
func TestSegmentTruncatedOrFlipped(t *testing.T) {
	dir := t.TempDir()
	path := writeTestSegment(t, dir, 16)
	data, err := os.ReadFile(path)
	must(t, err)
	x, err := decodeSegIndex(path, data)
	must(t, err)
	dataEnd := int(x.blocks[len(x.blocks)-1].off) + int(x.blocks[len(x.blocks)-1].len)
	var ce *CorruptionError
	for n := range len(data) {
		if _, err := decodeSegIndex(path, data[:n]); !errors.As(err, &ce) {
			t.Fatalf("truncated to %d: %v", n, err)
		}
	}
	for off := range len(data) {
		if off >= segHeaderSize && off < dataEnd {
			continue
		}
		d := slices.Clone(data)
		d[off] ^= 0x10
		if _, err := decodeSegIndex(path, d); !errors.As(err, &ce) {
			t.Fatalf("flip at %d not detected: %v", off, err)
		}
	}
	// Every flipped block byte fails that block's check.
	for _, b := range x.blocks {
		d := slices.Clone(data)
		d[b.off+int64(b.len)/2] ^= 1
		if _, err := checkBlock(d, b); err == nil {
			t.Fatalf("flip in block at %d not detected", b.off)
		}
	}
}

// FuzzSegmentDecode feeds arbitrary bytes to the segment decoder and then
// reads every block it accepts: no panic, no hang, errors are
// CorruptionErrors.
func FuzzSegmentDecode(f *testing.F) {
	dir := f.TempDir()
	data, err := os.ReadFile(writeTestSegment(f, dir, 16))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data)
	f.Add(data[:len(data)/2])
	shared := f.TempDir()
	writeSharedSegment(f, shared, 16)
	if data, err = os.ReadFile(segName(shared, 1)); err != nil {
		f.Fatal(err)
	}
	f.Add(data)
	f.Fuzz(func(t *testing.T, data []byte) {
		x, err := decodeSegIndex("fuzz", data)
		if err != nil {
			var ce *CorruptionError
			if !errors.As(err, &ce) {
				t.Fatalf("error is not a CorruptionError: %v", err)
			}
			return
		}
		var dec encoding.Decoder
		var ts []int64
		var vals []uint64
		var strs [][]byte
		for i := range x.ids {
			for _, b := range x.blocks[x.first[i]:x.first[i+1]] {
				_ = verifyBlock(&dec, data, x.version, b, x.types[i], &ts, &vals, &strs)
			}
			x.seriesBlocks(i, 0, 100)
		}
	})
}
