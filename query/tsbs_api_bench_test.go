package query

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lightningdb/lightningdb/engine"
	"github.com/lightningdb/lightningdb/series"
)

// tsbsVMShape is one of the 11 TSBS cpu-only query types as
// tsbs_generate_queries --format=victoriametrics writes them (issue #17;
// bench/tsbs_query.go): hosts (0: all), fields, range and step.
type tsbsVMShape struct {
	name         string
	hosts        int
	fields       int
	window, step time.Duration
}

var tsbsVMShapes = []tsbsVMShape{
	{"single-groupby-1-1-1", 1, 1, time.Hour, time.Minute},
	{"single-groupby-1-1-12", 1, 1, 12 * time.Hour, time.Minute},
	{"single-groupby-1-8-1", 8, 1, time.Hour, time.Minute},
	{"single-groupby-5-1-1", 1, 5, time.Hour, time.Minute},
	{"single-groupby-5-1-12", 1, 5, 12 * time.Hour, time.Minute},
	{"single-groupby-5-8-1", 8, 5, time.Hour, time.Minute},
	{"cpu-max-all-1", 1, 10, 8 * time.Hour, time.Hour},
	{"cpu-max-all-8", 8, 10, 8 * time.Hour, time.Hour},
	{"double-groupby-1", 0, 1, 12 * time.Hour, time.Hour},
	{"double-groupby-5", 0, 5, 12 * time.Hour, time.Hour},
	{"double-groupby-all", 0, 10, 12 * time.Hour, time.Hour},
}

// query returns the shape's PromQL for the given hosts (TSBS' form).
func (s tsbsVMShape) query(hosts []string) string {
	fields := strings.Join(tsbsFields[:s.fields], "|")
	var hm string
	switch len(hosts) {
	case 0:
	case 1:
		hm = fmt.Sprintf("hostname='%s'", hosts[0])
	default:
		hm = fmt.Sprintf("hostname=~'%s'", strings.Join(hosts, "|"))
	}
	sel := fmt.Sprintf("{__name__=~'cpu_(%s)', %s}", fields, hm)
	switch {
	case s.fields == 1:
		sel = fmt.Sprintf("cpu_%s{%s}", fields, hm)
	case hm == "":
		sel = fmt.Sprintf("{__name__=~'cpu_(%s)'}", fields)
	}
	if s.hosts == 0 {
		return fmt.Sprintf("avg(avg_over_time(%s[%s])) by (__name__, hostname)", sel, promDur(s.step))
	}
	return fmt.Sprintf("max(max_over_time(%s[%s])) by (__name__)", sel, promDur(s.step))
}

func promDur(d time.Duration) string {
	if d%time.Hour == 0 {
		return strconv.Itoa(int(d/time.Hour)) + "h"
	}
	return strconv.Itoa(int(d/time.Minute)) + "m"
}

// requests returns n query_range parameter sets of s with hosts and
// windows drawn from seed inside the data, as the bench tool draws them
// (windows aligned to the step).
func (s tsbsVMShape) requests(seed uint64, n int) []url.Values {
	r := rand.New(rand.NewPCG(seed, uint64(s.hosts)<<16|uint64(s.fields)))
	dataStart := time.Unix(0, tsbsStart)
	span := time.Duration(tsbsN)*time.Duration(tsbsStep) - s.window
	out := make([]url.Values, n)
	for i := range out {
		start := dataStart.Add(time.Duration(r.Int64N(int64(span/s.step)+1)) * s.step)
		var hosts []string
		for _, h := range r.Perm(tsbsHosts)[:s.hosts] {
			hosts = append(hosts, "host_"+strconv.Itoa(h))
		}
		out[i] = url.Values{"query": {s.query(hosts)}, "start": {secs(start.Add(s.step).UnixNano())},
			"end": {secs(start.Add(s.window).UnixNano())}, "step": {strconv.Itoa(int(s.step.Seconds()))}}
	}
	return out
}

// BenchmarkTSBSAPI sends the 11 TSBS cpu-only types as TSBS writes them
// for VictoriaMetrics through the API's handler, MetricsQL names on, over
// the integer TSBS data flushed to segments (as the bench tool's server
// holds it after its restart), each iteration the next of 100 requests
// drawn like the bench tool's: "warm" with the window cache (after the
// first 100 iterations every window is in it), "cold" without it.
//
//	go test -run '^$' -bench TSBSAPI -count 5 ./query/
func BenchmarkTSBSAPI(b *testing.B) {
	db, err := engine.Open(b.TempDir(), engine.Options{SyncMode: engine.SyncNone})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	if err := fillTSBSTyped(db, series.TypeInt); err != nil {
		b.Fatal(err)
	}
	if err := db.Flush(context.Background()); err != nil {
		b.Fatal(err)
	}
	for _, mode := range []struct {
		name string
		opts Options
	}{{"warm", Options{MetricsQLNames: true}}, {"cold", Options{MetricsQLNames: true, WindowCacheEntries: -1}}} {
		a, err := NewAdapter(db, mode.opts)
		if err != nil {
			b.Fatal(err)
		}
		mux := http.NewServeMux()
		NewAPI(a, APIOptions{}).Register(mux)
		benchTSBSAPI(b, mux, mode.name)
	}
}

func benchTSBSAPI(b *testing.B, mux *http.ServeMux, mode string) {
	for i, s := range tsbsVMShapes {
		reqs := s.requests(uint64(i+1), 100)
		b.Run(s.name+"/"+mode, func(b *testing.B) {
			b.ReportAllocs()
			k := 0
			for b.Loop() {
				w := httptest.NewRecorder()
				mux.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/api/v1/query_range?"+reqs[k%len(reqs)].Encode(), nil))
				if w.Code != http.StatusOK {
					b.Fatal(w.Body.String())
				}
				k++
			}
		})
	}
}
