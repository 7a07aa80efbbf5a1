package tagindex

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/lightningdb/lightningdb/series"
)

// Partition is the tag index of one time partition [MinT, MaxT]: for each
// label name and value, the bitmap of the series IDs that carry the pair and
// had a sample in the partition.
//
// A Partition is safe for concurrent use. Add of a series already indexed
// takes no lock (see seenSet); Add of a new series takes the write lock for
// a few map and bitmap updates; queries take the read lock for as long as
// they resolve matchers, and hand back bitmaps and slices they own.
type Partition struct {
	minT, maxT int64 // immutable; nanoseconds, both inclusive

	seen      seenSet
	numSeries atomic.Int64
	gen       atomic.Uint64 // bumped on every new or removed series; keys the stats and postings caches

	mu          sync.RWMutex
	all         *roaring.Bitmap       // mu protects: every series of the partition
	names       map[string]*nameIndex // mu protects
	sortedNames []string              // mu protects; the keys of names, sorted
	closed      bool                  // mu protects
	mapped      []byte                // mu protects; the mmap bitmaps of a loaded file alias, or nil
	unmap       func() error          // releases mapped

	statsMu sync.Mutex
	stats   *PartitionStats // statsMu protects; valid while its gen matches
}

// nameIndex holds the values of one label name.
type nameIndex struct {
	any    *roaring.Bitmap            // series with the label, any value
	values map[string]*roaring.Bitmap // value -> series

	// sorted holds the values in order as of the last merge, sortedBms
	// their bitmaps (scans skip the map), and pending the values added
	// since. Writers append to pending under the partition's write lock;
	// readers, under the read lock, merge under sortMu. Published sorted
	// slices are never modified, so readers may keep them.
	sortMu    sync.Mutex
	sorted    []string
	sortedBms []*roaring.Bitmap
	pending   []string
}

// NewPartition returns an empty partition covering [minT, maxT] (ns,
// inclusive).
func NewPartition(minT, maxT int64) *Partition {
	return &Partition{minT: minT, maxT: maxT, all: roaring.New(), names: make(map[string]*nameIndex)}
}

// MinT returns the first nanosecond the partition covers.
func (p *Partition) MinT() int64 { return p.minT }

// MaxT returns the last nanosecond the partition covers.
func (p *Partition) MaxT() int64 { return p.maxT }

// NumSeries returns the number of series indexed, without locking.
func (p *Partition) NumSeries() int { return int(p.numSeries.Load()) }

func (p *Partition) overlaps(minT, maxT int64) bool { return p.minT <= maxT && p.maxT >= minT }

type labelPair struct{ name, value []byte }

// Add indexes series id with its canonical label form (series.Labels
// AppendCanonical). Adding an ID that is already indexed is a no-op that
// costs a few nanoseconds and takes no lock, so the engine may call Add for
// every sample it appends. Labels with an empty value are skipped: an empty
// value means the label is absent.
func (p *Partition) Add(id series.ID, canonical []byte) error {
	if p.seen.contains(id) {
		return nil
	}
	if id == 0 {
		return errors.New("index series: ID 0 is not a series")
	}
	var buf [16]labelPair
	pairs := buf[:0]
	err := series.ForEachCanonical(canonical, func(name, value []byte) error {
		pairs = append(pairs, labelPair{name, value})
		return nil
	})
	if err != nil {
		return fmt.Errorf("index series %d: bad canonical labels: %w", id, err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return fmt.Errorf("index series %d: %w", id, ErrClosed)
	}
	if p.all.CheckedAdd(id) {
		for _, l := range pairs {
			if len(l.value) > 0 {
				p.addPairLocked(l.name, l.value, id)
			}
		}
		p.numSeries.Add(1)
		p.gen.Add(1)
	}
	p.seen.addLocked(id)
	return nil
}

func (p *Partition) addPairLocked(name, value []byte, id series.ID) {
	ni := p.names[string(name)]
	if ni == nil {
		n := string(name)
		ni = &nameIndex{any: roaring.New(), values: make(map[string]*roaring.Bitmap)}
		p.names[n] = ni
		i, _ := slices.BinarySearch(p.sortedNames, n)
		p.sortedNames = slices.Insert(p.sortedNames, i, n)
	}
	bm := ni.values[string(value)]
	if bm == nil {
		v := string(value)
		bm = roaring.New()
		ni.values[v] = bm
		ni.pending = append(ni.pending, v)
	}
	bm.Add(id)
	ni.any.Add(id)
}

// sortedValues returns the values of ni in order and their bitmaps. The
// caller holds the partition's read or write lock. The slices are shared and
// must not be modified; the values slice stays valid after the lock is
// released, the bitmaps may only be read under it.
func (ni *nameIndex) sortedValues() ([]string, []*roaring.Bitmap) {
	ni.sortMu.Lock()
	defer ni.sortMu.Unlock()
	if len(ni.pending) == 0 {
		return ni.sorted, ni.sortedBms
	}
	slices.Sort(ni.pending)
	n := len(ni.sorted) + len(ni.pending)
	vals, bms := make([]string, 0, n), make([]*roaring.Bitmap, 0, n)
	i, j := 0, 0
	for i < len(ni.sorted) || j < len(ni.pending) {
		if j == len(ni.pending) || (i < len(ni.sorted) && ni.sorted[i] < ni.pending[j]) {
			vals, bms = append(vals, ni.sorted[i]), append(bms, ni.sortedBms[i])
			i++
		} else {
			vals, bms = append(vals, ni.pending[j]), append(bms, ni.values[ni.pending[j]])
			j++
		}
	}
	ni.sorted, ni.sortedBms = vals, bms
	ni.pending = ni.pending[:0]
	return vals, bms
}

// Close releases the partition; later calls get ErrClosed or empty results.
// Bitmaps and slices handed out before stay valid.
func (p *Partition) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	p.closed = true
	p.all = roaring.New()
	p.names = map[string]*nameIndex{}
	p.sortedNames = nil
	var err error
	if p.mapped != nil && p.unmap != nil {
		err = p.unmap()
	}
	p.mapped = nil
	return err
}
