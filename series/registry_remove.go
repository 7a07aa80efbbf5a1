package series

// Remove forgets series id: its labels map to no series any more (a later
// GetOrCreate of them creates a new series with a new ID), and Labels and
// Type of id answer nil and 0. IDs are never handed out again, also across
// restarts (the snapshot carries the next ID), so an ID a reader still
// holds never names another series. A page of the ID table whose series
// are all removed is freed. Remove reports whether id was there. The
// caller must make sure no write of the series is in flight.
func (r *Registry) Remove(id ID) bool {
	e := r.entry(id)
	if e == nil {
		return false
	}
	h := HashCanonical(e.labels)
	s := &r.shards[h%registryShards]
	s.mu.Lock()
	if other, ok := s.m[string(e.labels)]; ok && other == id {
		delete(s.m, string(e.labels))
	}
	s.mu.Unlock()
	if slot := &r.cache[h&r.cacheMask]; ID(slot.Load()) == id {
		slot.Store(0)
	}
	r.growMu.Lock()
	defer r.growMu.Unlock()
	pages := *r.pages.Load()
	page := pages[id>>pageBits]
	page[id&(pageSize-1)].Store(nil)
	r.count.Add(-1)
	for i := range page {
		if page[i].Load() != nil {
			return true
		}
	}
	// Every series of the page is gone: drop it (copy the table, which
	// readers load without a lock).
	cp := make([]*regPage, len(pages), cap(pages))
	copy(cp, pages)
	cp[id>>pageBits] = nil
	r.pages.Store(&cp)
	return true
}

// raiseNext makes next at least n: IDs below it are not handed out.
func (r *Registry) raiseNext(n ID) {
	r.growMu.Lock()
	defer r.growMu.Unlock()
	if n > r.next.Load() {
		r.next.Store(n)
	}
}
