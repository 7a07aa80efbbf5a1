package bench

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// SoakSample is one reading of the server's vital signs during a soak.
type SoakSample struct {
	At         time.Duration `json:"at_ns"` // since the load started
	RSS        int64         `json:"rss_bytes"`
	HeapInuse  int64         `json:"heap_inuse_bytes"`
	Goroutines int64         `json:"goroutines"`
	FDs        int64         `json:"fds"`
	WAL        int64         `json:"wal_bytes"`
	Data       int64         `json:"data_bytes"`
	Series     int64         `json:"series"`
	CPU        float64       `json:"cpu_seconds"`
	// Rejected sums the server's lightningdb_* counters whose name says
	// rejected or overloaded (samples, series, requests alike).
	Rejected float64 `json:"server_rejected"`
	// Samples, Errors and Retries are the client side's cumulative counts
	// over all streams; Queries counts answered queries.
	Samples, Errors, Retries, Queries, Skipped int64
	// MetricsErr is set when /metrics could not be read.
	MetricsErr string `json:"metrics_error,omitempty"`
}

// readProcVitals fills RSS, FDs and CPU of pid from /proc.
func readProcVitals(pid int, s *SoakSample) error {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return err
	}
	if s.RSS, err = parseStatusKB(b, "VmRSS:"); err != nil {
		return err
	}
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return err
	}
	s.FDs = int64(len(fds))
	s.CPU, err = ProcCPUSeconds(pid)
	return err
}

// readServerMetrics fills the heap, goroutine, series and rejection
// figures from the server's /metrics.
func readServerMetrics(ctx context.Context, c *http.Client, base string, s *SoakSample) error {
	status, body, err := get(ctx, c, base+"/metrics")
	if err != nil {
		return err
	}
	if status != 200 {
		return fmt.Errorf("/metrics: %d", status)
	}
	m := ParseMetricsText(body)
	s.HeapInuse = int64(m["go_memstats_heap_inuse_bytes"])
	s.Goroutines = int64(m["go_goroutines"])
	s.Series = int64(m["lightningdb_engine_series"])
	for name, v := range m {
		if strings.HasPrefix(name, "lightningdb_") && (strings.Contains(name, "rejected") || strings.Contains(name, "overloaded")) {
			s.Rejected += v
		}
	}
	return nil
}

// ParseMetricsText sums the samples of each metric name in a Prometheus
// text exposition (labels dropped; histogram and summary parts keep their
// _bucket/_sum/_count names).
func ParseMetricsText(b []byte) map[string]float64 {
	m := map[string]float64{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		name, rest := line, ""
		if i := strings.IndexAny(line, "{ "); i >= 0 {
			name, rest = line[:i], line[i:]
		}
		if j := strings.LastIndexByte(rest, '}'); j >= 0 {
			rest = rest[j+1:]
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			continue
		}
		if v, err := strconv.ParseFloat(f[0], 64); err == nil {
			m[name] += v
		}
	}
	return m
}

// ParseMetricsSeries returns the value of each series of a Prometheus
// text exposition, keyed by the series as written (`name` or
// `name{labels}`, labels in the exposition's order); a series written
// twice keeps the last value.
func ParseMetricsSeries(b []byte) map[string]float64 {
	m := map[string]float64{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		key, rest := line, ""
		if j := strings.LastIndexByte(line, '}'); j >= 0 && strings.IndexByte(line, '{') >= 0 {
			key, rest = line[:j+1], line[j+1:]
		} else if i := strings.IndexByte(line, ' '); i >= 0 {
			key, rest = line[:i], line[i:]
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			continue
		}
		if v, err := strconv.ParseFloat(f[0], 64); err == nil {
			m[key] = v
		}
	}
	return m
}

// takeSample reads everything a SoakSample holds.
func takeSample(ctx context.Context, c *http.Client, t *Target, streams []*StreamStats, at time.Duration) SoakSample {
	s := SoakSample{At: at}
	if err := readProcVitals(t.PID(), &s); err != nil {
		s.MetricsErr = "proc: " + err.Error()
	}
	if err := readServerMetrics(ctx, c, t.BaseURL(), &s); err != nil {
		s.MetricsErr = err.Error()
	}
	s.WAL, _, _ = DiskUsage(filepath.Join(t.DataDir(), "wal"))
	s.Data, _, _ = DiskUsage(t.DataDir())
	for _, st := range streams {
		s.Errors += st.Errors.Load()
		s.Retries += st.Retries.Load()
		s.Skipped += st.Skipped.Load()
		if st.Name == "query" {
			s.Queries += st.Requests.Load()
		} else {
			s.Samples += st.Samples.Load()
		}
	}
	return s
}

// progressLine is the terminal line for one sample; prev is the sample
// before it (for rates), nil for the first.
func progressLine(s SoakSample, prev *SoakSample) string {
	rate, cpu, qps := 0.0, 0.0, 0.0
	if prev != nil {
		dt := (s.At - prev.At).Seconds()
		if dt > 0 {
			rate = float64(s.Samples-prev.Samples) / dt
			cpu = 100 * (s.CPU - prev.CPU) / dt
			qps = float64(s.Queries-prev.Queries) / dt
		}
	}
	line := fmt.Sprintf("soak %8s  rss %6.1f MB  heap %6.1f MB  goroutines %4d  fds %4d  wal %6.1f MB  data %6.1f MB  series %6d  cpu %3.0f%%  samples/s %7s  queries/s %4.1f  errors %d retries %d rejected %.0f skipped %d",
		s.At.Round(time.Second), mb(s.RSS), mb(s.HeapInuse), s.Goroutines, s.FDs, mb(s.WAL), mb(s.Data), s.Series,
		cpu, si(rate), qps, s.Errors, s.Retries, s.Rejected, s.Skipped)
	if s.MetricsErr != "" {
		line += "  (" + s.MetricsErr + ")"
	}
	return line
}
