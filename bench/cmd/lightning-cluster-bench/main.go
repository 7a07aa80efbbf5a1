// Command lightning-cluster-bench measures ingestion through the cluster
// (docs/cluster.md) against a single node, on loopback: the same
// workload goes to
//
//   - single: one lightning-db, no cluster;
//   - r1: one nats-server with JetStream, an ingest node and one storage
//     node (stream replicas 1);
//   - r3: three clustered nats-servers, an ingest node and three storage
//     nodes (replicas 3).
//
// For each it reports samples/s acknowledged, the time until the storage
// nodes have stored everything, the CPU seconds per million samples of
// every process it started (nats-servers included, from /proc), and the
// p50/p99 ack latency of the write requests. Modes run one after the
// other, in the order given (repeat them, e.g. single,r1,r3,r3,r1,single,
// to see the noise of a shared machine).
//
//	go build -o /tmp/ldb ./cmd/lightning-db
//	go run ./bench/cmd/lightning-cluster-bench --binary /tmp/ldb --modes single,r1,r3
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/lightningdb/lightningdb/bench"
)

type result struct {
	Mode          string             `json:"mode"`
	Samples       int64              `json:"samples"`
	Errors        int                `json:"errors"`
	Seconds       float64            `json:"ack_seconds"`
	Rate          float64            `json:"acked_samples_per_second"`
	StoredSeconds float64            `json:"stored_seconds"`
	StoredRate    float64            `json:"stored_samples_per_second"`
	CPUPerMillion float64            `json:"cpu_seconds_per_million"`
	CPUByProcess  map[string]float64 `json:"cpu_seconds_by_process"`
	Latency       bench.Latency      `json:"latency"`
}

func main() {
	binary := flag.String("binary", "", "lightning-db binary (go build -o /tmp/ldb ./cmd/lightning-db)")
	natsBin := flag.String("nats-server", "nats-server", "nats-server binary")
	modes := flag.String("modes", "single,r1,r3", "comma-separated: single, r1, r3; r1@20ms, r3@-1ms: with --cluster-publish-linger 20ms, -1ms (off)")
	hosts := flag.Int("hosts", 100, "devops hosts (10 fields a line)")
	steps := flag.Int("steps", 1000, "points per host")
	lines := flag.Int("lines", 1000, "lines per request")
	conns := flag.Int("conns", 8, "concurrent HTTP connections")
	partitions := flag.Int("partitions", 64, "cluster partitions")
	out := flag.String("out", "", "write the results as JSON here too")
	ingestArgs := flag.String("ingest-args", "", "extra space-separated flags for the ingest node (e.g. --pprof)")
	flag.Parse()
	if *binary == "" {
		fmt.Fprintln(os.Stderr, "--binary is required")
		os.Exit(2)
	}
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	g := bench.NewDevops(bench.DevopsOptions{Seed: 1, Hosts: *hosts, Steps: *steps, Start: start, Interval: 10 * time.Second})
	bodies, err := bench.BuildLineProtocol(g, *lines, false)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	var results []result
	for _, mode := range strings.Split(*modes, ",") {
		r, err := run(mode, *binary, *natsBin, *partitions, *conns, bodies, strings.Fields(*ingestArgs))
		if err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", mode, err)
			os.Exit(1)
		}
		fmt.Printf("%-6s %9d samples  %8.0f acked/s  stored in %6.2fs (%8.0f/s)  %6.2f CPU-s/M  p50 %6.1f ms  p99 %6.1f ms  errors %d  cpu %v\n",
			r.Mode, r.Samples, r.Rate, r.StoredSeconds, r.StoredRate, r.CPUPerMillion, r.Latency.P50, r.Latency.P99, r.Errors, r.CPUByProcess)
		results = append(results, r)
	}
	if *out != "" {
		b, _ := json.MarshalIndent(results, "", "  ")
		os.WriteFile(*out, b, 0o644)
	}
}

// proc is a started process.
type proc struct {
	name string
	cmd  *exec.Cmd
	http string // lightning-db HTTP address
}

type rig struct {
	dir    string
	procs  []*proc
	ingest *proc
	stores []*proc
}

func (r *rig) start(name, bin string, args ...string) (*proc, error) {
	logf, err := os.Create(filepath.Join(r.dir, name+".log"))
	if err != nil {
		return nil, err
	}
	p := &proc{name: name, cmd: exec.Command(bin, args...)}
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	if err := p.cmd.Start(); err != nil {
		return nil, err
	}
	r.procs = append(r.procs, p)
	return p, nil
}

func (r *rig) stop() {
	for i := len(r.procs) - 1; i >= 0; i-- {
		p := r.procs[i]
		p.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { p.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			p.cmd.Process.Kill()
			<-done
		}
	}
	os.RemoveAll(r.dir)
}

func (r *rig) cpu() (map[string]float64, float64) {
	by, total := map[string]float64{}, 0.0
	for _, p := range r.procs {
		s, err := bench.ProcCPUSeconds(p.cmd.Process.Pid)
		if err == nil {
			by[p.name] = s
			total += s
		}
	}
	return by, total
}

func freePorts(n int) ([]string, error) {
	var out []string
	var lns []net.Listener
	defer func() {
		for _, l := range lns {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		lns = append(lns, l)
		out = append(out, l.Addr().String())
	}
	return out, nil
}

func port(addr string) string { return addr[strings.LastIndexByte(addr, ':')+1:] }

// ldb starts a lightning-db with args and waits for /ready.
func (r *rig) ldb(name, bin string, args ...string) (*proc, error) {
	addr, err := freePorts(1)
	if err != nil {
		return nil, err
	}
	p, err := r.start(name, bin, append([]string{"--data-dir", filepath.Join(r.dir, name), "--http-addr", addr[0], "--mqtt-addr", ""}, args...)...)
	if err != nil {
		return nil, err
	}
	p.http = addr[0]
	return p, waitFor(60*time.Second, "http://"+addr[0]+"/ready")
}

func waitFor(d time.Duration, url string) error {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s not ready in %s", url, d)
}

// natsCluster starts n nats-servers (clustered when n > 1) and returns
// their client URLs.
func (r *rig) natsCluster(bin string, n int) ([]string, error) {
	addrs, err := freePorts(3 * n)
	if err != nil {
		return nil, err
	}
	var urls, routes []string
	for i := range n {
		urls = append(urls, "nats://"+addrs[3*i])
		routes = append(routes, "nats://"+addrs[3*i+1])
	}
	for i := range n {
		args := []string{"-n", fmt.Sprintf("nats%d", i+1), "-a", "127.0.0.1", "-p", port(addrs[3*i]), "-m", port(addrs[3*i+2]),
			"-js", "-sd", filepath.Join(r.dir, fmt.Sprintf("nats%d", i+1))}
		if n > 1 {
			var others []string
			for j, rt := range routes {
				if j != i {
					others = append(others, rt)
				}
			}
			args = append(args, "--cluster_name", "bench", "--cluster", routes[i], "--routes", strings.Join(others, ","))
		}
		if _, err := r.start(fmt.Sprintf("nats%d", i+1), bin, args...); err != nil {
			return nil, err
		}
	}
	for i := range n {
		if err := waitFor(30*time.Second, "http://"+addrs[3*i+2]+"/healthz"); err != nil {
			return nil, err
		}
	}
	return urls, nil
}

func setup(mode, bin, natsBin string, partitions int, ingestArgs []string) (*rig, error) {
	dir, err := os.MkdirTemp("", "ldb-cluster-bench")
	if err != nil {
		return nil, err
	}
	r := &rig{dir: dir}
	if mode == "single" {
		p, err := r.ldb("single", bin, ingestArgs...)
		r.ingest = p
		r.stores = []*proc{p}
		return r, err
	}
	n, stores := 1, 1
	var extra []string
	if base, linger, ok := strings.Cut(mode, "@"); ok {
		mode, extra = base, []string{"--cluster-publish-linger", linger}
	}
	switch mode {
	case "r1":
	case "r3":
		n, stores = 3, 3
	default:
		return r, fmt.Errorf("unknown mode %q: want single, r1 or r3", mode)
	}
	urls, err := r.natsCluster(natsBin, n)
	if err != nil {
		return r, err
	}
	common := []string{"--cluster-nats-urls", strings.Join(urls, ","), "--cluster-replicas", strconv.Itoa(n),
		"--cluster-partitions", strconv.Itoa(partitions)}
	for i := range stores {
		id := fmt.Sprintf("s%d", i+1)
		p, err := r.ldb(id, bin, append(common, "--cluster-node-id", id, "--cluster-roles", "storage")...)
		if err != nil {
			return r, err
		}
		r.stores = append(r.stores, p)
	}
	r.ingest, err = r.ldb("i1", bin, append(append(append(common, "--cluster-node-id", "i1", "--cluster-roles", "ingest"), extra...), ingestArgs...)...)
	if err != nil {
		return r, err
	}
	// Every partition owned and caught up before the load.
	deadline := time.Now().Add(60 * time.Second)
	for {
		var st struct {
			Data struct {
				Missing []string `json:"missing"`
			} `json:"data"`
		}
		resp, err := http.Get("http://" + r.ingest.http + "/api/v1/status/cluster")
		if err == nil {
			err = json.NewDecoder(resp.Body).Decode(&st)
			resp.Body.Close()
			if err == nil && len(st.Data.Missing) == 0 {
				return r, nil
			}
		}
		if time.Now().After(deadline) {
			return r, fmt.Errorf("cluster not complete: %v %v", st.Data.Missing, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func run(mode, bin, natsBin string, partitions, conns int, bodies []bench.Body, ingestArgs []string) (result, error) {
	r, err := setup(mode, bin, natsBin, partitions, ingestArgs)
	defer r.stop()
	if err != nil {
		return result{}, err
	}
	before, cpu0 := r.cpu()
	t0 := time.Now()
	fmt.Fprintf(os.Stderr, "%s: ingest node at http://%s\n", mode, r.ingest.http)
	res := bench.Ingest(context.Background(), "http://"+r.ingest.http+"/write?db="+bench.DB, bench.LPv1, bodies,
		bench.IngestOptions{Conns: conns})
	if mode != "single" {
		if err := r.waitStored(res.Samples, 180*time.Second); err != nil {
			return result{}, err
		}
	}
	stored := time.Since(t0)
	after, cpu1 := r.cpu()
	for k := range after {
		after[k] = round2(after[k] - before[k])
	}
	return result{Mode: mode, Samples: res.Samples, Errors: res.Errors, Seconds: res.Elapsed.Seconds(),
		Rate: float64(res.Samples) / res.Elapsed.Seconds(), StoredSeconds: stored.Seconds(),
		StoredRate: float64(res.Samples) / stored.Seconds(), CPUPerMillion: (cpu1 - cpu0) / float64(res.Samples) * 1e6,
		CPUByProcess: after, Latency: bench.Summarize(res.Latencies)}, nil
}

func round2(f float64) float64 { return float64(int(f*100+0.5)) / 100 }

// waitStored waits until the storage nodes' consumed samples reach n.
func (r *rig) waitStored(n int64, d time.Duration) error {
	deadline := time.Now().Add(d)
	var got float64
	for time.Now().Before(deadline) {
		got = 0
		for _, p := range r.stores {
			got += metric("http://"+p.http+"/metrics", "lightningdb_cluster_consumed_samples_total")
		}
		if int64(got) >= n {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("stored %.0f of %d samples in %s", got, n, d)
}

func metric(url, name string) float64 {
	resp, err := http.Get(url)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
	}
	return 0
}
