package tagindex

import (
	"sync/atomic"

	"github.com/lightningdb/lightningdb/series"
)

const (
	seenPageBits  = 16 // IDs per page: 65,536, 8 KiB of bits
	seenPageWords = 1 << seenPageBits / 64
)

type seenPage [seenPageWords]atomic.Uint64

// seenSet is a lock-free, paged bitset of the series IDs a partition has
// indexed. It answers the hot question of Add, "is this series already
// here?", without the partition lock, so that ingest of known series never
// waits behind a query. Pages are allocated on first use; dense IDs cost one
// bit each. The set is a cache: Partition.all is the truth, and an ID absent
// here is checked there under the lock.
type seenSet struct {
	pages atomic.Pointer[[]*seenPage] // grows by copy under the partition lock
}

func (s *seenSet) contains(id series.ID) bool {
	pp := s.pages.Load()
	if pp == nil {
		return false
	}
	pages := *pp
	p := int(id >> seenPageBits)
	if p >= len(pages) || pages[p] == nil {
		return false
	}
	w := pages[p][(id&(1<<seenPageBits-1))/64].Load()
	return w&(1<<(id%64)) != 0
}

// addLocked sets id; the caller holds the partition's write lock, which
// serialises growth of the page table.
func (s *seenSet) addLocked(id series.ID) {
	var pages []*seenPage
	if pp := s.pages.Load(); pp != nil {
		pages = *pp
	}
	p := int(id >> seenPageBits)
	if p >= len(pages) || pages[p] == nil {
		grown := make([]*seenPage, max(len(pages), p+1))
		copy(grown, pages)
		grown[p] = new(seenPage)
		s.pages.Store(&grown)
		pages = grown
	}
	pages[p][(id&(1<<seenPageBits-1))/64].Or(1 << (id % 64))
}

// sizeBytes returns the memory the set holds.
func (s *seenSet) sizeBytes() uint64 {
	pp := s.pages.Load()
	if pp == nil {
		return 0
	}
	n := uint64(len(*pp)) * 8
	for _, p := range *pp {
		if p != nil {
			n += seenPageWords * 8
		}
	}
	return n
}

// removeLocked clears id; the caller holds the partition's write lock.
func (s *seenSet) removeLocked(id series.ID) {
	pp := s.pages.Load()
	if pp == nil {
		return
	}
	pages := *pp
	p := int(id >> seenPageBits)
	if p >= len(pages) || pages[p] == nil {
		return
	}
	pages[p][(id&(1<<seenPageBits-1))/64].And(^uint64(1 << (id % 64)))
}
