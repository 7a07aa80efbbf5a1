package cluster

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// learnt collects the rows a node's catalog share hands it.
type learnt struct {
	mu   sync.Mutex
	rows map[CatalogRow]int
}

func (l *learnt) add(r CatalogRow) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.rows[r]++
}

func (l *learnt) has(rs ...CatalogRow) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range rs {
		if l.rows[r] == 0 {
			return fmt.Errorf("row %+v not learnt (have %d rows)", r, len(l.rows))
		}
	}
	return nil
}

// TestCatalogShared: rows a node knows before it joins the bucket are
// put there (the reconcile that makes good a put lost in a crash), rows
// it learns later are published, and another node learns both; each
// node also learns its own.
func TestCatalogShared(t *testing.T) {
	url := startNATS(t)
	o := Options{URLs: []string{url}, Partitions: 4, Replicas: 1, MemberTTL: 2 * time.Second,
		AckWait: time.Second, StartTimeout: 10 * time.Second}
	open := func(id string) *Node {
		oo := o
		oo.NodeID, oo.AdvertiseURL = id, "http://"+id+":8086"
		oo.Ingest = id == "ingest"
		oo.Storage = !oo.Ingest
		var app Appender
		if oo.Storage {
			app = &fakeEngine{samples: map[string]int{}}
		}
		n, err := Open(context.Background(), oo, app)
		require.NoError(t, err)
		t.Cleanup(func() { _ = n.Close(context.Background()) })
		return n
	}
	before := CatalogRow{DB: "db", Metric: "cpu_load_short_term", Measurement: "cpu_load", Field: "short_term"}
	later := CatalogRow{DB: "db", Metric: "disk_used_bytes", Measurement: "disk", Field: "used_bytes"}

	ing := open("ingest")
	own := &learnt{rows: map[CatalogRow]int{}}
	share, err := ing.ShareCatalog(context.Background(), func() []CatalogRow { return []CatalogRow{before} }, own.add)
	require.NoError(t, err)
	_, err = ing.ShareCatalog(context.Background(), nil, own.add)
	require.ErrorContains(t, err, "shared already")

	st := open("s1")
	other := &learnt{rows: map[CatalogRow]int{}}
	_, err = st.ShareCatalog(context.Background(), func() []CatalogRow { return nil }, other.add)
	require.NoError(t, err)
	eventually(t, 10*time.Second, func() error { return other.has(before) })

	share.Publish(later)
	eventually(t, 10*time.Second, func() error { return other.has(before, later) })
	eventually(t, 10*time.Second, func() error { return own.has(before, later) })

	// A node that joins later learns every row from the bucket, with
	// nothing of its own to put.
	late := open("s2")
	third := &learnt{rows: map[CatalogRow]int{}}
	_, err = late.ShareCatalog(context.Background(), func() []CatalogRow { return nil }, third.add)
	require.NoError(t, err)
	eventually(t, 10*time.Second, func() error { return third.has(before, later) })
	third.mu.Lock()
	require.Len(t, third.rows, 2)
	third.mu.Unlock()

	// The keys are the rows': the bucket holds each row once.
	require.NotEqual(t, before.key(), later.key())
	keys := []string{before.key(), later.key()}
	lister, err := share.kv.ListKeys(context.Background())
	require.NoError(t, err)
	var got []string
	for k := range lister.Keys() {
		got = append(got, k)
	}
	slices.Sort(got)
	slices.Sort(keys)
	require.Equal(t, keys, got)
}
