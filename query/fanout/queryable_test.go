package fanout

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/stretchr/testify/require"
)

// topo is a Topology with a missing list.
type topo struct {
	peers   []Peer
	missing []string
}

func (t topo) Peers() ([]Peer, []string) { return t.peers, t.missing }

// fakePeer answers remote reads with body (status 200) or with status.
func fakePeer(t *testing.T, status int, body []byte) Peer {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/v1/labels" {
			w.Write([]byte(`{"status":"success","data":["__name__","job"]}`))
			return
		}
		if status != 200 {
			http.Error(w, "no", status)
			return
		}
		w.Header().Set("Content-Type", "application/x-streamed-protobuf; proto=prometheus.ChunkedReadResponse")
		w.Write(body)
	}))
	t.Cleanup(srv.Close)
	return Peer{Name: "node-" + strings.TrimPrefix(srv.URL, "http://127.0.0.1:"), URL: srv.URL}
}

func selectAll(t *testing.T, q *Queryable, ctx context.Context) ([]string, []string, error) {
	qr, err := q.Querier(0, 1e6)
	require.NoError(t, err)
	ss := qr.Select(ctx, true, &storage.SelectHints{Start: 0, End: 1e6}, labels.MustNewMatcher(labels.MatchRegexp, "__name__", ".+"))
	var names []string
	for ss.Next() {
		names = append(names, ss.At().Labels().Get("__name__"))
	}
	ws, _ := ss.Warnings().AsStrings("", 10, 10)
	return names, ws, ss.Err()
}

func TestSelectCompleteness(t *testing.T) {
	a := fakePeer(t, 200, appendFrames(t, nil, []rawSeries{mkSeries("a", 0, 10, 5, 0)}, 120, 1))
	b := fakePeer(t, 200, appendFrames(t, nil, []rawSeries{mkSeries("a", 20, 10, 5, 0), mkSeries("b", 0, 10, 5, 0)}, 120, 1))
	down := fakePeer(t, http.StatusServiceUnavailable, nil)
	bad := fakePeer(t, http.StatusBadRequest, nil)
	cut := fakePeer(t, 200, appendFrames(t, nil, []rawSeries{mkSeries("c", 0, 10, 5, 0)}, 120, 1)[:9])
	no := false
	for _, c := range []struct {
		name     string
		topo     topo
		ctx      context.Context
		names    []string
		warnings []string // substrings, one per warning
		err      error
	}{
		{name: "complete", topo: topo{peers: []Peer{a, b}}, names: []string{"a", "b"}},
		{name: "peer down", topo: topo{peers: []Peer{a, down}}, names: []string{"a"}, warnings: []string{down.Name + " (" + down.URL + "): unavailable"}},
		{name: "stream cut", topo: topo{peers: []Peer{a, cut}}, names: []string{"a"}, warnings: []string{cut.Name}},
		{name: "missing partition", topo: topo{peers: []Peer{a}, missing: []string{"partition 7"}}, names: []string{"a"}, warnings: []string{"partition 7: no live owner"}},
		{name: "no peers", topo: topo{}, warnings: []string{"no storage node"}},
		{name: "peer rejects", topo: topo{peers: []Peer{a, bad}}, err: ErrPeerRejected},
		{name: "denied", topo: topo{peers: []Peer{a, down}}, ctx: WithPartialResponse(context.Background(), no), err: ErrPartialResponse},
		{name: "denied missing", topo: topo{peers: []Peer{a}, missing: []string{"p"}}, ctx: WithPartialResponse(context.Background(), no), err: ErrPartialResponse},
	} {
		q, err := New(c.topo, Options{PeerTimeout: 5 * time.Second})
		require.NoError(t, err)
		ctx := c.ctx
		if ctx == nil {
			ctx = context.Background()
		}
		names, ws, err := selectAll(t, q, ctx)
		if c.err != nil {
			require.ErrorIs(t, err, c.err, c.name)
			continue
		}
		require.NoError(t, err, c.name)
		require.Equal(t, c.names, names, c.name)
		require.Len(t, ws, len(c.warnings), c.name)
		for i, w := range c.warnings {
			require.Contains(t, ws[i], w, c.name)
		}
		// Metadata follows the same rules.
		if len(c.topo.peers) > 0 && c.topo.peers[len(c.topo.peers)-1] != down {
			got, mws, err := q.LabelNames(ctx, 0, 1e6, nil, 0)
			require.NoError(t, err, c.name)
			require.Equal(t, []string{"__name__", "job"}, got)
			require.Len(t, mws, len(c.topo.missing))
		}
	}
}

func TestSelectDefaultDenied(t *testing.T) {
	down := fakePeer(t, http.StatusInternalServerError, nil)
	no, yes := false, true
	q, err := New(Static{down}, Options{PartialResponse: &no})
	require.NoError(t, err)
	_, _, err = selectAll(t, q, context.Background())
	require.ErrorIs(t, err, ErrPartialResponse)
	// The request's choice wins over the default.
	_, ws, err := selectAll(t, q, WithPartialResponse(context.Background(), yes))
	require.NoError(t, err)
	require.Len(t, ws, 1)
}

func TestGateRefusesPastQueue(t *testing.T) {
	entered, release := make(chan struct{}, 1), make(chan struct{})
	peer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		<-release
		w.Write([]byte(`{"status":"success","data":[]}`))
	}))
	defer peer.Close()
	q, err := New(Static{{Name: "p", URL: peer.URL}}, Options{MaxConcurrentQueries: 1, MaxQueueDuration: 50 * time.Millisecond})
	require.NoError(t, err)
	defer q.opts.Client.CloseIdleConnections()
	mux := http.NewServeMux()
	NewAPI(q, nil).Register(mux)
	front := httptest.NewServer(mux)
	defer front.Close()
	first := make(chan int)
	go func() {
		resp, err := http.Get(front.URL + "/api/v1/labels")
		if err != nil {
			first <- 0
			return
		}
		resp.Body.Close()
		first <- resp.StatusCode
	}()
	<-entered // the first request holds the only slot
	resp, err := http.Get(front.URL + "/api/v1/label/job/values")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	require.Equal(t, "1", resp.Header.Get("Retry-After"))
	close(release)
	require.Equal(t, 200, <-first)
	http.DefaultClient.CloseIdleConnections()
}
