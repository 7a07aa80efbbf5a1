package engine

import (
	"encoding/binary"

	"github.com/cespare/xxhash/v2"

	"github.com/lightningdb/lightningdb/series"
)

// Fingerprint identifies the samples of series id over [minT, maxT] (ns,
// clipped to the Querier's range) without reading them. ok is false when
// a memtable of the view holds samples of id there: they are not final.
// Otherwise the samples are exactly those of the segment blocks the
// fingerprint hashes (file number, offset, count): segment files are
// immutable and file numbers are not reused, so two Queriers of one open
// DB that give equal fingerprints for (id, minT, maxT) read the same
// samples there. A reader may cache what it computed from them under it.
func (q *Querier) Fingerprint(id series.ID, minT, maxT int64) (fp uint64, ok bool) {
	minT, maxT = max(minT, q.minT), min(maxT, q.maxT)
	for _, m := range q.v.mems {
		if ms := m.get(id); ms != nil && ms.overlaps(minT, maxT) {
			return 0, false
		}
	}
	var d xxhash.Digest
	d.Reset()
	var buf [24]byte
	for _, p := range q.parts {
		for _, seg := range p.segs {
			if seg.minT > maxT || seg.maxT < minT {
				continue
			}
			i, found := seg.x.find(id)
			if !found {
				continue
			}
			for _, b := range seg.x.seriesBlocks(i, minT, maxT) {
				binary.LittleEndian.PutUint64(buf[0:], seg.fileNum)
				binary.LittleEndian.PutUint64(buf[8:], uint64(b.off))
				binary.LittleEndian.PutUint64(buf[16:], uint64(b.count))
				d.Write(buf[:])
			}
		}
	}
	if !q.v.tombs.empty() {
		// A deletion changes what the same blocks hold.
		for _, x := range q.v.tombs.list {
			if x.minT <= maxT && x.maxT >= minT && x.ids.Contains(uint32(id)) {
				binary.LittleEndian.PutUint64(buf[0:], x.seq)
				d.Write(buf[:8])
			}
		}
	}
	return d.Sum64(), true
}

// Fingerprints sets fps[i] and oks[i] to Fingerprint(id, minTs[i],
// maxTs[i]) for every window i; minTs and maxTs must not decrease (the
// windows of a range query, in time order). It finds the series in each
// segment and memtable once for all windows and walks its blocks forward,
// where Fingerprint searches them per window. fps and oks are as long as
// minTs.
func (q *Querier) Fingerprints(id series.ID, minTs, maxTs []int64, fps []uint64, oks []bool) {
	if len(minTs) == 0 {
		return
	}
	var mss []*memSeries
	for _, m := range q.v.mems {
		if ms := m.get(id); ms != nil {
			mss = append(mss, ms)
		}
	}
	type run struct {
		fileNum uint64
		bs      []blockRef // ascending in time
		lo      int        // first block that may overlap the current window
	}
	var runs []run
	spanMin, spanMax := max(minTs[0], q.minT), min(maxTs[len(maxTs)-1], q.maxT)
	for _, p := range q.parts {
		for _, seg := range p.segs {
			if seg.minT > spanMax || seg.maxT < spanMin {
				continue
			}
			if i, found := seg.x.find(id); found {
				runs = append(runs, run{fileNum: seg.fileNum, bs: seg.x.seriesBlocks(i, spanMin, spanMax)})
			}
		}
	}
	var tombs []*tombstone
	if !q.v.tombs.empty() {
		for _, x := range q.v.tombs.list {
			if x.ids.Contains(uint32(id)) {
				tombs = append(tombs, x)
			}
		}
	}
	var d xxhash.Digest
	var buf [24]byte
	for w := range minTs {
		minT, maxT := max(minTs[w], q.minT), min(maxTs[w], q.maxT)
		fps[w], oks[w] = 0, true
		for _, ms := range mss {
			if ms.overlaps(minT, maxT) {
				oks[w] = false
			}
		}
		if !oks[w] {
			continue
		}
		d.Reset()
		for r := range runs {
			rn := &runs[r]
			for rn.lo < len(rn.bs) && rn.bs[rn.lo].maxT < minT {
				rn.lo++
			}
			for _, b := range rn.bs[rn.lo:] {
				if b.minT > maxT {
					break
				}
				binary.LittleEndian.PutUint64(buf[0:], rn.fileNum)
				binary.LittleEndian.PutUint64(buf[8:], uint64(b.off))
				binary.LittleEndian.PutUint64(buf[16:], uint64(b.count))
				d.Write(buf[:])
			}
		}
		for _, x := range tombs {
			if x.minT <= maxT && x.maxT >= minT {
				binary.LittleEndian.PutUint64(buf[0:], x.seq)
				d.Write(buf[:8])
			}
		}
		fps[w] = d.Sum64()
	}
}
