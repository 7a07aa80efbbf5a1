// Command lightning-fanout measures the cost of query fan-out: the TSBS
// cpu-only data is loaded whole into one server and split by host over
// three peers (host_N on peer N mod 3), a query node is started with the
// three as cluster.query_peers, and every query instance of the TSBS
// PromQL mix goes to the single server and to the query node in turn (the
// order alternating), so both meet the same machine load. It reports each
// type's p50 and p99 on both sides and the ratios fan-out / single, and
// counts answers that differ.
//
//	go build -o /tmp/ldb ./cmd/lightning-db
//	go run ./bench/cmd/lightning-fanout --lightning-bin /tmp/ldb --hosts 100 --hours 24 \
//	  --queries 50 --markdown bench/results/fanout.md
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"math"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/lightningdb/lightningdb/bench"
)

func main() {
	var (
		bin     = flag.String("lightning-bin", "", "lightning-db binary (required)")
		hosts   = flag.Int("hosts", 100, "TSBS hosts")
		hours   = flag.Int("hours", 24, "hours of data at 10 s")
		queries = flag.Int("queries", 50, "instances of each query type")
		seed    = flag.Uint64("seed", 1, "seed of the data and the query instances")
		md      = flag.String("markdown", "", "write the table here too")
		shapes  = flag.String("types", "", "comma-separated query types (default: all 11)")
		profile = flag.String("profile", "", "write 5 s CPU profiles of the query node and peer 0 as PREFIX-{query,peer0}.pprof while the fan-out side runs the types in a loop, instead of measuring")
	)
	flag.Parse()
	if *bin == "" {
		log.Fatal("--lightning-bin is required")
	}
	profilePrefix = *profile
	if err := run(*bin, *hosts, *hours, *queries, *seed, *md, *shapes); err != nil {
		log.Fatal(err)
	}
}

func run(bin string, hosts, hours, nq int, seed uint64, md, only string) error {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "ldb-fanout")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	start := func(name string, extra ...string) (*bench.Target, error) {
		t, err := bench.NewTarget(bench.LightningDB+"@"+name, bin, dir, "")
		if err != nil {
			return nil, err
		}
		t.MetricsQLNames = true
		t.ExtraArgs = extra
		if profilePrefix != "" {
			t.ExtraArgs = append(t.ExtraArgs, "--pprof")
		}
		if err := t.Fresh(); err != nil {
			return nil, err
		}
		return t, t.Start(ctx, time.Minute)
	}
	single, err := start("single")
	if err != nil {
		return err
	}
	defer single.Stop(30 * time.Second)
	var peers [3]*bench.Target
	var urls []string
	for i := range peers {
		if peers[i], err = start(fmt.Sprintf("peer%d", i)); err != nil {
			return err
		}
		defer peers[i].Stop(30 * time.Second)
		urls = append(urls, peers[i].BaseURL())
	}
	dataStart := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	steps := hours * 360
	t0 := time.Now()
	if err := load(single, peers, bench.NewDevops(bench.DevopsOptions{Seed: seed, Hosts: hosts, Start: dataStart, Steps: steps})); err != nil {
		return err
	}
	log.Printf("loaded %d samples in %v", int64(hosts)*int64(steps)*10, time.Since(t0).Round(time.Second))
	cfg := filepath.Join(dir, "query.yaml")
	if err := os.WriteFile(cfg, []byte("cluster:\n  query_peers: ["+strings.Join(urls, ", ")+"]\n"), 0o644); err != nil {
		return err
	}
	qn, err := start("query", "--config", cfg)
	if err != nil {
		return err
	}
	defer qn.Stop(30 * time.Second)
	rawCfg := filepath.Join(dir, "query-raw.yaml")
	if err := os.WriteFile(rawCfg, []byte("cluster:\n  query_pushdown: false\n  query_peers: ["+strings.Join(urls, ", ")+"]\n"), 0o644); err != nil {
		return err
	}
	raw, err := start("query-raw", "--config", rawCfg)
	if err != nil {
		return err
	}
	defer raw.Stop(30 * time.Second)
	bases := []string{single.BaseURL(), qn.BaseURL(), raw.BaseURL()}

	dataEnd := dataStart.Add(time.Duration(steps) * 10 * time.Second)
	client := &http.Client{Timeout: time.Minute}
	if profilePrefix != "" {
		return profileRun(client, qn, peers[0], hosts, nq, seed, only, dataStart, dataEnd)
	}
	var rows []row
	for _, s := range bench.TSBSQueryShapes {
		if only != "" && !strings.Contains(","+only+",", ","+s.Name+",") {
			continue
		}
		r := row{name: s.Name}
		var lat [3][]time.Duration
		for i, q := range s.Instances(seed, nq, hosts, dataStart, dataEnd) {
			u := "/api/v1/query_range?" + url.Values{
				"query": {s.PromQL(q)}, "start": {secs(q.Start.Add(s.Step))},
				"end": {secs(q.End)}, "step": {strconv.FormatInt(int64(s.Step/time.Second), 10)},
			}.Encode()
			var ans [3]string
			for k := range 3 {
				side := (i + k) % 3 // rotate who goes first
				d, a, err := get(client, bases[side]+u)
				if err != nil {
					return fmt.Errorf("%s: %w", s.Name, err)
				}
				lat[side] = append(lat[side], d)
				ans[side] = a
			}
			for side := 1; side < 3; side++ {
				if ans[0] != ans[side] {
					r.mismatches++
					if r.firstDiff == "" {
						r.firstDiff = fmt.Sprintf("%s\nsingle  %.300s\nfan-out %.300s", s.PromQL(q), ans[0], ans[side])
					}
				}
			}
		}
		r.single, r.fan, r.raw = bench.Summarize(lat[0]), bench.Summarize(lat[1]), bench.Summarize(lat[2])
		log.Printf("%s: single p50 %.2f ms, fan-out p50 %.2f ms, without pushdown %.2f ms, %d differing answers", s.Name, r.single.P50, r.fan.P50, r.raw.P50, r.mismatches)
		if r.firstDiff != "" {
			log.Printf("first difference: %s", r.firstDiff)
		}
		rows = append(rows, r)
	}
	out := table(rows, hosts, hours, nq)
	fmt.Print(out)
	if md != "" {
		return os.WriteFile(md, []byte(out), 0o644)
	}
	return nil
}

// profilePrefix is --profile.
var profilePrefix string

// profileRun loops over the chosen types on the query node while taking
// CPU profiles of it and of peer 0.
func profileRun(c *http.Client, qn, peer *bench.Target, hosts, nq int, seed uint64, only string, dataStart, dataEnd time.Time) error {
	done := make(chan error, 2)
	for name, t := range map[string]*bench.Target{"query": qn, "peer0": peer} {
		go func() {
			resp, err := c.Get(t.BaseURL() + "/debug/pprof/profile?seconds=5")
			if err != nil {
				done <- err
				return
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			if err == nil {
				err = os.WriteFile(profilePrefix+"-"+name+".pprof", b, 0o644)
			}
			done <- err
		}()
	}
	stop := time.Now().Add(5 * time.Second)
	for n := 0; time.Now().Before(stop); n++ {
		for _, s := range bench.TSBSQueryShapes {
			if only != "" && !strings.Contains(","+only+",", ","+s.Name+",") {
				continue
			}
			for _, q := range s.Instances(seed+uint64(n), nq, hosts, dataStart, dataEnd) {
				u := qn.BaseURL() + "/api/v1/query_range?" + url.Values{
					"query": {s.PromQL(q)}, "start": {secs(q.Start.Add(s.Step))},
					"end": {secs(q.End)}, "step": {strconv.FormatInt(int64(s.Step/time.Second), 10)},
				}.Encode()
				if _, _, err := get(c, u); err != nil {
					return err
				}
			}
		}
	}
	return errors.Join(<-done, <-done)
}

type row struct {
	name        string
	single, fan bench.Latency
	raw         bench.Latency // query_pushdown: false
	mismatches  int
	firstDiff   string
}

func table(rows []row, hosts, hours, nq int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Run %s: %d hosts, %d h at 10 s, %d instances of each type, interleaved.\n\n",
		time.Now().UTC().Format(time.RFC3339), hosts, hours, nq)
	b.WriteString("| type | single p50 ms | p99 ms | fan-out p50 ms | p99 ms | **p50 ratio** | p99 ratio | no pushdown p50 ms | p50 ratio | answers differing |\n|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	var logSum, logRaw float64
	for _, r := range rows {
		ratio, rawRatio := r.fan.P50/r.single.P50, r.raw.P50/r.single.P50
		logSum += math.Log(ratio)
		logRaw += math.Log(rawRatio)
		fmt.Fprintf(&b, "| %s | %.2f | %.2f | %.2f | %.2f | **%.2f** | %.2f | %.2f | %.2f | %d |\n", r.name, r.single.P50, r.single.P99,
			r.fan.P50, r.fan.P99, ratio, r.fan.P99/r.single.P99, r.raw.P50, rawRatio, r.mismatches)
	}
	if len(rows) > 0 {
		fmt.Fprintf(&b, "\nGeometric mean of the p50 ratios: **%.2f** (without pushdown %.2f).\n", math.Exp(logSum/float64(len(rows))), math.Exp(logRaw/float64(len(rows))))
	}
	return b.String()
}

// load sends the data to the single server whole and to peer N mod 3 by
// host, in bodies of 5,000 lines.
func load(single *bench.Target, peers [3]*bench.Target, g bench.Generator) error {
	var bodies [4][]byte
	var lines [4]int
	flush := func(i int, t *bench.Target) error {
		if lines[i] == 0 {
			return nil
		}
		resp, err := http.Post(t.BaseURL()+t.LPv1Path, "text/plain", bytes.NewReader(bodies[i]))
		if err != nil {
			return err
		}
		msg, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent {
			return fmt.Errorf("write to %s: %s: %s", t.Name, resp.Status, msg)
		}
		bodies[i], lines[i] = bodies[i][:0], 0
		return nil
	}
	targets := [4]*bench.Target{peers[0], peers[1], peers[2], single}
	var p bench.Point
	for g.Next(&p) {
		h := 0
		for _, t := range p.Tags {
			if t.Key == "hostname" {
				h, _ = strconv.Atoi(strings.TrimPrefix(t.Value, "host_"))
			}
		}
		for _, i := range []int{h % 3, 3} {
			bodies[i] = bench.AppendLine(bodies[i], &p)
			lines[i]++
			if lines[i] == 5000 {
				if err := flush(i, targets[i]); err != nil {
					return err
				}
			}
		}
	}
	for i, t := range targets {
		if err := flush(i, t); err != nil {
			return err
		}
	}
	return nil
}

func secs(t time.Time) string { return strconv.FormatFloat(float64(t.UnixMilli())/1000, 'f', 3, 64) }

// get runs a query and returns its latency and its answer normalized
// (series sorted, values as text), or an error for a non-200.
func get(c *http.Client, u string) (time.Duration, string, error) {
	t0 := time.Now()
	resp, err := c.Get(u)
	if err != nil {
		return 0, "", err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	d := time.Since(t0)
	if err != nil {
		return 0, "", err
	}
	if resp.StatusCode != 200 {
		return 0, "", fmt.Errorf("%s: %.300s", resp.Status, body)
	}
	var a struct {
		Warnings []string `json:"warnings"`
		Data     struct {
			Result []json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &a); err != nil {
		return 0, "", err
	}
	if len(a.Warnings) > 0 {
		return 0, "", fmt.Errorf("warnings: %v", a.Warnings)
	}
	rs := make([]string, len(a.Data.Result))
	for i, r := range a.Data.Result {
		rs[i] = string(r)
	}
	sort.Strings(rs)
	return d, strings.Join(rs, "\n"), nil
}
