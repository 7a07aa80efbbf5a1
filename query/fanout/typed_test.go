package fanout

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"

	"github.com/lightningdb/lightningdb/engine"
	"github.com/lightningdb/lightningdb/remote"
	lseries "github.com/lightningdb/lightningdb/series"
	"github.com/lightningdb/lightningdb/tagindex"
)

// engineStore adapts an engine to remote.Storage, as cmd does.
type engineStore struct{ db *engine.DB }

func (e engineStore) Postings(_ context.Context, minT, maxT int64, ms ...*tagindex.Matcher) (*roaring.Bitmap, error) {
	return e.db.Index().Postings(minT, maxT, ms...)
}
func (e engineStore) Labels(id lseries.ID) []byte { return e.db.Registry().Labels(id) }
func (e engineStore) Select(id lseries.ID, minT, maxT int64, reuse remote.Iterator) remote.Iterator {
	it, _ := reuse.(*engine.Iterator)
	return e.db.Select(id, minT, maxT, it)
}

// typedPeer serves remote read (typed answers too) over an engine
// holding b.
func typedPeer(t testing.TB, b *lseries.Batch) Peer {
	t.Helper()
	db, err := engine.Open(t.TempDir(), engine.Options{SyncMode: engine.SyncNone})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, db.Close()) })
	_, err = db.Append(context.Background(), b)
	require.NoError(t, err)
	h, err := remote.NewHandler(db, engineStore{db}, remote.Options{})
	require.NoError(t, err)
	m := http.NewServeMux()
	h.Register(m)
	srv := httptest.NewServer(m)
	t.Cleanup(srv.Close)
	return Peer{Name: srv.URL, URL: srv.URL}
}

// TestSelectTyped: typed series of two peers merge as Select merges
// (first peer wins on a timestamp both hold, nanoseconds kept apart),
// strings and 64-bit integers come back exact, a type conflict between
// peers is a warning, and failed peers and the sample limit behave as
// for Select.
func TestSelectTyped(t *testing.T) {
	const t0 = int64(1_700_000_000_000_000_000)
	var a, b lseries.Batch
	status := lseries.FromStrings("__name__", "dev_status", "db", "x")
	a.AddSeries(status, lseries.TypeString)
	a.AppendString(t0+1, []byte("ok"))
	a.AppendString(t0+2, []byte("first"))
	b.AddSeries(status, lseries.TypeString)
	b.AppendString(t0+2, []byte("second"))
	b.AppendString(t0+3, []byte("warn"))
	big := lseries.FromStrings("__name__", "dev_big", "db", "x")
	b.AddSeries(big, lseries.TypeInt)
	b.AppendInt(t0+5, 1<<53+1)
	mixed := lseries.FromStrings("__name__", "dev_mixed", "db", "x")
	a.AddSeries(mixed, lseries.TypeFloat)
	a.AppendFloat(t0, 1.5)
	b.AddSeries(mixed, lseries.TypeBool)
	b.AppendBool(t0+1, true)
	pa, pb := typedPeer(t, &a), typedPeer(t, &b)
	down := fakePeer(t, http.StatusServiceUnavailable, nil)
	ms := []*labels.Matcher{labels.MustNewMatcher(labels.MatchEqual, "db", "x")}

	q, err := New(topo{peers: []Peer{pa, pb, down}}, Options{PeerTimeout: 5 * time.Second})
	require.NoError(t, err)
	got, ws, err := q.SelectTyped(context.Background(), t0, t0+10, 0, ms...)
	require.NoError(t, err)
	require.Len(t, got, 3)
	bySeries := map[string]remote.TypedSeries{}
	for _, s := range got {
		bySeries[lseries.CanonicalString(s.Labels)] = s
	}
	s := bySeries[status.String()]
	require.Equal(t, lseries.TypeString, s.Type)
	require.Equal(t, []int64{t0 + 1, t0 + 2, t0 + 3}, s.Ts)
	var strs []string
	for k := range s.Ts {
		strs = append(strs, string(s.String(k)))
	}
	require.Equal(t, []string{"ok", "first", "warn"}, strs)
	s = bySeries[big.String()]
	require.Equal(t, lseries.TypeInt, s.Type)
	require.Equal(t, []uint64{1<<53 + 1}, s.Vals)
	s = bySeries[mixed.String()]
	require.Equal(t, lseries.TypeFloat, s.Type)
	require.Equal(t, []int64{t0}, s.Ts)
	warnings, _ := ws.AsStrings("", 10, 10)
	require.Len(t, warnings, 2, "%q", warnings)
	joined := strings.Join(warnings, "\n")
	require.Contains(t, joined, down.URL+"): unavailable")
	require.Contains(t, joined, "1 boolean samples of node "+pb.URL+" left out (the series is float on node "+pa.URL+")")

	_, _, err = q.SelectTyped(WithPartialResponse(context.Background(), false), t0, t0+10, 0, ms...)
	require.ErrorIs(t, err, ErrPartialResponse)

	q, err = New(topo{peers: []Peer{pa, pb}}, Options{PeerTimeout: 5 * time.Second})
	require.NoError(t, err)
	_, _, err = q.SelectTyped(context.Background(), t0, t0+10, 4, ms...)
	require.ErrorIs(t, err, ErrTooManySamples)
	_, _, err = q.SelectTyped(context.Background(), t0, t0+10, 7, ms...)
	require.NoError(t, err)

	// A peer answering something else than typed frames (a 2xx of
	// another type) fails the select rather than giving a lossy answer.
	chunks := fakePeer(t, 200, nil)
	q, err = New(topo{peers: []Peer{pa, chunks}}, Options{PeerTimeout: 5 * time.Second})
	require.NoError(t, err)
	_, _, err = q.SelectTyped(context.Background(), t0, t0+10, 0, ms...)
	require.ErrorIs(t, err, ErrPeerRejected)
}
