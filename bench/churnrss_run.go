package bench

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// ChurnSample is one reading during a churn-RSS run.
type ChurnSample struct {
	At time.Duration `json:"at_ns"` // since the load started
	// Created counts the series whose first sample the server acknowledged;
	// Samples the samples it acknowledged.
	Created int64 `json:"series_created"`
	Samples int64 `json:"samples"`
	// RSS is VmRSS, Peak VmHWM (since the server started) and HeapInuse
	// the Go heap in use the server exports (both servers are Go).
	RSS       int64   `json:"rss_bytes"`
	Peak      int64   `json:"peak_rss_bytes"`
	HeapInuse int64   `json:"heap_inuse_bytes"`
	CPU       float64 `json:"cpu_seconds"`
	// Series is the series count the server reports (ChurnRun.SeriesMetric).
	Series     int64  `json:"series"`
	Errors     int64  `json:"errors"`
	MetricsErr string `json:"metrics_error,omitempty"`
}

// ChurnRun is one server's churn-RSS run.
type ChurnRun struct {
	Label  string `json:"label"`
	Target string `json:"target"`
	// Command is the lightning-bench invocation that made the run, and
	// Started when the server started.
	Command string    `json:"command,omitempty"`
	Started time.Time `json:"started"`
	Binary  string    `json:"binary"`
	// Config is Lightning DB's YAML configuration or the peer's flags.
	Config string `json:"config"`
	// SeriesMetric names the /metrics series whose value is Series.
	SeriesMetric string        `json:"series_metric"`
	Samples      []ChurnSample `json:"samples"`
	Elapsed      time.Duration `json:"elapsed_ns"`
	// Offered is what the load sent; Acked what the server acknowledged.
	Offered, Acked int64
	Created        int64  `json:"series_created"`
	Errors         int64  `json:"errors"`
	Retries        int64  `json:"retries"`
	FirstError     string `json:"first_error,omitempty"`
	// MaxLag is how far behind its schedule a step was sent at worst (the
	// server answering slower than the offered rate).
	MaxLag       time.Duration `json:"max_lag_ns"`
	ServerExited bool          `json:"server_exited"`
	// ServerLog is the end of the server's log when it exited during the
	// run.
	ServerLog string `json:"server_log,omitempty"`
	// Truncated is set when MaxDuration ended the run early.
	Truncated bool `json:"truncated"`
}

// churnSeriesMetric is, per target, the /metrics series that says how many
// series the server holds in memory: Lightning DB's registry, and
// VictoriaMetrics' metric-name-to-TSID cache (its index is on disk).
var churnSeriesMetric = map[string]string{
	LightningDB:     "lightningdb_engine_series",
	VictoriaMetrics: `vm_cache_entries{type="storage/tsid"}`,
}

// churnConfig is Lightning DB's configuration for the run: the shortest
// retention and partitions it allows, retention checked every second, a
// small memtable flush threshold so expired series' samples leave memory
// early, and no new-series rate limit (VictoriaMetrics has none by
// default).
func churnConfig(o ChurnRSSOptions) string {
	return fmt.Sprintf(`retention:
  default: %s
  check_interval: %s
engine:
  partition_duration: %s
  memtable_flush_bytes: 8388608
  wal_segment_size: 8388608
  max_new_series_per_minute: -1
`, o.Retention, o.CheckInterval, o.Partition)
}

// RunChurnRSS starts t on a fresh data directory with the run's retention
// and drives the churn at the fixed rate until o.Series series exist,
// sampling the server every o.Every. label names the curve.
func RunChurnRSS(ctx context.Context, t *Target, o ChurnRSSOptions, label string) (*ChurnRun, error) {
	o.defaults()
	metric, ok := churnSeriesMetric[t.Name]
	if !ok {
		return nil, fmt.Errorf("churn-rss: target %s not supported (lightningdb, victoriametrics)", t.Name)
	}
	if err := t.Fresh(); err != nil {
		return nil, err
	}
	run := &ChurnRun{Label: label, Target: t.Name, Binary: t.Binary, SeriesMetric: metric, Started: time.Now().UTC()}
	switch t.Name {
	case LightningDB:
		run.Config = churnConfig(o)
		conf := filepath.Join(t.dir, t.Name, "churn.yaml")
		if err := os.WriteFile(conf, []byte(run.Config), 0o644); err != nil {
			return nil, err
		}
		t.ExtraArgs = append(t.ExtraArgs, "--config", conf)
	case VictoriaMetrics:
		t.Retention = o.VMRetention
		run.Config = strings.Join(append([]string{"-retentionPeriod", o.VMRetention}, t.ExtraArgs...), " ") + " (otherwise defaults)"
	}
	if err := t.Start(ctx, time.Minute); err != nil {
		return nil, err
	}
	defer func() { _ = t.Stop(30 * time.Second) }()

	loadCtx, cancel := context.WithTimeout(ctx, o.MaxDuration)
	defer cancel()
	var ld churnLoad
	done := make(chan struct{})
	t0 := time.Now()
	base := takeChurnSample(ctx, &http.Client{Timeout: 10 * time.Second}, t, &ld, metric, 0)
	go func() {
		defer close(done)
		ld.run(loadCtx, t.BaseURL()+t.LPv1Path, o)
	}()
	run.Samples, run.ServerExited = sampleChurn(ctx, t, o, &ld, metric, t0, done)
	run.Samples = append([]ChurnSample{base}, run.Samples...)
	if run.ServerExited {
		run.ServerLog = t.LogCrash(4000)
	}
	cancel()
	<-done
	run.Elapsed = time.Since(t0)
	run.Offered, run.Acked, run.Created = ld.offered.Load(), ld.st.Samples.Load(), ld.created.Load()
	run.Errors, run.Retries, run.FirstError = ld.st.Errors.Load(), ld.st.Retries.Load(), ld.st.FirstError()
	run.MaxLag = time.Duration(ld.maxLag.Load())
	if ctx.Err() != nil {
		return run, ctx.Err()
	}
	return run, nil
}

// churnLoad is the load side of a run; its counters are read by the
// sampler while it runs.
type churnLoad struct {
	st      StreamStats
	offered atomic.Int64
	created atomic.Int64
	maxLag  atomic.Int64
}

// run sends every step when it is due: the step's Live samples as bodies
// of o.BatchLines lines, over o.Conns connections; timestamps are the
// step's scheduled time.
func (ld *churnLoad) run(ctx context.Context, url string, o ChurnRSSOptions) {
	f := churnFleet{live: o.Live, lifetime: o.Lifetime}
	bodies := make(chan Body, o.Conns)
	var wg sync.WaitGroup
	for range o.Conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ld.send(ctx, url, bodies)
		}()
	}
	defer func() { close(bodies); wg.Wait() }()
	steps := f.steps(o.Series)
	start := time.Now()
	var p Point
	for step := range steps {
		due := start.Add(time.Duration(step) * o.Interval)
		if d := time.Until(due); d > 0 {
			select {
			case <-time.After(d):
			case <-ctx.Done():
				return
			}
		}
		if lag := time.Since(due); lag > time.Duration(ld.maxLag.Load()) {
			ld.maxLag.Store(int64(lag))
		}
		for lo := 0; lo < o.Live; lo += o.BatchLines {
			b := f.body(lo, min(lo+o.BatchLines, o.Live), step, due.UnixNano(), &p)
			select {
			case bodies <- b:
				ld.offered.Add(int64(b.Samples))
			case <-ctx.Done():
				return
			}
		}
	}
}

// send posts the bodies it receives, one at a time, on one connection.
func (ld *churnLoad) send(ctx context.Context, url string, bodies <-chan Body) {
	s := &sender{url: url, proto: LPv1, opts: IngestOptions{MaxRetries: 20}, res: &IngestResult{}, stop: func() {},
		client: &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 1, DisableCompression: true}}}
	defer s.client.CloseIdleConnections()
	for b := range bodies {
		if ctx.Err() != nil {
			continue // drain
		}
		s.sendCounted(ctx, &b, &ld.st)
		if s.res.Errors == 0 && s.res.Samples == int64(b.Samples) {
			ld.created.Add(int64(b.Series))
		}
	}
}

// sampleChurn samples the server every o.Every until the load is done
// (one last reading then), ctx ends or the server exits.
func sampleChurn(ctx context.Context, t *Target, o ChurnRSSOptions, ld *churnLoad, metric string, t0 time.Time, done <-chan struct{}) ([]ChurnSample, bool) {
	client := &http.Client{Timeout: 10 * time.Second}
	tick := time.NewTicker(o.Every)
	defer tick.Stop()
	var out []ChurnSample
	for {
		finished := false
		select {
		case <-ctx.Done():
			return out, false
		case <-done:
			finished = true
		case <-tick.C:
		}
		s := takeChurnSample(ctx, client, t, ld, metric, time.Since(t0))
		out = append(out, s)
		if o.Progress != nil && (len(out)%10 == 1 || finished) {
			o.Progress(churnProgressLine(t.Name, s))
		}
		if !t.Running() {
			return out, true
		}
		if finished {
			return out, false
		}
	}
}

// takeChurnSample reads /proc and the server's /metrics.
func takeChurnSample(ctx context.Context, c *http.Client, t *Target, ld *churnLoad, metric string, at time.Duration) ChurnSample {
	s := ChurnSample{At: at, Created: ld.created.Load(), Samples: ld.st.Samples.Load(), Errors: ld.st.Errors.Load(), Series: -1}
	var errs []error
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", t.PID())); err != nil {
		errs = append(errs, err)
	} else {
		var e1, e2 error
		s.RSS, e1 = parseStatusKB(b, "VmRSS:")
		s.Peak, e2 = parseStatusKB(b, "VmHWM:")
		errs = append(errs, e1, e2)
	}
	var err error
	s.CPU, err = ProcCPUSeconds(t.PID())
	errs = append(errs, err)
	status, body, err := get(ctx, c, t.BaseURL()+"/metrics")
	if err == nil && status != 200 {
		err = fmt.Errorf("/metrics: %d", status)
	}
	if err == nil {
		m := ParseMetricsSeries(body)
		s.HeapInuse = int64(m["go_memstats_heap_inuse_bytes"])
		if v, ok := m[metric]; ok {
			s.Series = int64(v)
		} else {
			err = fmt.Errorf("/metrics: no %s", metric)
		}
	}
	errs = append(errs, err)
	if e := errors.Join(errs...); e != nil {
		s.MetricsErr = e.Error()
	}
	return s
}

func churnProgressLine(target string, s ChurnSample) string {
	line := fmt.Sprintf("churn-rss %-15s %7s  created %8d  series %8d  rss %7.1f MB  peak %7.1f MB  heap %7.1f MB  cpu %6.1f s  errors %d",
		target, s.At.Round(time.Second), s.Created, s.Series, mb(s.RSS), mb(s.Peak), mb(s.HeapInuse), s.CPU, s.Errors)
	if s.MetricsErr != "" {
		line += "  (" + s.MetricsErr + ")"
	}
	return line
}
