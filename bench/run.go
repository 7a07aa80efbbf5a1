package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os/exec"
	"time"
)

// Scale sizes the workloads. DefaultScale is the full run; SmokeScale is
// the CI smoke run (seconds, tiny data).
type Scale struct {
	Hosts     int           // devops hosts (query data set, lp, rw 500x10)
	Steps     int           // devops points per host
	Interval  time.Duration // devops interval
	LPLines   int           // lines per line-protocol request
	Conns     int           // HTTP connections
	IoTDevs   int
	IoTSteps  int
	ChurnHost int
	ChurnCont int
	ChurnStep int
	MQTTDevs  int
	MQTTSteps int
	MQTTConns int
	Queries   int // queries per shape
	// Rate caps the samples/s offered by HTTP ingestion (0: as fast as the
	// target answers). MQTTQoS is the MQTT publish QoS (0 or 1).
	Rate    float64
	MQTTQoS byte
}

// DefaultScale is the full run: 8.64 M samples per ingestion workload.
var DefaultScale = Scale{
	Hosts: 100, Steps: 8640, Interval: 10 * time.Second, LPLines: 5000, Conns: 2,
	IoTDevs: 10000, IoTSteps: 288, ChurnHost: 100, ChurnCont: 20, ChurnStep: 2160,
	MQTTDevs: 1000, MQTTSteps: 100, MQTTConns: 100, Queries: 100, MQTTQoS: 1,
}

// SmallScale is a tenth of DefaultScale: a run of a few minutes that
// still exercises every path with real volumes.
var SmallScale = Scale{
	Hosts: 100, Steps: 864, Interval: 10 * time.Second, LPLines: 5000, Conns: 2,
	IoTDevs: 1000, IoTSteps: 288, ChurnHost: 100, ChurnCont: 20, ChurnStep: 216,
	MQTTDevs: 1000, MQTTSteps: 10, MQTTConns: 100, Queries: 20, MQTTQoS: 1,
}

// SmokeScale is a few seconds on tiny data. Its 15 min interval makes the
// 60 steps span 15 h, so the 12 h query windows fit in the data.
var SmokeScale = Scale{
	Hosts: 4, Steps: 60, Interval: 15 * time.Minute, LPLines: 50, Conns: 2,
	IoTDevs: 40, IoTSteps: 20, ChurnHost: 4, ChurnCont: 3, ChurnStep: 40,
	MQTTDevs: 20, MQTTSteps: 5, MQTTConns: 5, Queries: 2, MQTTQoS: 1,
}

// Config is one invocation.
type Config struct {
	Seed      uint64
	Start     time.Time // first timestamp of every workload
	Scale     Scale
	Workloads []string // names from Workloads; empty = all
	// QueryMix names the query shapes run (QueryMixShapes); empty =
	// label-replace.
	QueryMix string
	// QueryInterleave runs the query mix once every target has loaded its
	// data, all servers up, each query sent to every target in turn
	// (interleave.go), instead of each target's mix right after its load.
	QueryInterleave bool
	// MaxPhase bounds each ingestion run and each query shape.
	MaxPhase time.Duration
	// SettleMax bounds the wait for a target's data dir to stop changing
	// before it is stopped and measured.
	SettleMax time.Duration
	Log       *slog.Logger
}

// Workload is one ingestion workload of the run.
type Workload struct {
	Name  string
	Proto Proto
	Desc  string
	// QueryData marks the devops data set the query mix runs on.
	QueryData bool
	build     func(c *Config) ([]Body, error)
	mqtt      bool
}

func devops(c *Config, hosts, steps, groupHosts, groupSteps int) *Devops {
	return NewDevops(DevopsOptions{Seed: c.Seed, Hosts: hosts, Start: c.Start, Interval: c.Scale.Interval,
		Steps: steps, GroupHosts: groupHosts, GroupSteps: groupSteps})
}

// Workloads lists every workload in run order.
var Workloads = []Workload{
	{Name: "lp-v1", Proto: LPv1, QueryData: true,
		Desc: "devops cpu-only, line protocol v1, batches of LPLines lines over Conns connections",
		build: func(c *Config) ([]Body, error) {
			return BuildLineProtocol(devops(c, c.Scale.Hosts, c.Scale.Steps, 0, 1), c.Scale.LPLines, false)
		}},
	{Name: "lp-v2-gzip", Proto: LPv2,
		Desc: "the same data over /api/v2/write, gzip bodies",
		build: func(c *Config) ([]Body, error) {
			return BuildLineProtocol(devops(c, c.Scale.Hosts, c.Scale.Steps, 0, 1), c.Scale.LPLines, true)
		}},
	{Name: "rw1-2000x1", Proto: RWv1,
		Desc: "remote write 1.0, requests of 2,000 series x 1 sample (devops, 4x hosts, 1/4 steps)",
		build: func(c *Config) ([]Body, error) {
			h := 4 * c.Scale.Hosts
			return BuildRemoteWrite(devops(c, h, c.Scale.Steps/4, h/2, 1), h/2*10, RW1)
		}},
	{Name: "rw1-500x10", Proto: RWv1, QueryData: true,
		Desc: "remote write 1.0, requests of 500 series x 10 samples (the lp-v1 data)",
		build: func(c *Config) ([]Body, error) {
			gh := min(50, c.Scale.Hosts)
			return BuildRemoteWrite(devops(c, c.Scale.Hosts, c.Scale.Steps, gh, 10), gh*10*10, RW1)
		}},
	{Name: "rw2-2000x1", Proto: RWv2,
		Desc: "remote write 2.0, as rw1-2000x1",
		build: func(c *Config) ([]Body, error) {
			h := 4 * c.Scale.Hosts
			return BuildRemoteWrite(devops(c, h, c.Scale.Steps/4, h/2, 1), h/2*10, RW2)
		}},
	{Name: "rw2-500x10", Proto: RWv2,
		Desc: "remote write 2.0, as rw1-500x10",
		build: func(c *Config) ([]Body, error) {
			gh := min(50, c.Scale.Hosts)
			return BuildRemoteWrite(devops(c, c.Scale.Hosts, c.Scale.Steps, gh, 10), gh*10*10, RW2)
		}},
	{Name: "iot-lp", Proto: LPv1,
		Desc: "IoT fleet, 3 fields, 60 s jittered, 5% of devices sending 3 h late batches; line protocol v1",
		build: func(c *Config) ([]Body, error) {
			g := NewIoT(IoTOptions{Seed: c.Seed, Devices: c.Scale.IoTDevs, Start: c.Start, Steps: c.Scale.IoTSteps})
			return BuildLineProtocol(g, c.Scale.LPLines, false)
		}},
	{Name: "churn-lp", Proto: LPv1,
		Desc: "high churn: containers replaced every 5 min (new series); line protocol v1",
		build: func(c *Config) ([]Body, error) {
			g := NewChurn(ChurnOptions{Seed: c.Seed, Hosts: c.Scale.ChurnHost, ContainersPerHost: c.Scale.ChurnCont,
				Start: c.Start, Steps: c.Scale.ChurnStep})
			return BuildLineProtocol(g, c.Scale.LPLines, false)
		}},
	{Name: "mqtt", mqtt: true,
		Desc: "IoT fleet over MQTT, one line-protocol message per report, QoS MQTTQoS, MQTTConns publishers"},
}

// WorkloadByName finds a workload.
func WorkloadByName(name string) (Workload, bool) {
	for _, w := range Workloads {
		if w.Name == name {
			return w, true
		}
	}
	return Workload{}, false
}

// Result is one workload (or the query mix) on one target.
type Result struct {
	Target     string  `json:"target"`
	Workload   string  `json:"workload"`
	Status     string  `json:"status"` // ok | unsupported: ... | error: ...
	Samples    int64   `json:"samples_accepted"`
	Rejected   int64   `json:"samples_rejected"`
	Requests   int     `json:"requests"`
	Errors     int     `json:"errors"`
	Retries    int     `json:"retries"`
	Seconds    float64 `json:"seconds"`
	Rate       float64 `json:"samples_per_second"`
	Latency    Latency `json:"latency"`
	CPUSeconds float64 `json:"server_cpu_seconds"`
	PeakRSS    int64   `json:"server_peak_rss_bytes"`
	// DiskBytes is du of the data dir after flush, settle and graceful stop.
	DiskBytes      int64         `json:"disk_bytes,omitempty"`
	DiskApparent   int64         `json:"disk_apparent_bytes,omitempty"`
	BytesPerSample float64       `json:"bytes_per_sample,omitempty"`
	SettleSeconds  float64       `json:"settle_seconds,omitempty"`
	Note           string        `json:"note,omitempty"`
	FirstError     string        `json:"first_error,omitempty"`
	Queries        []QueryResult `json:"queries,omitempty"`
}

func (r Result) ok() bool { return r.Status == "ok" }

// RunTarget runs the selected workloads on t, each on a fresh server, and
// the query mix after the first QueryData workload the target accepted.
func RunTarget(ctx context.Context, c *Config, t *Target) []Result {
	var out []Result
	queried := false
	for _, w := range selected(c) {
		if ctx.Err() != nil {
			break
		}
		c.Log.Info("workload", "target", t.Name, "workload", w.Name)
		r, qr := runOne(ctx, c, t, w, !queried)
		out = append(out, r)
		if qr != nil {
			out = append(out, *qr)
			queried = true
		}
		queried = queried || t.queryData != ""
		c.Log.Info("done", "target", t.Name, "workload", w.Name, "status", r.Status,
			"samples_per_s", int64(r.Rate), "bytes_per_sample", r.BytesPerSample)
	}
	return out
}

func selected(c *Config) []Workload {
	if len(c.Workloads) == 0 {
		return Workloads
	}
	var out []Workload
	for _, w := range Workloads {
		for _, n := range c.Workloads {
			if n == w.Name {
				out = append(out, w)
			}
		}
	}
	return out
}

func (t *Target) path(p Proto) string {
	switch p {
	case LPv1:
		return t.LPv1Path
	case LPv2:
		return t.LPv2Path
	case RWv1, RWv2:
		return t.RWPath
	}
	return ""
}

// runOne runs workload w on a fresh t; with wantQueries and w.QueryData it
// then restarts t and runs the query mix on the same data.
func runOne(ctx context.Context, c *Config, t *Target, w Workload, wantQueries bool) (Result, *Result) {
	r := Result{Target: t.Name, Workload: w.Name}
	if w.mqtt && !t.HasMQTT {
		r.Status = "unsupported: no embedded MQTT broker"
		return r, nil
	}
	if !w.mqtt && t.path(w.Proto) == "" {
		r.Status = fmt.Sprintf("unsupported: no %s endpoint", w.Proto)
		return r, nil
	}
	var (
		bodies     []Body
		topics     [][]string
		payloads   [][][]byte
		msgSamples [][]int
		err        error
		buildStart = time.Now()
		ingest     IngestResult
		stopped    bool
	)
	if w.mqtt {
		g := NewIoT(IoTOptions{Seed: c.Seed, Devices: c.Scale.MQTTDevs, Start: c.Start, Steps: c.Scale.MQTTSteps})
		topics, payloads, msgSamples = BuildMQTT(g, c.Scale.MQTTConns)
	} else if bodies, err = w.build(c); err != nil {
		r.Status = "error: build: " + err.Error()
		return r, nil
	}
	c.Log.Debug("built", "workload", w.Name, "seconds", time.Since(buildStart).Seconds())

	if err := t.Fresh(); err != nil {
		r.Status = "error: " + err.Error()
		return r, nil
	}
	if err := t.Start(ctx, 2*time.Minute); err != nil {
		r.Status = "error: " + err.Error()
		return r, nil
	}
	defer func() {
		if !stopped {
			_ = t.Stop(time.Minute)
		}
	}()
	pid := t.PID()
	ResetPeakRSS(pid)
	cpu0, _ := ProcCPUSeconds(pid)
	if w.mqtt {
		ingest = PublishMQTT(ctx, t.MQTTAddr(), topics, payloads, msgSamples,
			MQTTOptions{Clients: c.Scale.MQTTConns, QoS: c.Scale.MQTTQoS, MaxDuration: c.MaxPhase})
	} else {
		ingest = Ingest(ctx, t.BaseURL()+t.path(w.Proto), w.Proto, bodies,
			IngestOptions{Conns: c.Scale.Conns, Rate: c.Scale.Rate, MaxDuration: c.MaxPhase, Gzip: w.Proto == LPv2})
	}
	cpu1, _ := ProcCPUSeconds(pid)
	rss, _ := ProcPeakRSS(pid)
	bodies, payloads = nil, nil
	fill(&r, ingest, cpu1-cpu0, rss)
	if r.Status != "ok" {
		return r, nil
	}
	// Bytes on disk: flush, let background work settle, stop gracefully.
	if err := t.Flush(ctx); err != nil {
		r.Note = err.Error()
	}
	r.SettleSeconds = waitSettled(ctx, t.DataDir(), min(t.MinSettle, c.SettleMax), c.SettleMax)
	stopErr := t.Stop(2 * time.Minute)
	stopped = true
	r.DiskBytes, r.DiskApparent, err = DiskUsage(t.DataDir())
	if err != nil || stopErr != nil {
		r.Note = fmt.Sprint("disk: ", err, " stop: ", stopErr)
	}
	if r.Samples > 0 {
		r.BytesPerSample = float64(r.DiskBytes) / float64(r.Samples)
	}
	if !w.QueryData || !wantQueries || t.QueryLang == "" {
		return r, nil
	}
	if c.QueryInterleave {
		keepQueryData(t, w, &r)
		return r, nil
	}
	q := runQueries(ctx, c, t, w)
	return r, &q
}

func fill(r *Result, in IngestResult, cpu float64, rss int64) {
	r.Samples, r.Rejected, r.Requests, r.Errors, r.Retries = in.Samples, in.Rejected, in.Requests, in.Errors, in.Retries
	r.Seconds = in.Elapsed.Seconds()
	if r.Seconds > 0 {
		r.Rate = float64(in.Samples) / r.Seconds
	}
	r.Latency = Summarize(in.Latencies)
	r.CPUSeconds, r.PeakRSS = cpu, rss
	r.FirstError = in.FirstError
	switch {
	case in.Unsupported != "":
		r.Status = in.Unsupported
	case in.Samples == 0:
		r.Status = "error: nothing accepted"
	default:
		r.Status = "ok"
	}
}

// waitSettled polls the size of dir once a second until at least minWait
// has passed and the size is unchanged three times in a row, or maxWait
// passes; it returns the seconds waited.
func waitSettled(ctx context.Context, dir string, minWait, maxWait time.Duration) float64 {
	start := time.Now()
	var last int64 = -1
	same := 0
	for time.Since(start) < maxWait && ctx.Err() == nil {
		n, _, _ := DiskUsage(dir)
		if n == last {
			same++
			if same >= 3 && time.Since(start) >= minWait {
				break
			}
		} else {
			same = 0
		}
		last = n
		time.Sleep(time.Second)
	}
	return time.Since(start).Seconds()
}

// runQueries restarts t on the data w loaded and runs every query shape.
func runQueries(ctx context.Context, c *Config, t *Target, w Workload) Result {
	r := Result{Target: t.Name, Workload: "queries", Note: "data loaded by " + w.Name + ", server restarted"}
	if err := t.Start(ctx, 5*time.Minute); err != nil {
		r.Status = "error: " + err.Error()
		return r
	}
	defer func() { _ = t.Stop(time.Minute) }()
	pid := t.PID()
	ResetPeakRSS(pid)
	cpu0, _ := ProcCPUSeconds(pid)
	dataEnd := c.Start.Add(time.Duration(c.Scale.Steps) * c.Scale.Interval)
	r.Status = "ok"
	start := time.Now()
	shapes, err := QueryMixShapes(c.QueryMix)
	if err != nil {
		r.Status = "error: " + err.Error()
		return r
	}
	for i, s := range shapes {
		qs := s.Instances(c.Seed+uint64(i), c.Scale.Queries, c.Scale.Hosts, c.Start, dataEnd)
		qr := RunQueries(ctx, t.BaseURL(), queryLang(c.QueryMix, t), s, qs, c.MaxPhase)
		r.Queries = append(r.Queries, qr)
		r.Requests += qr.Latency.N
		r.Errors += qr.Errors
		if qr.Unsupported != "" {
			r.Status = qr.Unsupported
			break
		}
		if qr.FirstError != "" && r.FirstError == "" {
			r.FirstError = qr.FirstError
		}
	}
	r.Seconds = time.Since(start).Seconds()
	r.CPUSeconds, _ = ProcCPUSeconds(pid)
	r.CPUSeconds -= cpu0
	r.PeakRSS, _ = ProcPeakRSS(pid)
	if r.Status == "ok" && r.Requests == 0 {
		r.Status = "error: every query failed"
	}
	return r
}

// BuildLightningDB builds the server from the module at repo into out.
func BuildLightningDB(ctx context.Context, repo, out string, log io.Writer) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "./cmd/lightning-db")
	cmd.Dir = repo
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build ./cmd/lightning-db: %w", err)
	}
	return nil
}

// Build returns the request bodies of w under c (nil for the MQTT
// workload, whose messages BuildMQTT makes).
func (w Workload) Build(c *Config) ([]Body, error) {
	if w.build == nil {
		return nil, nil
	}
	return w.build(c)
}

// MQTT reports whether w publishes to the embedded MQTT broker.
func (w Workload) MQTT() bool { return w.mqtt }
