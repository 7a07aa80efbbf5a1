// Command lightning-ab compares the ingest cost of two lightning-db
// binaries on a busy machine: both servers run at once (pinned to the same
// CPUs), each workload's data is cut into chunks, and every chunk goes to
// one server and then the other (the order alternating chunk by chunk), so
// both meet the same machine load. It reports each server's CPU seconds
// per million samples (read from /proc after each chunk and after a final
// settle) and the ratio B/A per chunk and overall.
//
//	taskset -c 0 go run ./bench/cmd/lightning-ab --a /tmp/ldb-before --b /tmp/ldb-after \
//	  --workloads lp-v1,rw1-500x10,rw2-500x10,iot-lp,mqtt --chunks 16
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/lightningdb/lightningdb/bench"
)

type side struct {
	name string
	t    *bench.Target
	cpu  float64 // CPU seconds from the first chunk to the end of the settle
	wall time.Duration
	n    int64
}

type chunkResult struct {
	Workload string  `json:"workload"`
	Round    int     `json:"round"`
	Chunk    int     `json:"chunk"`
	First    string  `json:"first"`
	Samples  int64   `json:"samples"`
	CPUA     float64 `json:"cpu_a"`
	CPUB     float64 `json:"cpu_b"`
	WallA    float64 `json:"wall_a"`
	WallB    float64 `json:"wall_b"`
}

type total struct {
	Workload string  `json:"workload"`
	Round    int     `json:"round"`
	Samples  int64   `json:"samples"`
	CPUA     float64 `json:"cpu_a"` // including the settle after the last chunk
	CPUB     float64 `json:"cpu_b"`
	WallA    float64 `json:"wall_a"`
	WallB    float64 `json:"wall_b"`
}

func main() {
	a := flag.String("a", "", "lightning-db binary A (before)")
	b := flag.String("b", "", "lightning-db binary B (after)")
	wls := flag.String("workloads", "lp-v1,rw1-500x10,rw2-500x10,iot-lp,mqtt", "workloads")
	chunks := flag.Int("chunks", 16, "chunks per workload")
	rounds := flag.Int("rounds", 1, "rounds (fresh servers each)")
	cpus := flag.String("server-cpus", "1", "taskset CPU list of both servers")
	start := flag.String("start", "2026-12-06T11:00:00Z", "first timestamp")
	settle := flag.Duration("settle", 3*time.Second, "idle wait after the last chunk before the final CPU reading")
	out := flag.String("json", "", "write the per-chunk and total results here")
	profDir := flag.String("pprof-dir", "", "start both servers with --pprof and save 5 s CPU profiles of each, back to back over each workload, here (PREFIX-<workload>-<round>-<a|b>-<n>.pprof)")
	extra := flag.String("server-flags", "", "extra flags for both servers, space-separated (e.g. \"--config flush.yaml\")")
	scale := flag.String("scale", "full", "full, small or smoke (lightning-bench's sizes)")
	flag.Parse()
	st, err := time.Parse(time.RFC3339, *start)
	if err != nil {
		fail(err)
	}
	cfg := &bench.Config{Seed: 1, Start: st, Scale: bench.DefaultScale, Log: slog.New(slog.NewTextHandler(os.Stderr, nil))}
	switch *scale {
	case "small":
		cfg.Scale = bench.SmallScale
	case "smoke":
		cfg.Scale = bench.SmokeScale
	}
	dir, err := os.MkdirTemp("", "lightning-ab-")
	if err != nil {
		fail(err)
	}
	defer os.RemoveAll(dir)
	var chunkRes []chunkResult
	var totals []total
	names := strings.Split(*wls, ",")
	for round := 1; round <= *rounds; round++ {
		for _, w := range bench.Workloads {
			if !slices.Contains(names, w.Name) {
				continue
			}
			cr, tot := runWorkload(cfg, w, dir, *a, *b, *cpus, *chunks, round, *settle, *profDir, strings.Fields(*extra))
			chunkRes = append(chunkRes, cr...)
			totals = append(totals, tot)
			fmt.Printf("round %d %-11s samples %d  A %.3f s/M  B %.3f s/M  B/A %.3f  wall A %.2f s B %.2f s\n", round, w.Name, tot.Samples,
				tot.CPUA/float64(tot.Samples)*1e6, tot.CPUB/float64(tot.Samples)*1e6, tot.CPUB/tot.CPUA, tot.WallA, tot.WallB)
		}
	}
	if *out != "" {
		data, _ := json.MarshalIndent(map[string]any{"a": *a, "b": *b, "chunks": chunkRes, "totals": totals}, "", " ")
		if err := os.WriteFile(*out, data, 0o644); err != nil {
			fail(err)
		}
	}
}

func runWorkload(cfg *bench.Config, w bench.Workload, dir, binA, binB, cpus string, chunks, round int, settle time.Duration, profDir string, extra []string) ([]chunkResult, total) {
	ctx := context.Background()
	var (
		bodies   []bench.Body
		topics   [][]string
		payloads [][][]byte
		msgN     [][]int
		err      error
	)
	if w.MQTT() {
		g := bench.NewIoT(bench.IoTOptions{Seed: cfg.Seed, Devices: cfg.Scale.MQTTDevs, Start: cfg.Start, Steps: cfg.Scale.MQTTSteps})
		topics, payloads, msgN = bench.BuildMQTT(g, cfg.Scale.MQTTConns)
	} else if bodies, err = w.Build(cfg); err != nil {
		fail(err)
	}
	sides := [2]*side{{name: "a"}, {name: "b"}}
	for i, bin := range []string{binA, binB} {
		t, err := bench.NewTarget(fmt.Sprintf("lightningdb@%s", sides[i].name), bin, dir, cpus)
		if err != nil {
			fail(err)
		}
		t.ExtraArgs = extra
		if profDir != "" {
			t.ExtraArgs = append(slices.Clip(extra), "--pprof")
		}
		if err := t.Fresh(); err != nil {
			fail(err)
		}
		if err := t.Start(ctx, 2*time.Minute); err != nil {
			fail(err)
		}
		sides[i].t = t
	}
	defer func() {
		for _, s := range sides {
			_ = s.t.Stop(time.Minute)
		}
	}()
	var startCPU [2]float64
	for i, s := range sides {
		startCPU[i], _ = bench.ProcCPUSeconds(s.t.PID())
	}
	profDone := make(chan struct{})
	var profWG sync.WaitGroup
	if profDir != "" {
		for _, s := range sides {
			profWG.Add(1)
			go func() {
				defer profWG.Done()
				profile(s.t.BaseURL(), filepath.Join(profDir, fmt.Sprintf("%s-%d-%s", w.Name, round, s.name)), profDone)
			}()
		}
	}
	var res []chunkResult
	for c := range chunks {
		order := []int{0, 1}
		if (c+round)%2 == 1 {
			order = []int{1, 0}
		}
		cr := chunkResult{Workload: w.Name, Round: round, Chunk: c, First: sides[order[0]].name}
		for _, i := range order {
			s := sides[i]
			pid := s.t.PID()
			cpu0, _ := bench.ProcCPUSeconds(pid)
			t0 := time.Now()
			var in bench.IngestResult
			if w.MQTT() {
				tp, pl, mn := slice3(topics, payloads, msgN, c, chunks)
				in = bench.PublishMQTT(ctx, s.t.MQTTAddr(), tp, pl, mn, bench.MQTTOptions{Clients: cfg.Scale.MQTTConns, QoS: cfg.Scale.MQTTQoS})
			} else {
				lo, hi := len(bodies)*c/chunks, len(bodies)*(c+1)/chunks
				in = bench.Ingest(ctx, s.t.BaseURL()+path(w.Proto), w.Proto, bodies[lo:hi], bench.IngestOptions{Conns: cfg.Scale.Conns})
			}
			wall := time.Since(t0)
			cpu1, _ := bench.ProcCPUSeconds(pid)
			if in.Errors > 0 || in.Rejected > 0 {
				fail(fmt.Errorf("%s %s chunk %d: %d errors, %d rejected: %s", s.name, w.Name, c, in.Errors, in.Rejected, in.FirstError))
			}
			s.cpu += cpu1 - cpu0
			s.wall += wall
			s.n += in.Samples
			if i == 0 {
				cr.CPUA, cr.WallA, cr.Samples = cpu1-cpu0, wall.Seconds(), in.Samples
			} else {
				cr.CPUB, cr.WallB = cpu1-cpu0, wall.Seconds()
			}
		}
		res = append(res, cr)
	}
	// A server's total is all it spent from the first chunk to the end of
	// the settle: background work (flushes) while the other server took a
	// chunk, or after the last one, counts too.
	time.Sleep(settle)
	close(profDone)
	profWG.Wait()
	for i, s := range sides {
		end, _ := bench.ProcCPUSeconds(s.t.PID())
		s.cpu = end - startCPU[i]
	}
	if sides[0].n != sides[1].n {
		fail(fmt.Errorf("%s: A took %d samples, B %d", w.Name, sides[0].n, sides[1].n))
	}
	return res, total{Workload: w.Name, Round: round, Samples: sides[0].n, CPUA: sides[0].cpu, CPUB: sides[1].cpu,
		WallA: sides[0].wall.Seconds(), WallB: sides[1].wall.Seconds()}
}

// profile saves back-to-back 5 s CPU profiles of the server at base as
// prefix-<n>.pprof until done is closed (the last one ends after it).
func profile(base, prefix string, done <-chan struct{}) {
	for n := 0; ; n++ {
		select {
		case <-done:
			return
		default:
		}
		resp, err := http.Get(base + "/debug/pprof/profile?seconds=5")
		if err != nil {
			fmt.Fprintln(os.Stderr, "lightning-ab: profile:", err)
			return
		}
		data, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			fmt.Fprintln(os.Stderr, "lightning-ab: profile:", resp.Status, err)
			return
		}
		if err := os.WriteFile(fmt.Sprintf("%s-%d.pprof", prefix, n), data, 0o644); err != nil {
			fail(err)
		}
	}
}

// slice3 returns chunk c of chunks of every client's messages.
func slice3(topics [][]string, payloads [][][]byte, n [][]int, c, chunks int) ([][]string, [][][]byte, [][]int) {
	t, p, m := make([][]string, len(topics)), make([][][]byte, len(topics)), make([][]int, len(topics))
	for i := range topics {
		lo, hi := len(topics[i])*c/chunks, len(topics[i])*(c+1)/chunks
		t[i], p[i], m[i] = topics[i][lo:hi], payloads[i][lo:hi], n[i][lo:hi]
	}
	return t, p, m
}

func path(p bench.Proto) string {
	switch p {
	case bench.LPv1:
		return "/write?db=" + bench.DB
	case bench.LPv2:
		return "/api/v2/write?org=" + bench.DB + "&bucket=" + bench.DB
	}
	return "/api/v1/write"
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "lightning-ab:", err)
	os.Exit(1)
}
