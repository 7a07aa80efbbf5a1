package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/s2"
	"github.com/prometheus/prometheus/prompb"
)

// exportLines calls /api/v1/export on p and returns the status, the lines
// sorted (a query node writes them in label order, a single node in
// series ID order), the Warning headers and the body.
func exportLines(t *testing.T, p *proc, params url.Values) (int, []string, []string, string) {
	t.Helper()
	resp, err := http.Get(p.url("/api/v1/export") + "?" + params.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	slices.Sort(lines)
	return resp.StatusCode, lines, resp.Header.Values("Warning"), string(b)
}

// exportTypedLines is a measurement with every value type at nanosecond
// timestamps 300 ns apart; from and to pick the points.
func exportTypedLines(base time.Time, from, to int) string {
	var b strings.Builder
	for k := from; k < to; k++ {
		fmt.Fprintf(&b, "typed,host=a s=\"v%d \\\"q\\\"\",i=%di,u=%du,b=%t,f=%g %d\n",
			k, 9007199254740993+k, uint64(18446744073709551600)+uint64(k), k%2 == 0, 0.1*float64(k), base.UnixNano()+int64(k)*300)
	}
	return b.String()
}

// writeMetadata sends a remote write 1.0 request that holds only metadata.
func writeMetadata(t *testing.T, p *proc, md ...prompb.MetricMetadata) {
	t.Helper()
	data, err := (&prompb.WriteRequest{Metadata: md}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(p.url("/api/v1/write"), "application/x-protobuf", bytes.NewReader(s2.EncodeSnappy(nil, data)))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("metadata write to %s: %d %s", p.addr, resp.StatusCode, b)
	}
}

// TestFanoutExportStatusMetadata: on a query node over three peers,
// /api/v1/export writes the lines of a single node holding everything
// (every value type, nanosecond timestamps, a series split over two
// peers), status/tsdb sums the peers' statistics (the split series twice)
// and metadata is the union of the peers'; a frozen peer gives a warning,
// or a 422 with partial_response=false.
func TestFanoutExportStatusMetadata(t *testing.T) {
	admin := buildAdmin(t)
	peers, all, qn, base := startFanout(t)
	tb := base.Add(30 * time.Minute)
	writeLines(t, peers[0], "fan", exportTypedLines(tb, 0, 6))
	writeLines(t, peers[1], "fan", exportTypedLines(tb, 3, 10))
	writeLines(t, all, "fan", exportTypedLines(tb, 0, 10))
	counter := prompb.MetricMetadata{Type: prompb.MetricMetadata_COUNTER, MetricFamilyName: "http_requests_total", Help: "Requests."}
	gauge := prompb.MetricMetadata{Type: prompb.MetricMetadata_GAUGE, MetricFamilyName: "temp", Help: "Temperature.", Unit: "celsius"}
	writeMetadata(t, peers[0], counter)
	writeMetadata(t, peers[2], gauge)
	writeMetadata(t, all, counter, gauge)

	t.Run("export", func(t *testing.T) {
		rfc := func(ns int64) string { return time.Unix(0, ns).UTC().Format(time.RFC3339Nano) }
		for _, params := range []url.Values{
			nil,
			{"match[]": {"cpu_usage", `{__name__=~"shared.*"}`}},
			{"match[]": {`{__name__=~"typed_.*"}`}},
			{"match[]": {`{__name__=~"typed_.*"}`}, "start": {rfc(tb.UnixNano() + 600)}, "end": {rfc(tb.UnixNano() + 1800)}},
			{"match[]": {`{host="h4"}`, `cpu_req{host=~"h[34]"}`}, "start": {fmt.Sprint(base.Add(10 * time.Minute).Unix())}, "end": {fmt.Sprint(base.Add(20 * time.Minute).Unix())}},
			{"match[]": {"nothing_here"}},
		} {
			cw, want, _, bw := exportLines(t, all, params)
			cg, got, ws, bg := exportLines(t, qn, params)
			if cw != 200 || cg != 200 || len(ws) > 0 || !slices.Equal(want, got) || (bw == "") != (params.Get("match[]") == "nothing_here") {
				t.Errorf("export %v:\nsingle  %d %.600s\nfan-out %d %v %.600s", params, cw, bw, cg, ws, bg)
			}
			t.Logf("export %v: %d lines, %d bytes", params, len(got), len(bg))
		}
		// ns precision: the 300 ns window holds points 2..6 on both.
		_, got, _, _ := exportLines(t, qn, url.Values{"match[]": {"typed_i"}, "start": {rfc(tb.UnixNano() + 600)}, "end": {rfc(tb.UnixNano() + 1800)}})
		if len(got) != 1 || !strings.Contains(got[0], `"values":[9007199254740995,9007199254740996,9007199254740997,9007199254740998,9007199254740999]`) {
			t.Errorf("typed_i over 600..1800 ns: %v", got)
		}
		for _, bad := range []url.Values{
			{"match[]": {"{"}},
			{"match[]": {`{host=~".*"}`}},
			{"start": {"x"}},
			{"start": {"200"}, "end": {"100"}},
		} {
			cw, _, _, bw := exportLines(t, all, bad)
			cg, _, _, bg := exportLines(t, qn, bad)
			if cw != 400 || cg != 400 || !strings.Contains(bg, `"status":"error"`) {
				t.Errorf("export %v: single %d %s, fan-out %d %s", bad, cw, bw, cg, bg)
			}
		}
	})
	t.Run("status/tsdb", func(t *testing.T) {
		params := url.Values{"limit": {"100"}}
		cw, want := apiGet(t, all, "/api/v1/status/tsdb", params)
		cg, got := apiGet(t, qn, "/api/v1/status/tsdb", params)
		if cw != 200 || cg != 200 || len(got.Warnings) > 0 {
			t.Fatalf("status/tsdb: single %d %s, fan-out %d %s %v", cw, want.Error, cg, got.Error, got.Warnings)
		}
		w, g := decodeStatus(t, want.Data), decodeStatus(t, got.Data)
		// shared_temp and typed_* are on peers 0 and 1: counted twice
		// (docs/cluster.md).
		for _, m := range []string{"shared_temp", "typed_s", "typed_i", "typed_u", "typed_b", "typed_f"} {
			w.HeadStats.NumSeries++
			w.SeriesCountByMetricName[m]++
			w.SeriesCountByLabelValuePair["__name__="+m]++
			w.SeriesCountByLabelValuePair["db=fan"]++
			if m == "shared_temp" {
				w.SeriesCountByLabelValuePair["site=x"]++
			} else {
				w.SeriesCountByLabelValuePair["host=a"]++
			}
		}
		// numLabelPairs is summed like labelValueCountByLabelName (below).
		w.HeadStats.NumLabelPairs = g.HeadStats.NumLabelPairs
		if w.HeadStats != g.HeadStats || !reflect.DeepEqual(w.SeriesCountByMetricName, g.SeriesCountByMetricName) ||
			!reflect.DeepEqual(w.SeriesCountByLabelValuePair, g.SeriesCountByLabelValuePair) {
			t.Errorf("status/tsdb:\nsingle (shared_temp twice) %+v\nfan-out %+v", w, g)
		}
		// Every list is the sum of the peers' lists.
		sum := tsdbStatusMaps{SeriesCountByMetricName: map[string]uint64{}, LabelValueCountByLabelName: map[string]uint64{},
			MemoryInBytesByLabelName: map[string]uint64{}, SeriesCountByLabelValuePair: map[string]uint64{}}
		for _, p := range peers {
			_, a := apiGet(t, p, "/api/v1/status/tsdb", params)
			st := decodeStatus(t, a.Data)
			sum.HeadStats.NumLabelPairs += st.HeadStats.NumLabelPairs
			for _, m := range [][2]map[string]uint64{{sum.SeriesCountByMetricName, st.SeriesCountByMetricName},
				{sum.LabelValueCountByLabelName, st.LabelValueCountByLabelName}, {sum.MemoryInBytesByLabelName, st.MemoryInBytesByLabelName},
				{sum.SeriesCountByLabelValuePair, st.SeriesCountByLabelValuePair}} {
				for k, v := range m[1] {
					m[0][k] += v
				}
			}
		}
		sum.HeadStats.NumSeries, sum.HeadStats.MinTime, sum.HeadStats.MaxTime = g.HeadStats.NumSeries, g.HeadStats.MinTime, g.HeadStats.MaxTime
		if !reflect.DeepEqual(sum, g) {
			t.Errorf("status/tsdb is not the sum of the peers':\nsum     %+v\nfan-out %+v", sum, g)
		}
		// Top 3: the largest sums, largest first.
		_, top := apiGet(t, qn, "/api/v1/status/tsdb", url.Values{"topN": {"3"}})
		var d struct {
			SeriesCountByLabelValuePair []struct {
				Name  string
				Value uint64
			}
		}
		json.Unmarshal(top.Data, &d)
		// db=fan 30, then host=a and region=r0 10 each (ties in name
		// order): region=r0 is in no peer's own top 3.
		if fmt.Sprint(d.SeriesCountByLabelValuePair) != "[{db=fan 30} {host=a 10} {region=r0 10}]" {
			t.Errorf("status/tsdb topN=3: %s", top.Data)
		}
		if code, a := apiGet(t, qn, "/api/v1/status/tsdb", url.Values{"limit": {"0"}}); code != 400 {
			t.Errorf("status/tsdb limit=0: %d %s", code, a.Error)
		}
	})
	t.Run("metadata", func(t *testing.T) {
		// The query node's own store (what remote write brought it) joins
		// the peers' answers.
		local := prompb.MetricMetadata{Type: prompb.MetricMetadata_GAUGE, MetricFamilyName: "queue_depth", Help: "Queued jobs."}
		writeMetadata(t, qn, local)
		writeMetadata(t, all, local)
		for _, params := range []url.Values{nil, {"metric": {"temp"}}, {"metric": {"queue_depth"}}, {"limit": {"2"}}} {
			cw, want := apiGet(t, all, "/api/v1/metadata", params)
			cg, got := apiGet(t, qn, "/api/v1/metadata", params)
			var dw, dg any
			json.Unmarshal(want.Data, &dw)
			json.Unmarshal(got.Data, &dg)
			if cw != 200 || cg != 200 || len(got.Warnings) > 0 || !reflect.DeepEqual(dw, dg) || len(got.Data) < 10 {
				t.Errorf("metadata %v:\nsingle  %d %s\nfan-out %d %s %v", params, cw, want.Data, cg, got.Data, got.Warnings)
			}
		}
		// Nodes that disagree: each distinct entry is listed, as
		// Prometheus lists its targets' entries.
		local.MetricFamilyName = "temp"
		writeMetadata(t, qn, local)
		_, a := apiGet(t, qn, "/api/v1/metadata", url.Values{"metric": {"temp"}})
		if want := `{"temp":[{"type":"gauge","help":"Queued jobs.","unit":""},{"type":"gauge","help":"Temperature.","unit":"celsius"}]}`; string(a.Data) != want {
			t.Errorf("metadata of temp from two nodes: %s, want %s", a.Data, want)
		}
	})
	t.Run("frozen peer", func(t *testing.T) {
		thaw := freeze(t, peers[1])
		exp := url.Values{"match[]": {"cpu_usage"}}
		code, lines, ws, body := exportLines(t, qn, exp)
		if code != 200 || len(lines) != 6 || len(ws) != 1 || !strings.Contains(ws[0], peers[1].addr) {
			t.Fatalf("export with a frozen peer: %d, %d lines, warnings %q: %.300s", code, len(lines), ws, body)
		}
		t.Logf("export with a frozen peer: Warning: %s", ws[0])
		exp.Set("partial_response", "false")
		if code, _, _, body = exportLines(t, qn, exp); code != http.StatusUnprocessableEntity || !strings.Contains(body, peers[1].addr) {
			t.Fatalf("export, partial_response=false, frozen peer: %d %s", code, body)
		}
		// The rest at once: each waits out the 2 s peer timeout.
		var wg sync.WaitGroup
		wg.Add(6)
		for _, path := range []string{"/api/v1/status/tsdb", "/api/v1/metadata"} {
			go func() {
				defer wg.Done()
				code, a, err := fanGet(qn, path, nil)
				if err != nil || code != 200 || len(a.Warnings) != 1 || !strings.Contains(a.Warnings[0], peers[1].addr) {
					t.Errorf("%s with a frozen peer: %d %s %v %v", path, code, a.Error, a.Warnings, err)
				}
			}()
			go func() {
				defer wg.Done()
				code, a, err := fanGet(qn, path, url.Values{"partial_response": {"false"}})
				if err != nil || code != http.StatusUnprocessableEntity || !strings.Contains(a.Error, peers[1].addr) {
					t.Errorf("%s, partial_response=false, frozen peer: %d %s %v", path, code, a.Error, err)
				}
			}()
		}
		// lightning-admin export fails on a partial answer unless
		// --allow-partial, which prints the warning.
		go func() {
			defer wg.Done()
			out, errOut, code := runAdmin(t, admin, "export", "--url", "http://"+qn.addr, "--match", "cpu_usage")
			if code == 0 || out != "" || !strings.Contains(errOut, peers[1].addr) || !strings.Contains(errOut, "422") {
				t.Errorf("lightning-admin export, frozen peer: %d %q %s", code, out, errOut)
			}
		}()
		go func() {
			defer wg.Done()
			out, errOut, code := runAdmin(t, admin, "export", "--url", "http://"+qn.addr, "--match", "cpu_usage", "--allow-partial")
			if code != 0 || strings.Count(out, "\n") != 6 || !strings.Contains(errOut, "warning: 199 lightning-db") || !strings.Contains(errOut, peers[1].addr) {
				t.Errorf("lightning-admin export --allow-partial, frozen peer: %d, %d lines, %s", code, strings.Count(out, "\n"), errOut)
			}
		}()
		wg.Wait()
		thaw()
		if code, lines, ws, _ := exportLines(t, qn, url.Values{"match[]": {"cpu_usage"}}); code != 200 || len(lines) != 9 || len(ws) != 0 {
			t.Fatalf("export, thawed peer: %d, %d lines, warnings %q", code, len(lines), ws)
		}
	})
}

// fanGet is apiGet for other goroutines: errors are returned.
func fanGet(p *proc, path string, params url.Values) (int, fanAnswer, error) {
	resp, err := http.Get(p.url(path) + "?" + params.Encode())
	if err != nil {
		return 0, fanAnswer{}, err
	}
	defer resp.Body.Close()
	var a fanAnswer
	err = json.NewDecoder(resp.Body).Decode(&a)
	return resp.StatusCode, a, err
}

// tsdbStatusMaps is a status/tsdb answer with its lists as maps.
type tsdbStatusMaps struct {
	HeadStats                   struct{ NumSeries, NumLabelPairs, ChunkCount, MinTime, MaxTime int64 }
	SeriesCountByMetricName     map[string]uint64
	LabelValueCountByLabelName  map[string]uint64
	MemoryInBytesByLabelName    map[string]uint64
	SeriesCountByLabelValuePair map[string]uint64
}

func decodeStatus(t *testing.T, raw json.RawMessage) tsdbStatusMaps {
	t.Helper()
	type stat struct {
		Name  string `json:"name"`
		Value uint64 `json:"value"`
	}
	var d struct {
		HeadStats                   struct{ NumSeries, NumLabelPairs, ChunkCount, MinTime, MaxTime int64 }
		SeriesCountByMetricName     []stat `json:"seriesCountByMetricName"`
		LabelValueCountByLabelName  []stat `json:"labelValueCountByLabelName"`
		MemoryInBytesByLabelName    []stat `json:"memoryInBytesByLabelName"`
		SeriesCountByLabelValuePair []stat `json:"seriesCountByLabelValuePair"`
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("status/tsdb %s: %v", raw, err)
	}
	m := func(ss []stat) map[string]uint64 {
		out := map[string]uint64{}
		for _, s := range ss {
			out[s.Name] += s.Value
		}
		return out
	}
	return tsdbStatusMaps{d.HeadStats, m(d.SeriesCountByMetricName), m(d.LabelValueCountByLabelName),
		m(d.MemoryInBytesByLabelName), m(d.SeriesCountByLabelValuePair)}
}

// TestFanoutExportLimits: a query node's export keeps the single node's
// selector limits (query.max_query_length, an empty-matching selector)
// and refuses to hold more than query.max_samples samples.
func TestFanoutExportLimits(t *testing.T) {
	peer := startServer(t, t.TempDir())
	base := time.Now().Add(-time.Hour).Truncate(time.Second)
	var b strings.Builder
	for k := range 5 {
		fmt.Fprintf(&b, "lim,host=a v=%d %d\n", k, base.Add(time.Duration(k)*time.Second).UnixNano())
	}
	writeLines(t, peer, "fan", b.String())
	cfg := filepath.Join(t.TempDir(), "q.yaml")
	writeFile(t, cfg, "cluster:\n  query_peers: [http://"+peer.addr+"]\nquery:\n  max_samples: 4\n  max_query_length: 64\n")
	qn := startServer(t, t.TempDir(), "--config", cfg)
	code, _, _, body := exportLines(t, qn, url.Values{"match[]": {"lim_v"}})
	if code != http.StatusUnprocessableEntity || !strings.Contains(body, "more than 4 samples") || !strings.Contains(body, "query.max_samples") {
		t.Errorf("export of 5 samples, max_samples 4: %d %s", code, body)
	}
	code, lines, _, body := exportLines(t, qn, url.Values{"match[]": {"lim_v"}, "end": {fmt.Sprint(base.Add(3 * time.Second).Unix())}})
	if code != 200 || len(lines) != 1 || !strings.Contains(body, `"values":[0,1,2,3]`) {
		t.Errorf("export of 4 samples, max_samples 4: %d %s", code, body)
	}
	long := `lim_v{host="` + strings.Repeat("a", 64) + `"}`
	for sel, want := range map[string]string{long: "query.max_query_length", `{host=~".*"}`: "empty"} {
		if code, _, _, body := exportLines(t, qn, url.Values{"match[]": {sel}}); code != http.StatusBadRequest || !strings.Contains(body, want) {
			t.Errorf("export of %s: %d %s, want 400 naming %s", sel, code, body, want)
		}
	}
}
