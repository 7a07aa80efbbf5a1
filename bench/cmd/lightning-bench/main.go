// Command lightning-bench measures Lightning DB against VictoriaMetrics,
// InfluxDB and Prometheus over the real protocols, side by side on one
// machine, and prints the results as markdown tables and JSON. See
// bench/README.md.
package main

import (
	"context"
	"debug/buildinfo"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/lightningdb/lightningdb/bench"
)

const pinnedEnv = "LIGHTNING_BENCH_PINNED"

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "lightning-bench:", err)
		os.Exit(1)
	}
}

type flags struct {
	smoke                 bool
	targets, workloads    string
	seed                  uint64
	start                 string
	serverCPUs, loadCPUs  string
	workDir, repo, ldbBin string
	keep                  bool
	jsonOut, mdOut        string
	maxPhase, settleMax   time.Duration
	queries, hosts, steps int
	iotDevs, iotSteps     int
	verbose               bool
	scale                 string
	conns, lines, clients int
	qos                   int
	rate                  float64
	ldbFlags              string
	soak                  soakFlags
	queryMix              string
	queryInterleave       bool
	vmBins                string
	churn                 churnFlags
}

func parseFlags() (*flags, error) {
	f := &flags{}
	fs := flag.NewFlagSet("lightning-bench", flag.ContinueOnError)
	fs.BoolVar(&f.smoke, "smoke", false, "a few seconds on tiny data, Lightning DB only unless --targets says otherwise (what CI runs)")
	fs.StringVar(&f.targets, "targets", "", "comma-separated: lightningdb,victoriametrics,influxdb,prometheus (default: all; --smoke: lightningdb)")
	fs.StringVar(&f.workloads, "workloads", "", "comma-separated workload names (default: all): "+workloadNames())
	fs.Uint64Var(&f.seed, "seed", 1, "seed of every generator")
	fs.StringVar(&f.start, "start", "", "first timestamp, RFC 3339 (default: the whole data set ends 1 h before the current hour)")
	fs.StringVar(&f.serverCPUs, "server-cpus", "1", "taskset CPU list for the servers (empty: no pinning)")
	fs.StringVar(&f.loadCPUs, "load-cpus", "0", "taskset CPU list for this load generator (empty: no pinning)")
	fs.StringVar(&f.workDir, "work-dir", "", "scratch directory for data dirs and logs (default: a new temp dir)")
	fs.BoolVar(&f.keep, "keep", false, "keep the scratch directory (data and server logs)")
	fs.StringVar(&f.repo, "repo", ".", "module root to build ./cmd/lightning-db from")
	fs.StringVar(&f.ldbBin, "lightning-bin", "", "use this lightning-db binary instead of building one")
	fs.StringVar(&f.jsonOut, "json", "", "write the JSON report here (default: none)")
	fs.StringVar(&f.mdOut, "markdown", "", "also write the markdown tables here")
	fs.DurationVar(&f.maxPhase, "max-phase", 0, "bound on each ingestion run and each query shape (default 10m; smoke 30s)")
	fs.DurationVar(&f.settleMax, "settle-max", 0, "bound on waiting for a data dir to stop changing before measuring it (default 2m; smoke 5s)")
	fs.IntVar(&f.queries, "queries", 0, "queries per shape (default 100; smoke 2)")
	fs.IntVar(&f.hosts, "hosts", 0, "devops hosts (default 100)")
	fs.IntVar(&f.steps, "steps", 0, "devops steps per host (default 8640: 24 h at 10 s)")
	fs.IntVar(&f.iotDevs, "iot-devices", 0, "iot-lp devices (default 10000; small 1000)")
	fs.IntVar(&f.iotSteps, "iot-steps", 0, "iot-lp reports per device, one a minute (default 288)")
	fs.BoolVar(&f.verbose, "v", false, "debug logging")
	fs.StringVar(&f.ldbFlags, "lightning-flags", "", "extra flags for lightning-db, space-separated (e.g. \"--sync-mode interval\"; default: its defaults, fsync per write)")
	fs.IntVar(&f.conns, "conns", 0, "HTTP connections per ingestion workload (default 2)")
	fs.IntVar(&f.lines, "batch-lines", 0, "line-protocol lines per request (default 5000)")
	fs.Float64Var(&f.rate, "rate", 0, "cap on samples/s offered by HTTP ingestion (default: as fast as the target answers)")
	fs.IntVar(&f.clients, "mqtt-clients", 0, "MQTT publishing clients (default 100)")
	fs.IntVar(&f.qos, "mqtt-qos", -1, "MQTT publish QoS, 0 or 1 (default 1)")
	fs.BoolVar(&f.queryInterleave, "query-interleave", false, "run the query mix after every target has loaded its data, all servers up, each query sent to every target in turn (fair under a varying machine load)")
	fs.StringVar(&f.queryMix, "query-mix", bench.MixLabelReplace, "query shapes: label-replace (6 shapes, fields kept apart with label_replace), tsbs (TSBS's 11 cpu types as it writes them for VictoriaMetrics; Lightning DB runs with --metricsql-names), all, or tsbs-influxql (TSBS's 15 cpu types as it writes them for InfluxDB, in InfluxQL on /query for every target)")
	fs.StringVar(&f.vmBins, "victoriametrics-bin", "", "comma-separated VictoriaMetrics binaries to run as peers, each named victoriametrics@<version> (default: victoria-metrics from PATH, named victoriametrics); e.g. /usr/bin/victoria-metrics,/root/go/bin/victoria-metrics")
	fs.StringVar(&f.scale, "scale", "full", "workload sizes: full (8.64 M samples per ingestion workload) or small (a tenth)")
	f.soak.register(fs)
	f.churn.register(fs)
	return f, fs.Parse(os.Args[1:])
}

func workloadNames() string {
	var n []string
	for _, w := range bench.Workloads {
		n = append(n, w.Name)
	}
	return strings.Join(n, ",")
}

func run() error {
	f, err := parseFlags()
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	if bench.ThisMachine().NProc < 2 { // all CPUs, not this (maybe pinned) process's
		f.serverCPUs, f.loadCPUs = "", ""
	}
	if err := pinSelf(f.loadCPUs); err != nil {
		return err
	}
	level := slog.LevelInfo
	if f.verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	cfg, targets, err := config(f, log)
	if err != nil {
		return err
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()

	work := f.workDir
	if work == "" {
		if work, err = os.MkdirTemp("", "lightning-bench-"); err != nil {
			return err
		}
	}
	if !f.keep {
		defer os.RemoveAll(work)
	} else {
		log.Info("scratch kept", "dir", work)
	}
	if f.soak.duration > 0 {
		return runSoak(ctx, f, work, log)
	}
	if f.churn.on {
		return runChurnRSS(ctx, f, work, log)
	}
	report := &bench.Report{
		Command: "go run ./bench/cmd/lightning-bench " + strings.Join(os.Args[1:], " "),
		Date:    time.Now(), Machine: bench.ThisMachine(), Seed: cfg.Seed, Start: cfg.Start, Scale: cfg.Scale,
		Pinning: fmt.Sprintf("servers on CPUs %q, load generator on CPUs %q (taskset; empty: not pinned)", f.serverCPUs, f.loadCPUs),
	}
	var run []*bench.Target // every target started, for the interleaved query mix
	for _, tb := range expandVM(ctx, targets, f.vmBins) {
		name := tb.name
		bin, note := tb.bin, ""
		if bin == "" {
			bin, note = binary(ctx, f, name, work, log)
		}
		if bin == "" {
			report.Results = append(report.Results, bench.Result{Target: name, Workload: "all", Status: "skipped: " + note})
			continue
		}
		report.Binaries = append(report.Binaries, name+"="+bin+note)
		t, err := bench.NewTarget(name, bin, work, f.serverCPUs)
		if err != nil {
			return err
		}
		if name == bench.LightningDB {
			t.ExtraArgs = strings.Fields(f.ldbFlags)
			t.MetricsQLNames = cfg.QueryMix == bench.MixTSBS || cfg.QueryMix == bench.MixAll
		}
		report.Results = append(report.Results, bench.RunTarget(ctx, cfg, t)...)
		run = append(run, t)
	}
	if cfg.QueryInterleave {
		report.Results = append(report.Results, bench.RunQueriesInterleaved(ctx, cfg, run)...)
	}
	report.WriteMarkdown(os.Stdout)
	if f.mdOut != "" {
		mf, err := os.Create(f.mdOut)
		if err != nil {
			return err
		}
		report.WriteMarkdown(mf)
		if err := mf.Close(); err != nil {
			return err
		}
	}
	if f.jsonOut != "" {
		jf, err := os.Create(f.jsonOut)
		if err != nil {
			return err
		}
		if err := errors.Join(report.WriteJSON(jf), jf.Close()); err != nil {
			return err
		}
	}
	if ctx.Err() != nil {
		return errors.New("interrupted")
	}
	return checkLightningDB(report)
}

// checkLightningDB fails the run when a Lightning DB workload errored
// (unsupported endpoints are not failures: they are still being built).
func checkLightningDB(r *bench.Report) error {
	var errs []error
	for _, x := range r.Results {
		if x.Target == bench.LightningDB && (strings.HasPrefix(x.Status, "error") || strings.HasPrefix(x.Status, "skipped")) {
			errs = append(errs, fmt.Errorf("%s: %s", x.Workload, x.Status))
		}
		if x.Target == bench.LightningDB && x.FirstError != "" && x.Workload == "queries" {
			errs = append(errs, fmt.Errorf("queries: %s", x.FirstError))
		}
	}
	return errors.Join(errs...)
}

func config(f *flags, log *slog.Logger) (*bench.Config, []string, error) {
	cfg := &bench.Config{Seed: f.seed, Scale: bench.DefaultScale, MaxPhase: 10 * time.Minute, SettleMax: 2 * time.Minute, Log: log}
	targets := []string{bench.LightningDB, bench.VictoriaMetrics, bench.InfluxDB, bench.Prometheus}
	switch f.scale {
	case "full":
	case "small":
		cfg.Scale = bench.SmallScale
	default:
		return nil, nil, fmt.Errorf("--scale %q: want full or small", f.scale)
	}
	if f.smoke {
		cfg.Scale, cfg.MaxPhase, cfg.SettleMax = bench.SmokeScale, 30*time.Second, 5*time.Second
		targets = []string{bench.LightningDB}
	}
	if f.targets != "" {
		targets = strings.Split(f.targets, ",")
	}
	if f.workloads != "" {
		for _, w := range strings.Split(f.workloads, ",") {
			if _, ok := bench.WorkloadByName(w); !ok {
				return nil, nil, fmt.Errorf("unknown workload %q (have %s)", w, workloadNames())
			}
			cfg.Workloads = append(cfg.Workloads, w)
		}
	}
	if _, err := bench.QueryMixShapes(f.queryMix); err != nil {
		return nil, nil, fmt.Errorf("--query-mix: %w", err)
	}
	cfg.QueryMix = f.queryMix
	cfg.QueryInterleave = f.queryInterleave
	if f.maxPhase > 0 {
		cfg.MaxPhase = f.maxPhase
	}
	if f.settleMax > 0 {
		cfg.SettleMax = f.settleMax
	}
	if f.queries > 0 {
		cfg.Scale.Queries = f.queries
	}
	if f.conns > 0 {
		cfg.Scale.Conns = f.conns
	}
	if f.lines > 0 {
		cfg.Scale.LPLines = f.lines
	}
	if f.clients > 0 {
		cfg.Scale.MQTTConns = f.clients
	}
	if f.qos == 0 || f.qos == 1 {
		cfg.Scale.MQTTQoS = byte(f.qos)
	}
	cfg.Scale.Rate = f.rate
	if f.hosts > 0 {
		cfg.Scale.Hosts = f.hosts
	}
	if f.steps > 0 {
		cfg.Scale.Steps = f.steps
	}
	if f.iotDevs > 0 {
		cfg.Scale.IoTDevs = f.iotDevs
	}
	if f.iotSteps > 0 {
		cfg.Scale.IoTSteps = f.iotSteps
	}
	span := time.Duration(cfg.Scale.Steps) * cfg.Scale.Interval
	cfg.Start = time.Now().Truncate(time.Hour).Add(-time.Hour - span)
	if f.start != "" {
		t, err := time.Parse(time.RFC3339, f.start)
		if err != nil {
			return nil, nil, fmt.Errorf("--start: %w", err)
		}
		cfg.Start = t
	}
	return cfg, targets, nil
}

// binary finds or builds the server binary of target name; "" and a reason
// when it is not available.
func binary(ctx context.Context, f *flags, name, work string, log *slog.Logger) (string, string) {
	var bin string
	switch name {
	case bench.LightningDB:
		if f.ldbBin != "" {
			return f.ldbBin, ""
		}
		out := filepath.Join(work, "lightning-db")
		log.Info("building", "pkg", "./cmd/lightning-db")
		if err := bench.BuildLightningDB(ctx, f.repo, out, os.Stderr); err != nil {
			return "", err.Error()
		}
		rev, _ := exec.CommandContext(ctx, "git", "-C", f.repo, "describe", "--always", "--dirty").Output()
		return out, fmt.Sprintf(" (built from %s at %s)", f.repo, strings.TrimSpace(string(rev)))
	case bench.VictoriaMetrics:
		bin = "victoria-metrics"
	case bench.InfluxDB:
		bin = "influxd"
	case bench.Prometheus:
		bin = "prometheus"
	default:
		return "", "unknown target"
	}
	p, err := exec.LookPath(bin)
	if err != nil {
		return "", bin + " not installed (apt-get install victoria-metrics influxdb prometheus)"
	}
	return p, ""
}

// targetBin is one target to run: its name and binary ("" = look it up).
type targetBin struct{ name, bin string }

// expandVM returns targets with victoriametrics replaced by one target per
// binary of vmBins (comma-separated), named victoriametrics@<version>;
// with vmBins empty, targets as they are.
func expandVM(ctx context.Context, targets []string, vmBins string) []targetBin {
	var out []targetBin
	for _, name := range targets {
		if name != bench.VictoriaMetrics || vmBins == "" {
			out = append(out, targetBin{name: name})
			continue
		}
		for _, bin := range splitComma(vmBins) {
			out = append(out, targetBin{name: name + "@" + vmVersion(ctx, bin), bin: bin})
		}
	}
	return out
}

// vmVersion returns the release tag VictoriaMetrics' -version prints
// (victoria-metrics-20240101-000000-tags-v1.151.0-0-gabc), else the module
// version a `go install` build records (-version prints nothing there),
// else the binary's path.
func vmVersion(ctx context.Context, bin string) string {
	out, _ := exec.CommandContext(ctx, bin, "-version").CombinedOutput()
	if m := regexp.MustCompile(`v\d+\.\d+\.\d+`).Find(out); m != nil {
		return string(m)
	}
	if bi, err := buildinfo.ReadFile(bin); err == nil && strings.HasPrefix(bi.Main.Version, "v") {
		return bi.Main.Version
	}
	return bin
}

func splitComma(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// pinSelf re-executes this process under taskset -c cpus once, so the load
// generator (and GOMAXPROCS, which follows the affinity) stays on its CPUs.
func pinSelf(cpus string) error {
	if cpus == "" || os.Getenv(pinnedEnv) != "" {
		return nil
	}
	ts, err := exec.LookPath("taskset")
	if err != nil {
		fmt.Fprintln(os.Stderr, "lightning-bench: taskset not found, load generator not pinned")
		return nil
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	args := append([]string{"taskset", "-c", cpus, self}, os.Args[1:]...)
	return syscall.Exec(ts, args, append(os.Environ(), pinnedEnv+"=1"))
}
