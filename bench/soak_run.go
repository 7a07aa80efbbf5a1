package bench

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// SoakResult is what a soak run measured.
type SoakResult struct {
	Options SoakOptions   `json:"-"`
	Samples []SoakSample  `json:"samples"`
	Streams []StreamTotal `json:"streams"`
	// ServerExited is set when the server was gone before the end.
	ServerExited bool    `json:"server_exited"`
	Verdict      Verdict `json:"verdict"`
	// Config is the server's YAML configuration.
	Config string `json:"config"`
}

// StreamTotal is one stream's final counts.
type StreamTotal struct {
	Name       string `json:"name"`
	Offered    int64  `json:"offered"`
	Acked      int64  `json:"acked"`
	Requests   int64  `json:"requests"`
	Errors     int64  `json:"errors"`
	Retries    int64  `json:"retries"`
	Skipped    int64  `json:"skipped"`
	FirstError string `json:"first_error,omitempty"`
}

// soakConfig is the server configuration of a soak: retention on, small
// partitions so retention drops one every Partition, a small memtable
// flush threshold and WAL segments so that both turn over during the run.
func soakConfig(o SoakOptions) string {
	return fmt.Sprintf(`retention:
  default: %s
engine:
  partition_duration: %s
  memtable_flush_bytes: 8388608
  wal_segment_size: 8388608
`, o.Retention, o.Partition)
}

// RunSoak starts t (a Lightning DB target with MQTT) on a fresh data
// directory and drives line protocol, remote write, MQTT and queries at
// once for o.Duration, sampling the server every o.Every.
func RunSoak(ctx context.Context, t *Target, o SoakOptions) (*SoakResult, error) {
	o.defaults()
	if t.Name != LightningDB || !t.HasMQTT {
		return nil, errors.New("soak: needs a Lightning DB target with an MQTT broker")
	}
	if err := t.Fresh(); err != nil {
		return nil, err
	}
	res := &SoakResult{Options: o, Config: soakConfig(o)}
	conf := filepath.Join(t.dir, t.Name, "soak.yaml")
	if err := os.WriteFile(conf, []byte(res.Config), 0o644); err != nil {
		return nil, err
	}
	t.ExtraArgs = append(t.ExtraArgs, "--config", conf)
	if err := t.Start(ctx, time.Minute); err != nil {
		return nil, err
	}
	defer func() { _ = t.Stop(30 * time.Second) }()

	streams := []*StreamStats{{Name: "lp"}, {Name: "rw"}, {Name: "mqtt"}, {Name: "query"}}
	loadCtx, stop := context.WithCancel(ctx)
	wg := startSoakLoad(loadCtx, t, o, streams)
	res.Samples, res.ServerExited = sampleSoak(ctx, t, o, streams)
	var profErr error
	if o.HeapProfile != "" {
		profErr = saveHeapProfile(ctx, t.BaseURL(), o.HeapProfile)
	}
	stop()
	wg.Wait()
	// One last reading after the load stopped, for the final counts.
	final := takeSample(ctx, &http.Client{Timeout: 10 * time.Second}, t, streams, 0)
	for _, st := range streams {
		res.Streams = append(res.Streams, StreamTotal{
			Name: st.Name, Offered: st.Offered.Load(), Acked: st.Samples.Load(), Requests: st.Requests.Load(),
			Errors: st.Errors.Load(), Retries: st.Retries.Load(), Skipped: st.Skipped.Load(), FirstError: st.FirstError(),
		})
	}
	if n := len(res.Samples); n > 0 && final.MetricsErr == "" {
		res.Samples[n-1].Rejected = max(res.Samples[n-1].Rejected, final.Rejected)
	}
	res.Verdict = Judge(res, DefaultBounds)
	return res, profErr
}

// saveHeapProfile writes the server's /debug/pprof/heap to path.
func saveHeapProfile(ctx context.Context, base, path string) error {
	status, body, err := get(ctx, &http.Client{Timeout: time.Minute}, base+"/debug/pprof/heap")
	if err == nil && status != 200 {
		err = fmt.Errorf("%d (start the server with --pprof: --lightning-flags --pprof)", status)
	}
	if err != nil {
		return fmt.Errorf("heap profile: %w", err)
	}
	return os.WriteFile(path, body, 0o644)
}

// startSoakLoad starts every stream; the returned group ends with ctx.
func startSoakLoad(ctx context.Context, t *Target, o SoakOptions, st []*StreamStats) *sync.WaitGroup {
	start := time.Now().Truncate(time.Second / soakHz)
	fleet := func(name string, rate float64) soakFleet {
		return soakFleet{name: name, slots: max(int(rate/soakHz/soakFields), 1), start: start, lifetime: o.Lifetime}
	}
	lp, rw := fleet("soak_lp", o.Rate*0.5), fleet("soak_rw", o.Rate*0.4)
	// MQTT: each device publishes 2 messages a second.
	mq := soakFleet{name: "soak_mqtt", slots: max(int(o.Rate*0.1/2/soakFields), 1), start: start, lifetime: o.Lifetime}
	var wg sync.WaitGroup
	run := func(f func()) { wg.Add(1); go func() { defer wg.Done(); f() }() }
	run(func() { runHTTPStream(ctx, t.BaseURL(), LPv1, lp, 250, st[0]) })
	run(func() { runHTTPStream(ctx, t.BaseURL(), RWv1, rw, 100, st[1]) })
	run(func() { runMQTTStream(ctx, t.MQTTAddr(), mq, o.MQTTClients, 2, st[2]) })
	for i := range o.QueryClients {
		run(func() { runQueryStream(ctx, t.BaseURL(), i, st[3]) })
	}
	return &wg
}

// sampleSoak samples the server every o.Every until o.Duration has passed,
// ctx ends or the server exits.
func sampleSoak(ctx context.Context, t *Target, o SoakOptions, st []*StreamStats) ([]SoakSample, bool) {
	client := &http.Client{Timeout: 10 * time.Second}
	t0 := time.Now()
	tick := time.NewTicker(o.Every)
	defer tick.Stop()
	var out []SoakSample
	for {
		s := takeSample(ctx, client, t, st, time.Since(t0))
		var prev *SoakSample
		if len(out) > 0 {
			prev = &out[len(out)-1]
		}
		if o.Progress != nil {
			o.Progress(progressLine(s, prev))
		}
		out = append(out, s)
		if !t.Running() {
			return out, true
		}
		if time.Since(t0) >= o.Duration {
			return out, false
		}
		select {
		case <-ctx.Done():
			return out, false
		case <-tick.C:
		}
	}
}
