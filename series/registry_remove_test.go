package series

import (
	"bytes"
	"fmt"
	"sync"
	"testing"
)

// TestRegistryRemove removes every series of two ID pages: they leave the
// lookups and the count, their pages are freed, the labels get a new ID
// when written again, and a snapshot carries the next ID so that a reload
// does not hand the removed IDs out again.
func TestRegistryRemove(t *testing.T) {
	r := NewRegistry(RegistryOptions{CacheSize: 64})
	const n = 2 * pageSize
	for i := range n {
		if _, _, err := r.GetOrCreate(canon("__name__", "m", "i", fmt.Sprint(i)), TypeFloat); err != nil {
			t.Fatal(err)
		}
	}
	maxID := r.MaxID()
	for id := ID(1); id <= maxID; id++ {
		if !r.Remove(id) {
			t.Fatalf("remove %d: not there", id)
		}
	}
	if r.Remove(1) {
		t.Fatal("removed twice")
	}
	if r.Len() != 0 {
		t.Fatalf("Len %d after removing all", r.Len())
	}
	if _, ok := r.Lookup(canon("__name__", "m", "i", "7")); ok {
		t.Fatal("removed series still found")
	}
	if pages := *r.pages.Load(); pages[0] != nil || pages[1] != nil {
		t.Fatal("pages of removed series not freed")
	}
	id, created, err := r.GetOrCreate(canon("__name__", "m", "i", "7"), TypeFloat)
	if err != nil || !created || id <= maxID {
		t.Fatalf("written again: id %d created %v err %v, want a new ID above %d", id, created, err, maxID)
	}
	r.MarkDurable(id)
	var buf bytes.Buffer
	if err := r.WriteSnapshot(&buf); err != nil {
		t.Fatal(err)
	}
	r2 := NewRegistry(RegistryOptions{})
	if err := r2.LoadSnapshot(buf.Bytes()); err != nil {
		t.Fatal(err)
	}
	id2, _, _ := r2.GetOrCreate(canon("__name__", "x"), TypeFloat)
	if id2 <= id {
		t.Fatalf("after reload a new series got ID %d, not above %d: a removed ID may be reused", id2, id)
	}
}

// TestRegistryRemoveRacesCreate creates series while others of the same
// ID page are removed: no new series may be lost with a freed page.
func TestRegistryRemoveRacesCreate(t *testing.T) {
	r := NewRegistry(RegistryOptions{})
	var wg sync.WaitGroup
	ids := make(chan ID, 1000)
	wg.Add(2)
	go func() {
		defer wg.Done()
		defer close(ids)
		for i := range 1000 {
			id, _, err := r.GetOrCreate(canon("__name__", "a", "i", fmt.Sprint(i)), TypeFloat)
			if err != nil {
				t.Error(err)
				return
			}
			ids <- id
		}
	}()
	var kept []ID
	go func() {
		defer wg.Done()
		for id := range ids {
			if id%2 == 0 {
				r.Remove(id)
			} else {
				kept = append(kept, id)
			}
		}
	}()
	wg.Wait()
	for _, id := range kept {
		if r.Labels(id) == nil {
			t.Fatalf("series %d lost", id)
		}
	}
}
