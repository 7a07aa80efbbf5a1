package engine

import (
	"fmt"
	"math"
	"sort"

	"github.com/lightningdb/lightningdb/series"
)

// load fills it with the samples of series id in [minT, maxT] from the
// segments of parts and from mems (oldest first), merged in time order with
// duplicates resolved to the newest source. pf, when not nil, is told of
// the blocks about to be read (prefetch.go). The samples of segments that
// a tombstone of tombs deletes are left out.
func (it *Iterator) load(id series.ID, minT, maxT int64, parts []partSegs, mems []*memtable, tombs *tombstones, pf *prefetcher) {
	it.reset()
	s := &it.scratch
	s.reset()
	it.runs = it.runs[:0]
	for _, p := range parts {
		for _, seg := range p.segs {
			if seg.minT > maxT || seg.maxT < minT {
				continue
			}
			i, ok := seg.x.find(id)
			if !ok {
				continue
			}
			blocks := seg.x.seriesBlocks(i, minT, maxT)
			if len(blocks) == 0 {
				continue
			}
			if pf != nil {
				pf.series(seg, blocks)
				pf.tsOwners(seg, i, minT, maxT)
			}
			s.typ = seg.x.types[i]
			start := len(s.ts)
			for _, b := range blocks {
				it.decodeBlock(seg, b, minT, maxT)
			}
			tombs.filterRun(seg, id, s, start)
			if len(s.ts) > start {
				it.runs = append(it.runs, len(s.ts))
			}
		}
	}
	for _, m := range mems {
		if ms := m.get(id); ms != nil && ms.read(minT, maxT, s) > 0 {
			it.runs = append(it.runs, len(s.ts))
		}
	}
	switch len(it.runs) {
	case 0:
	case 1:
		// One source: hand the scratch buffers over, no copy.
		it.sampleBuf, it.scratch = it.scratch, it.sampleBuf
	default:
		if runsDisjoint(s.ts, it.runs) {
			// Sources disjoint in time and in order (a series read
			// across partitions): already merged, no copy.
			it.sampleBuf, it.scratch = it.scratch, it.sampleBuf
			return
		}
		it.merge()
	}
}

// runsDisjoint reports whether each run of ts (ending at runs[i], each
// sorted and unique) starts after the previous one ends, so that the runs
// concatenated are the merge.
func runsDisjoint(ts []int64, runs []int) bool {
	for i := 1; i < len(runs); i++ {
		if ts[runs[i-1]-1] >= ts[runs[i-1]] {
			return false
		}
	}
	return true
}

// decodeBlock appends the samples of block b within [minT, maxT] to the
// scratch buffer. A damaged block is skipped and recorded in it.err.
func (it *Iterator) decodeBlock(seg *segment, b blockRef, minT, maxT int64) {
	s := &it.scratch
	p0 := len(s.ts)
	err := it.decodeBlockErr(seg, b)
	if err != nil {
		s.ts, s.vals = s.ts[:p0], s.vals[:p0]
		if it.err == nil {
			it.err = &CorruptionError{File: seg.path, Offset: b.off, Err: err}
		}
		return
	}
	if b.minT >= minT && b.maxT <= maxT {
		return
	}
	ts := s.ts[p0:]
	lo := sort.Search(len(ts), func(i int) bool { return ts[i] >= minT })
	hi := sort.Search(len(ts), func(i int) bool { return ts[i] > maxT })
	n := copy(s.ts[p0:], ts[lo:hi])
	copy(s.vals[p0:], s.vals[p0+lo:p0+hi])
	s.ts, s.vals = s.ts[:p0+n], s.vals[:p0+n]
}

func (it *Iterator) decodeBlockErr(seg *segment, b blockRef) error {
	s := &it.scratch
	payload, err := checkBlock(seg.data, b)
	if err != nil {
		return err
	}
	p0 := len(s.ts)
	ts, rest, err := decodeBlockTimes(&it.dec, seg.data, seg.x.version, b, payload, s.ts)
	if err != nil {
		return err
	}
	s.ts = ts
	if s.typ == series.TypeString {
		strs, _, err := it.dec.DecodeStrings(it.strTmp[:0], rest)
		if err != nil {
			return err
		}
		for _, v := range strs {
			s.vals = append(s.vals, uint64(len(s.strs))<<32|uint64(len(v)))
			s.strs = append(s.strs, v...)
		}
		clear(strs)
		it.strTmp = strs[:0]
	} else {
		vals, _, err := it.dec.DecodeValues(s.vals, s.typ, rest)
		if err != nil {
			return err
		}
		s.vals = vals
	}
	if len(s.ts)-p0 != int(b.count) || len(s.vals) != len(s.ts) {
		return fmt.Errorf("block holds %d timestamps and %d values, index says %d", len(s.ts)-p0, len(s.vals)-p0, b.count)
	}
	return nil
}

// merge merges the runs of the scratch buffer (each sorted and unique,
// oldest source first) into the iterator: in time order, and for equal
// timestamps the sample of the latest run.
func (it *Iterator) merge() {
	s := &it.scratch
	it.typ = s.typ
	it.heads = it.heads[:0]
	start := 0
	for _, end := range it.runs {
		it.heads = append(it.heads, start)
		start = end
	}
	heads, ends := it.heads, it.runs
	for {
		minT, best := int64(math.MaxInt64), -1
		for r, h := range heads {
			if h < ends[r] && (best < 0 || s.ts[h] < minT) {
				minT, best = s.ts[h], r
			}
		}
		if best < 0 {
			return
		}
		for r := best + 1; r < len(heads); r++ {
			if h := heads[r]; h < ends[r] && s.ts[h] == minT {
				heads[best]++
				best = r
			}
		}
		h := heads[best]
		heads[best]++
		it.ts = append(it.ts, minT)
		v := s.vals[h]
		if s.typ == series.TypeString {
			off, n := v>>32, v&math.MaxUint32
			v = uint64(len(it.strs))<<32 | n
			it.strs = append(it.strs, s.strs[off:off+n]...)
		}
		it.vals = append(it.vals, v)
	}
}
