package engine

import (
	"golang.org/x/sys/unix"
)

// ScanPattern is how a multi-series read walks the data; it chooses the
// page-cache advice given to the kernel for the segments' mappings.
type ScanPattern int

const (
	// ScanAuto picks a pattern from the request: one series is a point or
	// range read, a selection of at least half of the segments' series is
	// sequential, anything sparser strided.
	ScanAuto ScanPattern = iota
	// ScanSequential reads (nearly) every series in ID order, or one
	// series over a long range: MADV_SEQUENTIAL on the segments and
	// MADV_WILLNEED Options.PrefetchBytes ahead of the read position.
	ScanSequential
	// ScanStrided reads a sparse selection (every k-th series, one field of
	// many devices): MADV_RANDOM, and MADV_WILLNEED on exactly the blocks of
	// the next Options.PrefetchSeries series, so their reads overlap.
	ScanStrided
	// ScanPoint reads a few blocks: no read-ahead at all (MADV_RANDOM), a
	// lookup faults in only the pages of its blocks.
	ScanPoint
)

func (p ScanPattern) String() string {
	switch p {
	case ScanAuto:
		return "auto"
	case ScanSequential:
		return "sequential"
	case ScanStrided:
		return "strided"
	case ScanPoint:
		return "point"
	}
	return "ScanPattern(?)"
}

// prefetcher gives the kernel page-cache advice for one scan. Advice is a
// hint: errors are ignored, and concurrent scans with other patterns only
// cost each other some read-ahead.
type prefetcher struct {
	pattern  ScanPattern
	distance int64 // bytes ahead, sequential
	ahead    int   // series ahead, strided
	pageSize int64
	// sequential: per segment, the offset up to which WILLNEED was given.
	advised map[*segment]int64
	// strided: the selection and how far prefetching went.
	ids  []uint32
	next int
	v    *version
	minT int64
	maxT int64
}

func newPrefetcher(opts *Options, pattern ScanPattern) *prefetcher {
	if opts.PrefetchBytes < 0 {
		return nil
	}
	return &prefetcher{pattern: pattern, distance: opts.PrefetchBytes, ahead: opts.PrefetchSeries,
		pageSize: int64(unix.Getpagesize()), advised: map[*segment]int64{}}
}

func (pf *prefetcher) advise(seg *segment, from, to int64, advice int) {
	from &^= pf.pageSize - 1
	to = min(to, int64(len(seg.data)))
	if from >= to {
		return
	}
	_ = unix.Madvise(seg.data[from:to], advice)
}

// series is called before the blocks of one series in seg are decoded.
func (pf *prefetcher) series(seg *segment, blocks []blockRef) {
	first, last := blocks[0], blocks[len(blocks)-1]
	end := last.off + int64(last.len)
	switch pf.pattern {
	case ScanSequential:
		done, seen := pf.advised[seg]
		if !seen {
			pf.advise(seg, first.off, int64(len(seg.data)), unix.MADV_SEQUENTIAL)
		}
		if !seen || end+pf.distance/2 > done {
			to := max(end, first.off) + pf.distance
			pf.advise(seg, max(first.off, done), to, unix.MADV_WILLNEED)
			pf.advised[seg] = to
		}
	case ScanStrided, ScanPoint, ScanAuto:
		// One series over several blocks is a sequential range read of its
		// own bytes (a series' blocks are contiguous).
		if len(blocks) > 1 {
			pf.advise(seg, first.off, end, unix.MADV_WILLNEED)
		}
	}
}

// stride is called before series ids[i] of a strided scan is read: it
// gives MADV_WILLNEED for the blocks of the series up to i+ahead that were
// not advised yet.
func (pf *prefetcher) stride(i int) {
	if pf.pattern != ScanStrided {
		return
	}
	for ; pf.next < len(pf.ids) && pf.next <= i+pf.ahead; pf.next++ {
		id := pf.ids[pf.next]
		for _, p := range pf.v.parts {
			for _, seg := range p.segs {
				if seg.minT > pf.maxT || seg.maxT < pf.minT {
					continue
				}
				j, ok := seg.x.find(id)
				if !ok {
					continue
				}
				bs := seg.x.seriesBlocks(j, pf.minT, pf.maxT)
				if len(bs) > 0 {
					last := bs[len(bs)-1]
					pf.advise(seg, bs[0].off, last.off+int64(last.len), unix.MADV_WILLNEED)
					pf.tsOwners(seg, j, pf.minT, pf.maxT)
				}
			}
		}
	}
}

// done restores the default advice (MADV_RANDOM) on the segments a
// sequential scan switched to MADV_SEQUENTIAL.
func (pf *prefetcher) done() {
	if pf == nil {
		return
	}
	for seg := range pf.advised {
		_ = unix.Madvise(seg.data, unix.MADV_RANDOM)
	}
	clear(pf.advised)
}
