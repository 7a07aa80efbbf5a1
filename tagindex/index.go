package tagindex

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/lightningdb/lightningdb/series"
)

// Index is the tag index of a database: one Partition per time partition,
// keyed by the partition's start. Queries resolve matchers in every
// partition that overlaps their [minT, maxT] and union the results, so a
// query over the last hour never touches series that reported only last
// month.
//
// An Index is safe for concurrent use. The partition list is copy-on-write:
// Add and queries read it without a lock.
type Index struct {
	opts Options

	mu    sync.Mutex                   // mu serialises changes of parts
	parts atomic.Pointer[[]*Partition] // sorted by MinT; never modified in place
}

// New returns an empty index.
func New(opts Options) (*Index, error) {
	opts.ensureDefaults()
	if err := opts.validate(); err != nil {
		return nil, fmt.Errorf("tagindex options: %w", err)
	}
	ix := &Index{opts: opts}
	ix.parts.Store(&[]*Partition{})
	return ix, nil
}

// Partitions returns the partitions, sorted by start. The slice is the
// caller's; the partitions are shared.
func (ix *Index) Partitions() []*Partition {
	return slices.Clone(*ix.parts.Load())
}

// Partition returns the partition that starts at start, or nil.
func (ix *Index) Partition(start int64) *Partition {
	parts := *ix.parts.Load()
	i, ok := slices.BinarySearchFunc(parts, start, func(p *Partition, t int64) int { return cmpInt64(p.minT, t) })
	if !ok {
		return nil
	}
	return parts[i]
}

func cmpInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Add indexes series id in the partition that starts at partitionStart,
// creating the partition (spanning Options.PartitionDuration) when needed.
// The engine calls it whenever a series gets a sample in a partition;
// repeated calls for the same series and partition are cheap and lock-free.
func (ix *Index) Add(partitionStart int64, id series.ID, canonical []byte) error {
	p := ix.Partition(partitionStart)
	if p == nil {
		p = ix.create(partitionStart)
	}
	if err := p.Add(id, canonical); err != nil {
		return fmt.Errorf("partition %d: %w", partitionStart, err)
	}
	return nil
}

func (ix *Index) create(start int64) *Partition {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if p := ix.Partition(start); p != nil {
		return p
	}
	maxT := start + ix.opts.PartitionDuration - 1
	if maxT < start {
		maxT = math.MaxInt64
	}
	p := NewPartition(start, maxT)
	ix.insertLocked(p)
	return p
}

func (ix *Index) insertLocked(p *Partition) {
	parts := *ix.parts.Load()
	i, _ := slices.BinarySearchFunc(parts, p.minT, func(q *Partition, t int64) int { return cmpInt64(q.minT, t) })
	grown := slices.Insert(slices.Clone(parts), i, p)
	ix.parts.Store(&grown)
}

// Attach adds a partition built elsewhere, typically one returned by
// OpenPartition. It fails when a partition with the same start exists.
func (ix *Index) Attach(p *Partition) error {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if ix.Partition(p.minT) != nil {
		return fmt.Errorf("attach partition %d: a partition with that start exists", p.minT)
	}
	ix.insertLocked(p)
	return nil
}

// Drop removes the partition that starts at start and closes it, as
// retention does. Results handed out before stay valid. Dropping a missing
// partition is a no-op.
func (ix *Index) Drop(start int64) error {
	ix.mu.Lock()
	parts := *ix.parts.Load()
	i, ok := slices.BinarySearchFunc(parts, start, func(q *Partition, t int64) int { return cmpInt64(q.minT, t) })
	if !ok {
		ix.mu.Unlock()
		return nil
	}
	p := parts[i]
	shrunk := slices.Delete(slices.Clone(parts), i, i+1)
	ix.parts.Store(&shrunk)
	ix.mu.Unlock()
	if err := p.Close(); err != nil {
		return fmt.Errorf("drop partition %d: %w", start, err)
	}
	return nil
}

// Close closes every partition.
func (ix *Index) Close() error {
	ix.mu.Lock()
	parts := *ix.parts.Load()
	ix.parts.Store(&[]*Partition{})
	ix.mu.Unlock()
	var errs []error
	for _, p := range parts {
		if err := p.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close partition %d: %w", p.minT, err))
		}
	}
	return errors.Join(errs...)
}

// overlapping returns the partitions that overlap [minT, maxT].
func (ix *Index) overlapping(minT, maxT int64) []*Partition {
	var out []*Partition
	for _, p := range *ix.parts.Load() {
		if p.overlaps(minT, maxT) {
			out = append(out, p)
		}
	}
	return out
}

// Postings returns the IDs of the series that satisfy every matcher and
// are indexed in a partition overlapping [minT, maxT] (ns, inclusive). With
// no matcher it returns every series of those partitions. The bitmap is the
// caller's. It fails only on a matcher that does not compile.
func (ix *Index) Postings(minT, maxT int64, ms ...*Matcher) (*roaring.Bitmap, error) {
	cms, err := compileAll(ms)
	if err != nil {
		return nil, err
	}
	var res *roaring.Bitmap
	for _, p := range ix.overlapping(minT, maxT) {
		bm := p.postings(cms)
		if res == nil {
			res = bm
		} else {
			res.Or(bm)
		}
	}
	if res == nil {
		res = roaring.New()
	}
	return res, nil
}

// Postings returns the series of the partition that satisfy every matcher,
// as a bitmap the caller owns.
func (p *Partition) Postings(ms ...*Matcher) (*roaring.Bitmap, error) {
	cms, err := compileAll(ms)
	if err != nil {
		return nil, err
	}
	return p.postings(cms), nil
}
