package engine

import (
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/lightningdb/lightningdb/engine/encoding"
	"github.com/lightningdb/lightningdb/series"
)

// readSegmentCases opens segment 1 of dir and checks that every case reads
// back bit for bit, whole and as a sub-range, and that every block verifies.
func readSegmentCases(t *testing.T, dir string, cases []segCase) *segment {
	t.Helper()
	seg, err := openSegment(OSFS{}, dir, segMeta{fileNum: 1, partition: math.MinInt64}, -1)
	must(t, err)
	t.Cleanup(seg.unref)
	parts := []partSegs{{start: 0, segs: []*segment{seg}}}
	it := &Iterator{}
	for _, c := range cases {
		it.load(c.id, math.MinInt64, math.MaxInt64, parts, nil, nil, nil)
		must(t, it.Err())
		if it.typ != c.typ || !slices.Equal(it.ts, c.ts) || len(it.vals) != len(c.vals) {
			t.Fatalf("series %d: type %v, %d timestamps, %d values", c.id, it.typ, len(it.ts), len(it.vals))
		}
		if c.typ != series.TypeString && !slices.Equal(it.vals, c.vals) {
			t.Fatalf("series %d: values differ", c.id)
		}
		if len(c.ts) >= 3 {
			it.load(c.id, c.ts[1], c.ts[len(c.ts)-2], parts, nil, nil, nil)
			must(t, it.Err())
			if !slices.Equal(it.ts, c.ts[1:len(c.ts)-1]) {
				t.Fatalf("sub-range of series %d: %d timestamps", c.id, len(it.ts))
			}
		}
	}
	var dec encoding.Decoder
	var ts []int64
	var vals []uint64
	var strs [][]byte
	for i := range seg.x.ids {
		for j := seg.x.first[i]; j < seg.x.first[i+1]; j++ {
			typ := seg.x.types[i]
			must(t, verifyBlock(&dec, seg.data, seg.x.version, seg.x.blocks[j], typ, &ts, &vals, &strs))
			if typ != series.TypeString && !sameAgg(seg.x.aggs[j], computeBlockAgg(typ, ts, vals)) {
				t.Fatalf("series %d block %d: aggregates %+v, computed %+v", seg.x.ids[i], j, seg.x.aggs[j], computeBlockAgg(typ, ts, vals))
			}
		}
	}
	return seg
}

// TestSegmentV2Readable reads a version 2 segment written before shared
// timestamps (testdata/segment-v2.seg, the segCases at 16 samples a
// block, written by the version 2 writer).
func TestSegmentV2Readable(t *testing.T) {
	dir := t.TempDir()
	data, err := os.ReadFile(filepath.Join("testdata", "segment-v2.seg"))
	must(t, err)
	must(t, os.MkdirAll(filepath.Join(dir, segDir), 0o755))
	must(t, os.WriteFile(segName(dir, 1), data, 0o644))
	seg := readSegmentCases(t, dir, segCases())
	if seg.x.version != 2 || len(seg.x.blocks) <= 5 {
		t.Fatalf("version %d, %d blocks", seg.x.version, len(seg.x.blocks))
	}
}

// sharedCases are series of one segment of which several have the same
// timestamps: three fields of a line (float, int, string), a series with a
// sample more (no reference: its blocks split differently), then one with
// the same timestamps again but other values, and special float values.
func sharedCases() []segCase {
	f := math.Float64bits
	ts := make([]int64, 100)
	for i := range ts {
		ts[i] = 1_700_000_000_000 + int64(i)*60_000 + int64(i*7919%6001) - 3000
	}
	floats, ints, strs := make([]uint64, 100), make([]uint64, 100), make([]uint64, 100)
	var sb []byte
	for i := range ts {
		floats[i] = f(20 + float64(i%13)/100)
		ints[i] = uint64(int64(i) - 50)
		strs[i] = uint64(len(sb))<<32 | 2
		sb = append(sb, "ok"...)
	}
	floats[3], floats[4], floats[5] = f(math.NaN()), f(math.Copysign(0, -1)), f(math.Inf(1))
	floats[6] = 0x7ff0000000000001 // a signalling NaN payload
	ints[7], ints[8] = 1<<63, math.MaxInt64
	longer := append(slices.Clone(ts), ts[99]+60_000)
	other := slices.Clone(ts)
	for i := range other {
		other[i] += 1000
	}
	return []segCase{
		{10, series.TypeFloat, ts, floats, nil},
		{11, series.TypeInt, ts, ints, nil},
		{12, series.TypeString, ts, strs, sb},
		{13, series.TypeFloat, longer, append(slices.Clone(floats), f(1)), nil},
		{14, series.TypeFloat, longer, append(slices.Clone(ints), 5), nil},
		{20, series.TypeUint, ts, ints, nil},
		// Interleaved (two writers created the series): 31 refers to 20's
		// timestamps three series back, 33 to 30's, 32 to 31's owner.
		{30, series.TypeFloat, other, floats, nil},
		{31, series.TypeInt, ts, ints, nil},
		{32, series.TypeFloat, ts, floats, nil},
		{33, series.TypeInt, other, ints, nil},
	}
}

// writeSharedSegment writes sharedCases to segment 1 of dir.
func writeSharedSegment(t testing.TB, dir string, blockSamples int) {
	t.Helper()
	must(t, os.MkdirAll(filepath.Join(dir, segDir), 0o755))
	w, err := newSegmentWriter(OSFS{}, segName(dir, 1), &encoding.Encoder{}, blockSamples)
	must(t, err)
	for _, c := range sharedCases() {
		must(t, w.writeSeries(c.id, c.typ, c.ts, c.vals, c.strs))
	}
	_, err = w.finish()
	must(t, err)
}

// countRefs returns how many blocks of seg refer to other blocks'
// timestamps.
func countRefs(seg *segment) int {
	n := 0
	for _, b := range seg.x.blocks {
		if encoding.IsTimesRef(seg.data[b.off:]) {
			n++
		}
	}
	return n
}

// TestSharedTimestampsRoundTrip: series with the timestamps of the series
// before them store references, all read back bit for bit, and series
// whose timestamps differ do not refer.
func TestSharedTimestampsRoundTrip(t *testing.T) {
	// At 8192 samples a block: 11 and 12 refer to 10's block, 14 to 13's,
	// 20 to 10's (five series back), 31 to 20's owner (10's), 33 to 30's.
	// 13 (101 samples) does not, nor 32: 10, the owner of its timestamps,
	// is 8 series back. At 16: 100 and 101 samples both split into 7 blocks
	// of 15 and a shorter last one, so 13 refers to the 6 full blocks of
	// 12's owner too; 11, 12, 14, 20, 31 and 33 refer in all their 7
	// blocks: 7*6 + 6.
	for _, c := range []struct{ bs, refs int }{{16, 48}, {8192, 6}} {
		dir := t.TempDir()
		writeSharedSegment(t, dir, c.bs)
		seg := readSegmentCases(t, dir, sharedCases())
		checkTsHints(t, seg)
		if got, want := countRefs(seg), c.refs; got != want {
			t.Fatalf("block size %d: %d blocks refer, want %d", c.bs, got, want)
		}
		if seg.x.version != segVersion {
			t.Fatalf("version %d", seg.x.version)
		}
	}
}

// TestSharedTimestampsDamage: a flipped byte in the timestamps of a block
// others refer to makes all of them unreadable, and Verify names each; a
// flipped byte in its values damages that block only.
func TestSharedTimestampsDamage(t *testing.T) {
	dir := t.TempDir()
	writeSharedSegment(t, dir, 8192)
	path := segName(dir, 1)
	clean, err := os.ReadFile(path)
	must(t, err)
	x, err := decodeSegIndex(path, clean)
	must(t, err)
	owner := x.blocks[0] // series 10, referred to by 11, 12, 20 and 31
	for _, c := range []struct {
		off     int64
		damaged int
	}{{owner.off + 2, 5}, {owner.off + int64(owner.len) - 6, 1}} {
		data := slices.Clone(clean)
		data[c.off] ^= 0x10
		var dec encoding.Decoder
		var ts []int64
		var vals []uint64
		var strs [][]byte
		var damaged []int64
		for i := range x.ids {
			for _, b := range x.blocks[x.first[i]:x.first[i+1]] {
				if verifyBlock(&dec, data, x.version, b, x.types[i], &ts, &vals, &strs) != nil {
					damaged = append(damaged, b.off)
				}
			}
		}
		want := []int64{x.blocks[0].off}
		if c.damaged > 1 { // every series with 10's timestamps
			want = want[:0]
			for i, sc := range sharedCases() {
				if slices.Equal(sc.ts, sharedCases()[0].ts) && sc.id != 32 { // 32 is too far from 10
					want = append(want, x.blocks[i].off)
				}
			}
		}
		if !slices.Equal(damaged, want) {
			t.Fatalf("flip at %d: damaged blocks at %v, want %v", c.off, damaged, want)
		}
	}
}

// TestSharedTimestampsBounded: the writer remembers at most tsShareMax
// samples of a series, so only the blocks within them are referred to.
func TestSharedTimestampsBounded(t *testing.T) {
	const n = tsShareMax + 8862 // 18 blocks of 7778 at 8192 a block
	ts := make([]int64, n)
	vals := make([]uint64, n)
	for i := range ts {
		ts[i] = int64(i) * 1000
		vals[i] = uint64(i % 5)
	}
	cases := []segCase{{1, series.TypeInt, ts, vals, nil}, {2, series.TypeInt, ts, vals, nil}}
	dir := t.TempDir()
	must(t, os.MkdirAll(filepath.Join(dir, segDir), 0o755))
	w, err := newSegmentWriter(OSFS{}, segName(dir, 1), &encoding.Encoder{}, 8192)
	must(t, err)
	for _, c := range cases {
		must(t, w.writeSeries(c.id, c.typ, c.ts, c.vals, nil))
	}
	_, err = w.finish()
	must(t, err)
	seg := readSegmentCases(t, dir, cases)
	if got := countRefs(seg); got != tsShareMax/7778 {
		t.Fatalf("%d of %d blocks refer, want %d", got, len(seg.x.blocks)/2, tsShareMax/7778)
	}
}

// checkTsHints checks the index's timestamps hints against the blocks: a
// series with a hint has a first block that refers to the first block of
// the series the hint names, and one without has its own timestamps.
func checkTsHints(t *testing.T, seg *segment) {
	t.Helper()
	x := seg.x
	if len(x.tsBack) != len(x.ids) {
		t.Fatalf("%d hints for %d series", len(x.tsBack), len(x.ids))
	}
	for i, k := range x.tsBack {
		b := x.blocks[x.first[i]]
		ref, _, err := encoding.DecodeTimesRef(seg.data[b.off:])
		if k == 0 {
			if err == nil {
				t.Fatalf("series %d: no hint, but its first block refers %d bytes back", x.ids[i], ref.Back)
			}
			continue
		}
		owner := x.blocks[x.first[i-int(k)]]
		if err != nil || b.off-int64(ref.Back) != owner.off {
			t.Fatalf("series %d: hint %d series back (block at %d), reference %+v (%v)", x.ids[i], k, owner.off, ref, err)
		}
		if got := x.tsOwnerBlocks(i, math.MinInt64, math.MaxInt64); len(got) == 0 || got[0].off != owner.off {
			t.Fatalf("series %d: owner blocks %v", x.ids[i], got)
		}
	}
}
