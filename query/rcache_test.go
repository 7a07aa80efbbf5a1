package query

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/lightningdb/lightningdb/engine"
	"github.com/lightningdb/lightningdb/series"
)

// TestWindowCache: a repeated pushed-down query over segments reads its
// windows from the window cache (nothing decoded) with the same answer;
// a late write into a cached window (memtable, then flushed into an
// overlapping segment, then compacted) changes the answer exactly as
// with pushdown off, never serving the stale entry.
func TestWindowCache(t *testing.T) {
	db, err := engine.Open(t.TempDir(), engine.Options{SyncMode: engine.SyncNone, PartitionDuration: 24 * hour, BlockSamples: 100})
	require.NoError(t, err)
	defer db.Close()
	t0 := int64(1_700_006_400) * 1e9
	load(t, db, smallData(t0))
	require.NoError(t, db.Flush(context.Background()))
	on := newTestAPI(t, db, Options{})
	off := newTestAPI(t, db, Options{DisablePushdown: true})
	params := url.Values{"query": {`avg by (dc) (avg_over_time(cpu_usage[1h])) or max_over_time(mem_used[90m])`},
		"start": {secs(t0 + 2*hour)}, "end": {secs(t0 + 20*hour)}, "step": {"3600"}}
	const all = int64(2 * 4 * 19) // 4 + 4 series, 19 windows
	const (
		none = iota
		every
		some
		any
	)
	check := func(want int) string {
		t.Helper()
		res, ex := explainQuery(t, on.URL, params)
		ref, _ := explainQuery(t, off.URL, params)
		require.JSONEq(t, string(ref), string(res))
		var cached, decoded int64
		for _, s := range ex.Selects {
			cached += s.WindowsCached
			decoded += s.Samples
		}
		switch want {
		case every:
			require.Equal(t, all, cached, "every window from the cache")
			require.Zero(t, decoded)
		case none:
			require.Zero(t, cached)
			require.NotZero(t, decoded)
		case some:
			require.NotZero(t, cached)
			require.Less(t, cached, all)
			require.NotZero(t, decoded)
		}
		return string(res)
	}
	first := check(none)
	require.Equal(t, first, check(every))

	// A late sample inside a cached window of h0: in the memtable the
	// window is not final (decoded); flushed, it is in another segment
	// (another fingerprint); compacted, in another file again.
	var b series.Batch
	b.AddSeries(series.FromStrings("__name__", "cpu_usage", "host", "h0", "dc", "eu"), series.TypeFloat)
	b.AppendFloat(t0+5*hour+30*int64(time.Second), 1e6)
	b.AddSeries(series.FromStrings("__name__", "mem_used", "host", "h1", "dc", "us"), series.TypeFloat)
	b.AppendFloat(t0+7*hour, -5) // overwrites a sample
	_, err = db.Append(context.Background(), &b)
	require.NoError(t, err)
	params.Set("explain", "1")
	res, ex := explainQuery(t, on.URL, params)
	ref, _ := explainQuery(t, off.URL, params)
	require.JSONEq(t, string(ref), string(res))
	require.NotEqual(t, first, string(res))
	require.Less(t, ex.Selects[0].WindowsCached+ex.Selects[1].WindowsCached, all)
	require.NoError(t, db.Flush(context.Background()))
	changed := check(some) // h0 and h1 miss: their series decode; the others come from the cache
	require.JSONEq(t, string(res), changed)
	require.Equal(t, changed, check(every))
	require.NoError(t, db.Compact(context.Background()))
	require.JSONEq(t, changed, check(any))
}

// TestWindowCacheLists: windows of one series stored in several puts
// (appended, merged, replaced with a new fingerprint) are found only with
// their fingerprint, and the bound holds.
func TestWindowCacheLists(t *testing.T) {
	c := newWindowCache(64, 1<<20)
	k := windowSeries{id: 7, fn: fnCode("max_over_time"), rangeMs: 10}
	entries := func(fp uint64, his ...int64) []windowEntry {
		var es []windowEntry
		for _, hi := range his {
			es = append(es, windowEntry{hi: hi, fp: fp, windowVal: windowVal{v: float64(hi) + float64(fp), ok: hi%20 != 0}})
		}
		return es
	}
	get := func(fps []uint64, his ...int64) ([]windowVal, bool) {
		return c.getAll(k, his, fps, nil)
	}
	c.putAll(k, entries(1, 10, 30, 50))
	c.putAll(k, entries(1, 60, 70))         // appended
	c.putAll(k, entries(1, 20, 40))         // merged
	c.putAll(k, entries(2, 30))             // a new fingerprint replaces
	c.putAll(k, entries(1, 0, 50, 80, 100)) // merged, 50 replaced by an equal entry
	require.Equal(t, 10, c.n)
	vals, ok := get([]uint64{1, 2, 1}, 20, 30, 40)
	require.True(t, ok)
	require.Equal(t, []windowVal{{21, false}, {32, true}, {41, false}}, vals)
	_, ok = get([]uint64{1, 1}, 20, 30)
	require.False(t, ok, "stale fingerprint")
	_, ok = get([]uint64{1, 1}, 70, 90)
	require.False(t, ok, "missing window")
	vals, ok = get([]uint64{1, 1, 1, 1}, 0, 50, 80, 100)
	require.True(t, ok)
	require.Len(t, vals, 4)
	_, ok = c.getAll(windowSeries{id: 7, fn: fnCode("min_over_time"), rangeMs: 10}, []int64{10}, []uint64{1}, nil)
	require.False(t, ok, "another function")

	for id := range series.ID(40) {
		c.putAll(windowSeries{id: 100 + id, fn: 1, rangeMs: 10}, entries(1, 10, 20, 30))
		require.LessOrEqual(t, c.n, 64)
	}
	n := 0
	for _, l := range c.m {
		n += len(l.es)
	}
	require.Equal(t, n, c.n)
}

// TestWindowCacheMinRange: windows shorter than windowCacheMinRange are
// computed every time (a repeated query finds none in the cache) and
// answer as with pushdown off; from that range on, the repeat reads them
// all from the cache.
func TestWindowCacheMinRange(t *testing.T) {
	db := openDB(t, 24*hour)
	t0 := int64(1_700_006_400) * 1e9
	load(t, db, smallData(t0))
	require.NoError(t, db.Flush(context.Background()))
	on := newTestAPI(t, db, Options{})
	off := newTestAPI(t, db, Options{DisablePushdown: true})
	for _, c := range []struct {
		rng    string
		cached bool
	}{{"1m", false}, {"4m59s", false}, {"5m", true}} {
		params := url.Values{"query": {`max_over_time(cpu_usage[` + c.rng + `])`},
			"start": {secs(t0 + 2*hour)}, "end": {secs(t0 + 3*hour)}, "step": {"60"}}
		ref, _ := explainQuery(t, off.URL, params)
		var cached int64
		for range 2 {
			res, ex := explainQuery(t, on.URL, params)
			require.JSONEq(t, string(ref), string(res), c.rng)
			cached = ex.Selects[0].WindowsCached
		}
		require.Equal(t, c.cached, cached > 0, "%s: %d windows from the cache", c.rng, cached)
	}
}
