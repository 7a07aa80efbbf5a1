package query

import (
	"context"
	"fmt"
	"net/url"
	"testing"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/stretchr/testify/require"

	"github.com/lightningdb/lightningdb/series"
)

// TestCacheBudget: the window and postings caches never hold more than
// their shares of Options.CacheBytes, counted as the budget counts them,
// evict to stay there, and count hits and misses; the shares add up to
// the budget; a negative budget disables both caches.
func TestCacheBudget(t *testing.T) {
	o := Options{CacheBytes: 64 << 10}
	o.ensureDefaults()
	wb, pb := o.shares()
	require.Equal(t, o.CacheBytes, wb+pb)
	require.Equal(t, int64(56<<10), wb)

	w := newWindowCache(1<<20, wb)
	for id := range 500 {
		es := make([]windowEntry, 24)
		for i := range es {
			es[i] = windowEntry{hi: int64(i), fp: 1, windowVal: windowVal{v: 1, ok: true}}
		}
		w.putAll(windowSeries{id: series.ID(id), fn: 1, rangeMs: 1}, es)
		n, b := w.usage()
		require.LessOrEqual(t, b, wb, "series %d", id)
		var held int64
		for _, l := range w.m {
			held += l.bytes()
		}
		require.Equal(t, held, b, "bytes counted as held")
		require.Equal(t, 24*len(w.m), n)
	}
	require.NotZero(t, w.stats.evictions.Load())
	_, hit := w.getAll(windowSeries{id: 499, fn: 1, rangeMs: 1}, []int64{0, 1}, []uint64{1, 1}, nil)
	require.True(t, hit)
	_, hit = w.getAll(windowSeries{id: 499, fn: 1, rangeMs: 1}, []int64{0}, []uint64{2}, nil)
	require.False(t, hit)
	require.Equal(t, int64(1), w.stats.hits.Load())
	require.Equal(t, int64(1), w.stats.misses.Load())

	db := openDB(t, 24*hour)
	p := newPostingsCache(1<<20, pb)
	bm := roaring.New()
	bm.AddRange(0, 5000)
	for i := range 200 {
		p.put(nil, fmt.Sprintf("m%d", i), 1, bm)
		_, b := p.usage()
		require.LessOrEqual(t, b, pb)
	}
	n, _ := p.usage()
	require.Less(t, n, 200)
	require.NotZero(t, p.stats.evictions.Load())

	a, err := NewAdapter(db, Options{CacheBytes: -1})
	require.NoError(t, err)
	require.Nil(t, a.wcache)
	require.Nil(t, a.cache)
}

// TestCacheBudgetQueries: queries over flushed data fill the window cache
// up to its share and no further, answering as with pushdown off, and
// CacheStats reports it.
func TestCacheBudgetQueries(t *testing.T) {
	db := openDB(t, 24*hour)
	t0 := int64(1_700_006_400) * 1e9
	load(t, db, smallData(t0))
	require.NoError(t, db.Flush(context.Background()))
	a, err := NewAdapter(db, Options{CacheBytes: 24 << 10})
	require.NoError(t, err)
	on := newTestAPIAdapter(t, a)
	off := newTestAPI(t, db, Options{DisablePushdown: true})
	for i := range 6 {
		params := url.Values{"query": {`avg_over_time(cpu_usage[1h]) or max_over_time(mem_used[90m])`},
			"start": {secs(t0 + int64(i)*hour)}, "end": {secs(t0 + int64(i+18)*hour)}, "step": {"600"}}
		ref, _ := explainQuery(t, off.URL, params)
		res, _ := explainQuery(t, on.URL, params)
		require.JSONEq(t, string(ref), string(res))
		ws, _ := a.CacheStats()
		require.LessOrEqual(t, ws.Bytes, ws.BudgetBytes)
		require.NotZero(t, ws.Entries)
	}
	ws, ps := a.CacheStats()
	require.NotZero(t, ws.Evictions, "the share is smaller than the windows")
	require.NotZero(t, ws.Misses)
	require.NotZero(t, ps.Hits+ps.Misses)
}
