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
