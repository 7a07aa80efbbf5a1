package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/klauspost/compress/s2"
	"github.com/prometheus/prometheus/prompb"
	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"
	"github.com/stretchr/testify/require"
)

// needBinaries returns the paths of the named executables, or skips the
// test when one is missing outside CI (in CI, .ci/run installs them).
func needBinaries(t *testing.T, names ...string) []string {
	t.Helper()
	var out []string
	for _, n := range names {
		p, err := exec.LookPath(n)
		if err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s not installed (.ci/run installs its Debian package: prometheus, prometheus-node-exporter, influxdb-client)", n)
			}
			t.Skipf("%s not installed; install Debian's prometheus and prometheus-node-exporter to run this test", n)
		}
		out = append(out, p)
	}
	return out
}

// extProc is a peer process (Prometheus, node exporter) started by a test.
type extProc struct {
	cmd *exec.Cmd
	log *bytes.Buffer
}

func startExt(t *testing.T, readyURL string, bin string, args ...string) *extProc {
	t.Helper()
	p := &extProc{cmd: exec.Command(bin, args...), log: &bytes.Buffer{}}
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	require.NoError(t, p.cmd.Start())
	t.Cleanup(func() {
		p.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { p.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			p.cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("%s log:\n%s", filepath.Base(bin), p.log)
		}
	})
	poll(t, 20*time.Second, 50*time.Millisecond, func() string {
		if readyAt(readyURL) {
			return ""
		}
		return fmt.Sprintf("%s not ready at %s; log:\n%s", bin, readyURL, p.log)
	})
	return p
}

// startPrometheus writes cfg and starts Prometheus with its own data
// directory on a free port; it returns the base URL.
func startPrometheus(t *testing.T, bin, cfg string) string {
	t.Helper()
	dir := t.TempDir()
	file := filepath.Join(dir, "prometheus.yml")
	require.NoError(t, os.WriteFile(file, []byte(cfg), 0o644))
	addr := freeAddr(t)
	startExt(t, "http://"+addr+"/-/ready", bin,
		"--config.file="+file, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--log.level=warn")
	return "http://" + addr
}

// promSeries is one series of a Prometheus matrix answer.
type promSeries struct {
	Metric map[string]string `json:"metric"`
	Values [][2]any          `json:"values"`
}

// promQuery runs an instant or range query against a Prometheus API and
// returns the matrix, sorted by series.
func promQuery(t *testing.T, base, path string, params url.Values) []promSeries {
	t.Helper()
	resp, err := http.PostForm(base+path, params)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	require.Equal(t, 200, resp.StatusCode, "%s %v: %s", path, params, body)
	var out struct {
		Data struct {
			ResultType string       `json:"resultType"`
			Result     []promSeries `json:"result"`
		} `json:"data"`
	}
	require.NoError(t, json.Unmarshal(body, &out))
	require.Equal(t, "matrix", out.Data.ResultType)
	sort.Slice(out.Data.Result, func(i, j int) bool {
		return seriesKey(out.Data.Result[i].Metric) < seriesKey(out.Data.Result[j].Metric)
	})
	return out.Data.Result
}

// remoteReadSamples asks Lightning DB for raw samples with a hand-built
// SAMPLES remote read request and returns them in the shape of a
// Prometheus matrix.
func remoteReadSamples(t *testing.T, p *proc, metric string, startMs, endMs int64) []promSeries {
	t.Helper()
	req := &prompb.ReadRequest{
		Queries: []*prompb.Query{{StartTimestampMs: startMs, EndTimestampMs: endMs,
			Matchers: []*prompb.LabelMatcher{{Type: prompb.LabelMatcher_EQ, Name: "__name__", Value: metric}}}},
		AcceptedResponseTypes: []prompb.ReadRequest_ResponseType{prompb.ReadRequest_SAMPLES},
	}
	data, err := req.Marshal()
	require.NoError(t, err)
	hr, _ := http.NewRequest(http.MethodPost, p.url("/api/v1/read"), bytes.NewReader(s2.EncodeSnappy(nil, data)))
	hr.Header.Set("Content-Type", "application/x-protobuf")
	hr.Header.Set("Content-Encoding", "snappy")
	hr.Header.Set("X-Prometheus-Remote-Read-Version", "0.1.0")
	resp, err := http.DefaultClient.Do(hr)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	require.Equal(t, 200, resp.StatusCode, string(body))
	raw, err := s2.Decode(nil, body)
	require.NoError(t, err)
	var rr prompb.ReadResponse
	require.NoError(t, rr.Unmarshal(raw))
	var out []promSeries
	for _, ts := range rr.Results[0].Timeseries {
		s := promSeries{Metric: map[string]string{}}
		for _, l := range ts.Labels {
			s.Metric[l.Name] = l.Value
		}
		for _, smp := range ts.Samples {
			s.Values = append(s.Values, [2]any{float64(smp.Timestamp) / 1000, strconv.FormatFloat(smp.Value, 'f', -1, 64)})
		}
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return seriesKey(out[i].Metric) < seriesKey(out[j].Metric) })
	return out
}

// normalize renders a matrix as text so that two answers compare exactly
// and a difference prints readably.
func normalize(ms []promSeries) string {
	var b strings.Builder
	for _, s := range ms {
		fmt.Fprintf(&b, "%s:", seriesKey(s.Metric))
		for _, v := range s.Values {
			ts, _ := v[0].(float64)
			fmt.Fprintf(&b, " %d=%v", int64(math.Round(ts*1000)), v[1])
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// eventually retries f every 500 ms (Prometheus scrapes and sends at
// its own pace) until it returns "" or d passes, then fails with f's last
// message.
func eventually(t *testing.T, d time.Duration, f func() string) {
	t.Helper()
	poll(t, d, 500*time.Millisecond, f)
}

// TestPrometheusRemoteWriteAndRead proves the protocols with the real
// Prometheus (Debian's 2.42): one Prometheus scrapes a node exporter and
// remote-writes here; the raw samples it holds equal what Lightning DB
// returns (SAMPLES remote read). A second Prometheus without local data
// reads them back through remote_read (STREAMED_XOR_CHUNKS, 2.42's
// default) and answers the same PromQL as the first.
func TestPrometheusRemoteWriteAndRead(t *testing.T) {
	bins := needBinaries(t, "prometheus", "prometheus-node-exporter")
	ldb := startServer(t, t.TempDir(), "--sync-mode", "none")
	nodeAddr := freeAddr(t)
	startExt(t, "http://"+nodeAddr+"/metrics", bins[1], "--web.listen-address="+nodeAddr,
		"--collector.disable-defaults", "--collector.cpu", "--collector.meminfo", "--collector.loadavg", "--collector.netdev")
	promA := startPrometheus(t, bins[0], fmt.Sprintf(`
global: {scrape_interval: 1s, evaluation_interval: 1s}
scrape_configs:
  - job_name: node
    static_configs: [{targets: ["%s"]}]
remote_write:
  - url: %s
    queue_config: {batch_send_deadline: 500ms, min_backoff: 50ms, max_backoff: 500ms}
`, nodeAddr, ldb.url("/api/v1/write")))
	promB := startPrometheus(t, bins[0], fmt.Sprintf(`
global: {scrape_interval: 1m}
remote_read:
  - url: %s
    read_recent: true
`, ldb.url("/api/v1/read")))

	eventually(t, 20*time.Second, func() string { // a few scrapes
		up := promQuery(t, promA, "/api/v1/query", url.Values{"query": {"up[60s]"}})
		if len(up) == 0 || len(up[0].Values) < 4 {
			return fmt.Sprintf("Prometheus scraped fewer than 4 times: %v", up)
		}
		return ""
	})
	end := time.Now().Add(-500 * time.Millisecond)
	endS := strconv.FormatFloat(float64(end.UnixMilli())/1000, 'f', 3, 64)
	metrics := []string{"node_load1", "node_memory_MemFree_bytes", "node_cpu_seconds_total", "node_network_receive_bytes_total", "up"}
	for _, m := range metrics {
		// Raw samples over the last 60 s as Prometheus holds them...
		want := normalize(promQuery(t, promA, "/api/v1/query", url.Values{"query": {m + "[60s]"}, "time": {endS}}))
		require.NotEmpty(t, want, m)
		eventually(t, 15*time.Second, func() string {
			// ...equal what Lightning DB returns over (end-60s, end].
			got := normalize(remoteReadSamples(t, ldb, m, end.UnixMilli()-60_000+1, end.UnixMilli()))
			if got != want {
				return fmt.Sprintf("%s: remote read differs from Prometheus\nwant:\n%s\ngot:\n%s", m, want, got)
			}
			return ""
		})
		// The second Prometheus has no local data: it answers from
		// Lightning DB through remote read (streamed XOR chunks).
		got := normalize(promQuery(t, promB, "/api/v1/query", url.Values{"query": {m + "[60s]"}, "time": {endS}}))
		require.Equal(t, want, got, "%s through the second Prometheus's remote_read", m)
	}
	// PromQL over the same data gives the same answers on both.
	for _, q := range []string{`rate(node_cpu_seconds_total[5s])`, `sum by (mode) (node_cpu_seconds_total)`, `node_load1`} {
		params := url.Values{"query": {q}, "start": {strconv.FormatInt(end.Unix()-3, 10)}, "end": {strconv.FormatInt(end.Unix(), 10)}, "step": {"1"}}
		want := normalize(promQuery(t, promA, "/api/v1/query_range", params))
		require.NotEmpty(t, want, q)
		require.Equal(t, want, normalize(promQuery(t, promB, "/api/v1/query_range", params)), q)
	}
	resp, err := http.Get(ldb.url("/metrics"))
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Regexp(t, `lightningdb_ingest_samples_received_total\{protocol="prometheus"\} [1-9]`, string(body))
	require.Regexp(t, `lightningdb_remote_read_requests_total [1-9]`, string(body))
}

// TestRemoteWrite2RoundTrip sends remote write 2.0 bodies to the real
// server and checks the reply headers the spec demands and the data read
// back.
func TestRemoteWrite2RoundTrip(t *testing.T) {
	ldb := startServer(t, t.TempDir(), "--sync-mode", "none")
	now := time.Now().UnixMilli()
	req := &writev2.Request{
		Symbols: []string{"", "__name__", "rw2_metric", "host", "a", "Help text.", "trace_id", "t1"},
		Timeseries: []writev2.TimeSeries{{
			LabelsRefs: []uint32{1, 2, 3, 4},
			Samples:    []writev2.Sample{{Value: 1.5, Timestamp: now - 1000}, {Value: 2.5, Timestamp: now}},
			Exemplars:  []writev2.Exemplar{{LabelsRefs: []uint32{6, 7}, Value: 2.5, Timestamp: now}},
			Metadata:   writev2.Metadata{Type: writev2.Metadata_METRIC_TYPE_GAUGE, HelpRef: 5},
		}},
	}
	data, err := req.Marshal()
	require.NoError(t, err)
	send := func(ct string) *http.Response {
		hr, _ := http.NewRequest(http.MethodPost, ldb.url("/api/v1/write"), bytes.NewReader(s2.EncodeSnappy(nil, data)))
		hr.Header.Set("Content-Type", ct)
		hr.Header.Set("Content-Encoding", "snappy")
		hr.Header.Set("X-Prometheus-Remote-Write-Version", "2.0.0")
		hr.Header.Set("User-Agent", "lightningdb-test")
		resp, err := http.DefaultClient.Do(hr)
		require.NoError(t, err)
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	resp := send("application/x-protobuf;proto=io.prometheus.write.v2.Request")
	require.Equal(t, http.StatusNoContent, resp.StatusCode)
	require.Equal(t, "2", resp.Header.Get("X-Prometheus-Remote-Write-Samples-Written"))
	require.Equal(t, "0", resp.Header.Get("X-Prometheus-Remote-Write-Histograms-Written"))
	require.Equal(t, "1", resp.Header.Get("X-Prometheus-Remote-Write-Exemplars-Written"))

	resp = send("application/x-protobuf;proto=io.prometheus.write.v3.Request")
	require.Equal(t, http.StatusUnsupportedMediaType, resp.StatusCode)
	require.Equal(t, "0", resp.Header.Get("X-Prometheus-Remote-Write-Samples-Written"))

	got := normalize(remoteReadSamples(t, ldb, "rw2_metric", now-60_000, now))
	require.Equal(t, fmt.Sprintf("rw2_metric{host=a}: %d=1.5 %d=2.5\n", now-1000, now), got)
}
