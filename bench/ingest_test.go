package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.Cleanup(func(int) {
		if builtServer.dir != "" {
			os.RemoveAll(builtServer.dir)
		}
	}))
}

// builtServer is the server binary the smoke tests run, built once for
// the package's tests.
var builtServer struct {
	once     sync.Once
	dir, bin string
	err      error
}

// lightningTarget returns a Lightning DB target over the server built
// once per test binary, with its data in a directory of t's; it skips in
// -short mode.
func lightningTarget(t *testing.T) *Target {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the server")
	}
	builtServer.once.Do(func() {
		if builtServer.dir, builtServer.err = os.MkdirTemp("", "bench-lightning-db-"); builtServer.err == nil {
			builtServer.bin = builtServer.dir + "/lightning-db"
			builtServer.err = BuildLightningDB(context.Background(), "..", builtServer.bin, os.Stderr)
		}
	})
	if builtServer.err != nil {
		t.Fatal(builtServer.err)
	}
	target, err := NewTarget(LightningDB, builtServer.bin, t.TempDir(), "")
	if err != nil {
		t.Fatal(err)
	}
	return target
}

// TestIngestShardOrder checks that bodies pinned to a shard arrive in order
// and that every sample is counted once.
func TestIngestShardOrder(t *testing.T) {
	var mu sync.Mutex
	got := map[string][]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var shard string
		var seq int
		fmt.Sscanf(string(b), "%s %d", &shard, &seq)
		mu.Lock()
		got[shard] = append(got[shard], seq)
		mu.Unlock()
		w.WriteHeader(204)
	}))
	defer srv.Close()
	var bodies []Body
	for i := range 200 {
		s := i % 3
		bodies = append(bodies, Body{Data: fmt.Appendf(nil, "s%d %d", s, i), Samples: 10, Shard: s})
	}
	res := Ingest(context.Background(), srv.URL, RWv1, bodies, IngestOptions{Conns: 2})
	if res.Samples != 2000 || res.Requests != 200 || res.Errors != 0 {
		t.Fatalf("%+v", res)
	}
	for s, seqs := range got {
		for i := 1; i < len(seqs); i++ {
			if seqs[i] < seqs[i-1] {
				t.Fatalf("shard %s out of order: %v", s, seqs)
			}
		}
	}
}

func TestIngestUnsupportedAndRetry(t *testing.T) {
	srv404 := httptest.NewServer(http.NotFoundHandler())
	defer srv404.Close()
	bodies := []Body{{Data: []byte("x"), Samples: 5, Shard: -1}, {Data: []byte("y"), Samples: 5, Shard: -1}}
	res := Ingest(context.Background(), srv404.URL, LPv1, bodies, IngestOptions{Conns: 1})
	if !strings.HasPrefix(res.Unsupported, "unsupported by target") {
		t.Fatalf("404 not reported as unsupported: %+v", res)
	}

	var calls atomic.Int32
	srv503 := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(503)
			return
		}
		w.WriteHeader(204)
	}))
	defer srv503.Close()
	res = Ingest(context.Background(), srv503.URL, LPv1, bodies[:1], IngestOptions{Conns: 1})
	if res.Retries != 1 || res.Samples != 5 || res.Errors != 0 {
		t.Fatalf("503 then 204: %+v", res)
	}

	// A 2.0 request answered 2xx without the written-samples header came
	// from a 1.x receiver.
	srvOld := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) }))
	defer srvOld.Close()
	res = Ingest(context.Background(), srvOld.URL, RWv2, bodies, IngestOptions{Conns: 1})
	if res.Unsupported == "" || res.Samples != 0 {
		t.Fatalf("rw 2.0 to a 1.x receiver: %+v", res)
	}
}
