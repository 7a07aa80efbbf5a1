package engine

import (
	"fmt"
	"hash/crc32"
	"slices"

	"golang.org/x/sys/unix"

	"github.com/lightningdb/lightningdb/engine/encoding"
)

// Shared timestamps (segment version 3). The fields of one line-protocol
// line, or the series of one remote-write request, have identical
// timestamps; their blocks are close in a segment (consecutive series IDs,
// or nearly so when concurrent writers created the series). From version 3
// a block whose timestamps equal those of the same block of one of the
// previous tsShareWindow series stores a timestamps reference
// (encoding.AppendTimesRef) to the block that holds them: the distance back
// from its own offset, the length of that block's timestamps stream (its
// first bytes) and their CRC32C. A referenced block always holds encoded
// timestamps, never a reference, and belongs to one of the tsShareWindow-1
// series before. Damage to a block's values leaves the blocks referring to
// its timestamps readable; damage to its timestamps makes them (at most
// tsShareWindow-1 series') unreadable too.

// segFooterMagicV2 closes a version 2 segment, which holds no references.
const segFooterMagicV2 = "LDBSEGv2"

// segVersionReadable reports whether this build reads segment version v.
func segVersionReadable(v byte) bool { return v == 2 || v == segVersion }

// segFooterMagicOf returns the footer magic of segment version v.
func segFooterMagicOf(v byte) string {
	if v == 2 {
		return segFooterMagicV2
	}
	return segFooterMagic
}

// tsOwner is a written block that holds encoded timestamps.
type tsOwner struct {
	off    int64  // of the block in the file
	len    uint32 // of its timestamps stream
	crc    uint32 // of its timestamps stream
	series uint64 // number of the series it belongs to, in writing order
	lo, hi int    // its timestamps in the sharer's buffer
}

// tsShareWindow is how many series back the writer looks for equal
// timestamps (series created by concurrent writers interleave their IDs),
// and tsShareMax bounds the samples of one series it remembers (8 MiB for
// the window).
const (
	tsShareWindow = 8
	tsShareMax    = 1 << 17
)

// tsSharer remembers the timestamps of the blocks of the last
// tsShareWindow series so that the segment writer can refer to them.
type tsSharer struct {
	ring   [tsShareWindow]tsSeries
	cur    int    // the series being written
	filled int    // series before it in the ring
	seq    uint64 // number of the series being written
}

// owner returns the owner record of a block of the current series that
// holds its own timestamps.
func (s *tsSharer) owner(off int64, length int, crc uint32) tsOwner {
	return tsOwner{off: off, len: uint32(length), crc: crc, series: s.seq}
}

// tsSeries is the remembered blocks of one series: block j's owner at
// owners[j], their timestamps in ts.
type tsSeries struct {
	owners []tsOwner
	ts     []int64
}

// match returns the owner of block j of one of the previous series if its
// timestamps equal ts, looking at the most recent series first. The owner
// must itself be one of the previous tsShareWindow-1 series: that bounds
// the blocks that damage to one timestamps stream makes unreadable (all
// hosts of TSBS data have the same timestamps: without the bound, every
// block of a segment would refer to the first one).
func (s *tsSharer) match(j int, ts []int64) (tsOwner, bool) {
	for k := 1; k <= s.filled; k++ {
		p := &s.ring[(s.cur-k+tsShareWindow)%tsShareWindow]
		if j >= len(p.owners) {
			continue
		}
		o := p.owners[j]
		if s.seq-o.series < tsShareWindow && o.hi-o.lo == len(ts) && p.ts[o.lo] == ts[0] && p.ts[o.hi-1] == ts[len(ts)-1] &&
			slices.Equal(p.ts[o.lo:o.hi], ts) {
			return o, true
		}
	}
	return tsOwner{}, false
}

// add records block j of the current series, whose timestamps ts its owner
// o holds (the block itself, or the block it refers to). Blocks past
// tsShareMax samples of a series are not remembered.
func (s *tsSharer) add(o tsOwner, ts []int64) {
	c := &s.ring[s.cur]
	if len(c.ts)+len(ts) > tsShareMax {
		c.owners = append(c.owners, tsOwner{lo: 0, hi: -1}) // never matches: its length is negative
		return
	}
	o.lo = len(c.ts)
	c.ts = append(c.ts, ts...)
	o.hi = len(c.ts)
	c.owners = append(c.owners, o)
}

// next moves on to the next series.
func (s *tsSharer) next() {
	s.seq++
	s.cur = (s.cur + 1) % tsShareWindow
	s.filled = min(s.filled+1, tsShareWindow-1)
	c := &s.ring[s.cur]
	c.owners, c.ts = c.owners[:0], c.ts[:0]
}

// appendTimesRef appends, for a block at off, the reference to owner o.
func appendTimesRef(dst []byte, off int64, o tsOwner) []byte {
	return encoding.AppendTimesRef(dst, encoding.TimesRef{Back: uint64(off - o.off), Length: uint64(o.len), CRC: o.crc})
}

// decodeBlockTimes decodes the timestamps of block b of a segment (data,
// format version) from its checked payload into dst, following a reference
// to the timestamps stream that holds them, whose checksum it checks. It
// returns the rest of the payload, the block's values.
func decodeBlockTimes(dec *encoding.Decoder, data []byte, version byte, b blockRef, payload []byte, dst []int64) ([]int64, []byte, error) {
	if version < 3 || !encoding.IsTimesRef(payload) {
		return dec.DecodeTimestamps(dst, payload)
	}
	ref, rest, err := encoding.DecodeTimesRef(payload)
	if err != nil {
		return dst, payload, err
	}
	if ref.Back == 0 || ref.Back > uint64(b.off-segHeaderSize) || ref.Length > ref.Back || ref.Length < 2 {
		return dst, payload, fmt.Errorf("timestamps reference %d bytes back, %d long, from block at %d", ref.Back, ref.Length, b.off)
	}
	off := b.off - int64(ref.Back)
	stream := data[off : off+int64(ref.Length)]
	if crc32.Checksum(stream, castagnoli) != ref.CRC {
		return dst, payload, fmt.Errorf("timestamps of the block at %d it refers to: checksum mismatch", off)
	}
	p0 := len(dst)
	ts, tail, err := dec.DecodeTimestamps(dst, stream)
	if err == nil && (len(tail) != 0 || len(ts)-p0 != int(b.count)) {
		err = fmt.Errorf("%d timestamps and %d bytes more, the index says %d", len(ts)-p0, len(tail), b.count)
	}
	if err != nil {
		return dst[:p0], payload, fmt.Errorf("timestamps of the block at %d it refers to: %w", off, err)
	}
	return ts, rest, nil
}

// decodeTsBack appends the timestamps hint of the next series of the index.
func (x *segIndex) decodeTsBack(back byte) error {
	if back >= tsShareWindow || int(back) > len(x.ids) {
		return fmt.Errorf("timestamps of series %d back", back)
	}
	x.tsBack = append(x.tsBack, back)
	return nil
}

// tsOwnerBlocks returns the blocks holding the timestamps of blocks, blocks
// of the series at position i read for [minT, maxT], when they are another
// series' (the owner's blocks of the same time range).
func (x *segIndex) tsOwnerBlocks(i int, minT, maxT int64) []blockRef {
	if i >= len(x.tsBack) || x.tsBack[i] == 0 {
		return nil
	}
	return x.seriesBlocks(i-int(x.tsBack[i]), minT, maxT)
}

// tsOwners advises the kernel to read the heads (timestamps streams) of the
// blocks of another series that the blocks of the series at position i in
// [minT, maxT] take their timestamps from, so that a cold read fetches them
// alongside its own blocks.
func (pf *prefetcher) tsOwners(seg *segment, i int, minT, maxT int64) {
	if pf == nil || pf.pattern == ScanSequential {
		return // a sequential scan's read-ahead covers them: they come first
	}
	for _, b := range seg.x.tsOwnerBlocks(i, minT, maxT) {
		pf.advise(seg, b.off, b.off+min(int64(b.len), pf.pageSize), unix.MADV_WILLNEED)
	}
}

// timeUnit finds the greatest common divisor of the distances between the
// first and last timestamps of a segment's blocks, the unit the version 3
// index stores block times in (10 s data: 1e10 ns, so a block's span of a
// day takes 2 bytes instead of 7). It is the GCD of every time's distance to
// the first one seen, which divides every difference of two of them.
type timeUnit struct {
	ref int64
	gcd uint64
	set bool
}

func (u *timeUnit) add(ts ...int64) {
	for _, t := range ts {
		if !u.set {
			u.ref, u.set = t, true
			continue
		}
		d := uint64(t - u.ref)
		if int64(d) < 0 {
			d = -d
		}
		u.gcd = gcdU64(u.gcd, d)
	}
}

// unit returns the GCD, at least 1 and at most 2^62 (so that zigzag of a
// scaled distance fits).
func (u *timeUnit) unit() int64 {
	if u.gcd == 0 || u.gcd > 1<<62 {
		return 1
	}
	return int64(u.gcd)
}

func gcdU64(a, b uint64) uint64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}
