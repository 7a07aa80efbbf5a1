package query

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/lightningdb/lightningdb/engine"
	"github.com/lightningdb/lightningdb/series"
)

// testSeries is one series of generated data: labels, ns timestamps and
// values.
type testSeries struct {
	labels series.Labels
	ts     []int64
	vals   []float64
}

// openDB opens an engine in a temporary directory without fsync.
func openDB(t testing.TB, partition int64) *engine.DB {
	t.Helper()
	db, err := engine.Open(t.TempDir(), engine.Options{SyncMode: engine.SyncNone, PartitionDuration: partition})
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	return db
}

// load appends every series in batches of at most 50,000 samples.
func load(t testing.TB, db *engine.DB, data []testSeries) {
	t.Helper()
	var b series.Batch
	flush := func() {
		if b.Samples() == 0 {
			return
		}
		res, err := db.Append(context.Background(), &b)
		require.NoError(t, err)
		require.Empty(t, res.Rejected)
		b.Reset()
	}
	for _, s := range data {
		for i := 0; i < len(s.ts); i += 10_000 {
			b.AddSeries(s.labels, series.TypeFloat)
			for j := i; j < min(i+10_000, len(s.ts)); j++ {
				b.AppendFloat(s.ts[j], s.vals[j])
			}
			if b.Samples() >= 50_000 {
				flush()
			}
		}
	}
	flush()
}

// newTestAPI serves the API over db with opts.
func newTestAPI(t testing.TB, db *engine.DB, opts Options) *httptest.Server {
	t.Helper()
	a, err := NewAdapter(db, opts)
	require.NoError(t, err)
	return newTestAPIAdapter(t, a)
}

// newTestAPIAdapter serves the API over a.
func newTestAPIAdapter(t testing.TB, a *Adapter) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	NewAPI(a, APIOptions{}).Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// apiResponse is the envelope as a client decodes it.
type apiResponse struct {
	Status    string          `json:"status"`
	Data      json.RawMessage `json:"data"`
	ErrorType string          `json:"errorType"`
	Error     string          `json:"error"`
	Warnings  []string        `json:"warnings"`
	code      int
}

func get(t testing.TB, base, path string, params url.Values) apiResponse {
	t.Helper()
	resp, err := http.Get(base + path + "?" + params.Encode())
	require.NoError(t, err)
	return decodeResponse(t, resp)
}

func postForm(t testing.TB, base, path string, params url.Values) apiResponse {
	t.Helper()
	resp, err := http.Post(base+path, "application/x-www-form-urlencoded", strings.NewReader(params.Encode()))
	require.NoError(t, err)
	return decodeResponse(t, resp)
}

func decodeResponse(t testing.TB, resp *http.Response) apiResponse {
	t.Helper()
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var out apiResponse
	require.NoError(t, json.Unmarshal(body, &out), "body: %s", body)
	require.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	out.code = resp.StatusCode
	return out
}
