package query

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
)

// TestQueryConcurrencyLimit: with every query slot held, a query waits
// MaxQueueDuration and then gets 503 with Retry-After (counted); once the
// slot is free, queries are served again. Without the gate the query
// was served at once.
func TestQueryConcurrencyLimit(t *testing.T) {
	a, err := NewAdapter(openDB(t, 0), Options{MaxConcurrentQueries: 1, MaxQueueDuration: 50e6})
	require.NoError(t, err)
	reg := prometheus.NewRegistry()
	api := NewAPI(a, APIOptions{Registerer: reg})
	mux := http.NewServeMux()
	api.Register(mux)
	entered, leave := make(chan struct{}), make(chan struct{})
	mux.Handle("/hold", api.Limit(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-leave
	})))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	held := make(chan error, 1)
	go func() {
		resp, err := http.Get(srv.URL + "/hold")
		if err == nil {
			resp.Body.Close()
		}
		held <- err
	}()
	<-entered
	resp, err := http.Get(srv.URL + "/api/v1/query?" + url.Values{"query": {"1"}}.Encode())
	require.NoError(t, err)
	require.Equal(t, "1", resp.Header.Get("Retry-After"))
	r := decodeResponse(t, resp)
	require.Equal(t, http.StatusServiceUnavailable, r.code, r.Error)
	require.Contains(t, r.Error, "too many concurrent queries: 1 requests are running")
	require.Equal(t, 1.0, rejectedCount(t, reg, "concurrency"))

	close(leave)
	require.NoError(t, <-held)
	r = get(t, srv.URL, "/api/v1/query", url.Values{"query": {"1"}})
	require.Equal(t, http.StatusOK, r.code, r.Error)
}
