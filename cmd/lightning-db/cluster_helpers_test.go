package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/klauspost/compress/s2"
	"github.com/prometheus/prometheus/prompb"
)

// natsServer is one nats-server process of a test's NATS cluster.
type natsServer struct {
	t                  *testing.T
	bin, name, dir     string
	client, route, mon string // loopback host:port
	routes             []string
	cmd                *exec.Cmd
	log                *lockedLog
}

// needNATSServer returns the nats-server binary; it skips the test when
// it is absent locally (CI installs Debian's nats-server, .ci/run) and
// fails it in CI.
func needNATSServer(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("nats-server")
	if err != nil {
		if p, err = exec.LookPath("/usr/sbin/nats-server"); err == nil {
			return p
		}
		if os.Getenv("CI") == "true" {
			t.Fatal("nats-server not installed (.ci/run installs Debian's nats-server)")
		}
		t.Skip("nats-server not installed: apt-get install nats-server to run the cluster tests")
	}
	return p
}

// startNATSCluster starts n nats-servers with JetStream, clustered over
// loopback routes, each with its own store directory, and waits until
// each one's /healthz answers 200 (JetStream up and current).
func startNATSCluster(t *testing.T, n int) []*natsServer {
	t.Helper()
	bin := needNATSServer(t)
	addrs := freeAddrs(t, 3*n)
	var routes []string
	for i := range n {
		routes = append(routes, "nats://"+addrs[3*i+1])
	}
	out := make([]*natsServer, n)
	for i := range n {
		out[i] = &natsServer{t: t, bin: bin, name: fmt.Sprintf("nats%d", i+1), dir: t.TempDir(),
			client: addrs[3*i], route: addrs[3*i+1], mon: addrs[3*i+2], routes: routes}
		out[i].start()
	}
	for _, s := range out {
		s.waitHealthy()
	}
	return out
}

func hostPort(addr string) (string, string) {
	i := strings.LastIndexByte(addr, ':')
	return addr[:i], addr[i+1:]
}

// start runs the server (again, after a kill: same ports, same store).
func (s *natsServer) start() {
	s.t.Helper()
	_, cport := hostPort(s.client)
	_, mport := hostPort(s.mon)
	var others []string
	for _, r := range s.routes {
		if r != "nats://"+s.route {
			others = append(others, r)
		}
	}
	s.log = &lockedLog{}
	s.cmd = exec.Command(s.bin, "-n", s.name, "-a", "127.0.0.1", "-p", cport, "-m", mport,
		"--cluster_name", "ldbtest", "--cluster", "nats://"+s.route, "--routes", strings.Join(others, ","),
		"-js", "-sd", s.dir)
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	cmd := s.cmd
	s.t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Signal(syscall.SIGTERM)
			done := make(chan struct{})
			go func() { cmd.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				cmd.Process.Kill()
				<-done
			}
		}
	})
}

func (s *natsServer) waitHealthy() {
	s.t.Helper()
	poll(s.t, 30*time.Second, 100*time.Millisecond, func() string {
		if readyAt("http://" + s.mon + "/healthz") {
			return ""
		}
		return fmt.Sprintf("%s not healthy; log:\n%s", s.name, s.log)
	})
}

func (s *natsServer) kill() {
	s.cmd.Process.Signal(syscall.SIGKILL)
	s.cmd.Wait()
}

func natsURLs(ss []*natsServer) []string {
	var out []string
	for _, s := range ss {
		out = append(out, "nats://"+s.client)
	}
	return out
}

// clusterNode starts lightning-db as node id with roles on the NATS
// cluster, with a short member TTL and ack wait so that failures show
// within seconds.
func clusterNode(t *testing.T, dir, id string, urls []string, roles string, partitions int, extra ...string) *proc {
	t.Helper()
	cfg := fmt.Sprintf(`cluster:
  nats_urls: [%s]
  node_id: %s
  roles: [%s]
  partitions: %d
  replicas: 3
  member_ttl: 3s
  ack_wait: 3s
  publish_timeout: 5s
  publish_linger: 2ms
  query_peer_timeout: 2s
`, strings.Join(urls, ", "), id, roles, partitions)
	file := filepath.Join(t.TempDir(), id+".yaml")
	if err := os.WriteFile(file, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return startServer(t, dir, append([]string{"--config", file, "--log-level", "debug"}, extra...)...)
}

// clusterStatus reads a node's /api/v1/status/cluster.
type clusterStatusReply struct {
	Data struct {
		Node    string `json:"node"`
		Members []struct {
			ID       string   `json:"id"`
			URL      string   `json:"url"`
			Roles    []string `json:"roles"`
			CaughtUp []int    `json:"caught_up"`
		} `json:"members"`
		Assignment struct {
			Revision uint64   `json:"revision"`
			Owners   []string `json:"owners"`
		} `json:"assignment"`
		Owned []struct {
			Partition int   `json:"partition"`
			Lag       int64 `json:"lag"`
		} `json:"owned"`
		Missing []string `json:"missing"`
	} `json:"data"`
}

func clusterStatus(p *proc) (clusterStatusReply, error) {
	var r clusterStatusReply
	resp, err := http.Get(p.url("/api/v1/status/cluster"))
	if err != nil {
		return r, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return r, fmt.Errorf("status %d", resp.StatusCode)
	}
	return r, json.NewDecoder(resp.Body).Decode(&r)
}

// waitClusterComplete waits until p sees exactly the storage members
// want, every partition owned by one of them and caught up.
func waitClusterComplete(t *testing.T, p *proc, want ...string) {
	t.Helper()
	poll(t, 40*time.Second, 100*time.Millisecond, func() string {
		st, err := clusterStatus(p)
		if err != nil {
			return err.Error()
		}
		var storage []string
		for _, m := range st.Data.Members {
			for _, r := range m.Roles {
				if r == "storage" {
					storage = append(storage, m.ID)
				}
			}
		}
		sortStrings(storage)
		if fmt.Sprint(storage) != fmt.Sprint(want) || len(st.Data.Missing) > 0 {
			return fmt.Sprintf("storage members %v (want %v), missing %q", storage, want, st.Data.Missing)
		}
		return ""
	})
}

// ackedLoad writes to an ingest node and records every sample it
// acknowledged (204): series key "clu_v{db=c,host=hK}" at a timestamp.
type ackedLoad struct {
	mu    sync.Mutex
	acked map[string]string // key@ts -> value
	n     atomic.Int64      // acknowledged requests
	fails atomic.Int64      // refused (503) or failed requests
	stop  chan struct{}
	wg    sync.WaitGroup
}

// startLoad runs writers goroutines posting line protocol batches of 20
// series to p (its URL read at every request, so p may be replaced) until
// stopLoad; tsBase keeps loads apart.
func startLoad(target *atomic.Pointer[proc], writers int, tsBase int64) *ackedLoad {
	l := &ackedLoad{acked: map[string]string{}, stop: make(chan struct{})}
	for w := range writers {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for i := 0; ; i++ {
				select {
				case <-l.stop:
					return
				default:
				}
				ts := tsBase + (int64(i)*int64(writers)+int64(w))*int64(time.Millisecond)
				var body bytes.Buffer
				for k := range 20 {
					fmt.Fprintf(&body, "clu,host=h%d v=%d %d\n", k, i*100+k, ts)
				}
				resp, err := http.Post(target.Load().url("/write?db=c"), "text/plain", &body)
				if err != nil {
					l.fails.Add(1)
					time.Sleep(10 * time.Millisecond)
					continue
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusNoContent {
					l.fails.Add(1)
					time.Sleep(10 * time.Millisecond)
					continue
				}
				l.mu.Lock()
				for k := range 20 {
					l.acked[fmt.Sprintf("clu_v{db=c,host=h%d}@%d", k, ts)] = fmt.Sprint(i*100 + k)
				}
				l.mu.Unlock()
				l.n.Add(1)
			}
		}()
	}
	return l
}

// waitAcks waits until n more requests than now are acknowledged.
func (l *ackedLoad) waitAcks(t *testing.T, n int64, what string) {
	t.Helper()
	want := l.n.Load() + n
	poll(t, 30*time.Second, 20*time.Millisecond, func() string {
		if l.n.Load() >= want {
			return ""
		}
		return fmt.Sprintf("%s: %d of %d writes acknowledged (%d refused)", what, l.n.Load(), want, l.fails.Load())
	})
}

func (l *ackedLoad) stopLoad() map[string]string {
	close(l.stop)
	l.wg.Wait()
	return l.acked
}

// unionSamples exports every series matching selector from each node and
// returns key@ts -> value; it fails on a (series, timestamp) stored twice
// by one node.
func unionSamples(t *testing.T, selector string, nodes ...*proc) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, p := range nodes {
		for key, e := range p.export(selector) {
			seen := map[int64]bool{}
			for i, ts := range e.Timestamps {
				if seen[ts] {
					t.Fatalf("node %s stores %s at %d twice", p.addr, key, ts)
				}
				seen[ts] = true
				out[fmt.Sprintf("%s@%d", key, ts)] = fmt.Sprint(e.Values[i])
			}
		}
	}
	return out
}

// waitAllStored waits until the union of the nodes holds every acked
// sample with its value.
func waitAllStored(t *testing.T, acked map[string]string, selector string, nodes ...*proc) {
	t.Helper()
	if len(acked) == 0 {
		t.Fatal("nothing was acknowledged")
	}
	poll(t, 45*time.Second, 500*time.Millisecond, func() string {
		got := unionSamples(t, selector, nodes...)
		missing, example := 0, ""
		for k, v := range acked {
			if g, ok := got[k]; !ok || g != v {
				if missing == 0 {
					example = fmt.Sprintf("%s=%s (got %q)", k, v, g)
				}
				missing++
			}
		}
		if missing > 0 {
			return fmt.Sprintf("%d of %d acknowledged samples not stored, e.g. %s", missing, len(acked), example)
		}
		return ""
	})
}

// clusterRemoteWrite sends one remote write 1.0 request of samples of series
// clu_rw{host=hK} and returns its status.
func clusterRemoteWrite(t *testing.T, p *proc, hosts int, tsMs int64, val float64) int {
	t.Helper()
	var req prompb.WriteRequest
	for k := range hosts {
		req.Timeseries = append(req.Timeseries, prompb.TimeSeries{
			Labels:  []prompb.Label{{Name: "__name__", Value: "clu_rw"}, {Name: "host", Value: fmt.Sprintf("h%d", k)}},
			Samples: []prompb.Sample{{Value: val + float64(k), Timestamp: tsMs}},
		})
	}
	data, err := req.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	hr, _ := http.NewRequest(http.MethodPost, p.url("/api/v1/write"), bytes.NewReader(s2.EncodeSnappy(nil, data)))
	hr.Header.Set("Content-Type", "application/x-protobuf")
	hr.Header.Set("Content-Encoding", "snappy")
	hr.Header.Set("X-Prometheus-Remote-Write-Version", "0.1.0")
	resp, err := http.DefaultClient.Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// waitApplied waits until every node has applied the same assignment:
// each consumes exactly the partitions the table gives it (a node that
// lost a partition may consume it a little longer, which is harmless but
// would put its samples on two nodes).
func waitApplied(t *testing.T, nodes ...*proc) {
	t.Helper()
	poll(t, 30*time.Second, 100*time.Millisecond, func() string {
		var rev uint64
		for i, p := range nodes {
			st, err := clusterStatus(p)
			if err != nil {
				return err.Error()
			}
			if i == 0 {
				rev = st.Data.Assignment.Revision
			} else if st.Data.Assignment.Revision != rev {
				return fmt.Sprintf("node %s at assignment revision %d, another at %d", st.Data.Node, st.Data.Assignment.Revision, rev)
			}
			var want, got []int
			for part, o := range st.Data.Assignment.Owners {
				if o == st.Data.Node {
					want = append(want, part)
				}
			}
			for _, o := range st.Data.Owned {
				got = append(got, o.Partition)
			}
			if fmt.Sprint(want) != fmt.Sprint(got) {
				return fmt.Sprintf("node %s consumes %v, owns %v", st.Data.Node, got, want)
			}
		}
		return ""
	})
}

// countQuery asks p for count({__name__=~"clu_.*"}) at time ts (seconds)
// and returns the count (-1 for an empty answer) and the warnings.
func countQuery(t *testing.T, p *proc, ts string) (float64, []string) {
	t.Helper()
	resp, err := http.Get(p.url("/api/v1/query?query=" + url.QueryEscape(`count({__name__=~"clu_.*"})`) + "&time=" + ts))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r struct {
		Status string `json:"status"`
		Data   struct {
			Result []struct {
				Value []any `json:"value"`
			} `json:"result"`
		} `json:"data"`
		Warnings []string `json:"warnings"`
		Error    string   `json:"error"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		t.Fatal(err)
	}
	if r.Status != "success" {
		t.Fatalf("query: %d %s", resp.StatusCode, r.Error)
	}
	if len(r.Data.Result) == 0 {
		return -1, r.Warnings
	}
	v, _ := strconv.ParseFloat(fmt.Sprint(r.Data.Result[0].Value[1]), 64)
	return v, r.Warnings
}
