package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"strings"
	"time"
)

// Machine describes where a report was measured.
type Machine struct {
	NProc     int    `json:"nproc"`
	CPU       string `json:"cpu"`
	Kernel    string `json:"kernel"`
	GoVersion string `json:"go"`
}

// Report is one invocation's results.
type Report struct {
	Command  string    `json:"command"`
	Date     time.Time `json:"date"`
	Machine  Machine   `json:"machine"`
	Seed     uint64    `json:"seed"`
	Start    time.Time `json:"data_start"`
	Scale    Scale     `json:"scale"`
	Binaries []string  `json:"binaries"`
	Pinning  string    `json:"pinning"`
	Results  []Result  `json:"results"`
}

// ThisMachine reads the number of CPUs and the CPU model from /proc/cpuinfo
// (all CPUs, not only those this pinned process may use) and the kernel.
func ThisMachine() Machine {
	m := Machine{NProc: runtime.NumCPU(), GoVersion: runtime.Version()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		n := 0
		for line := range strings.SplitSeq(string(b), "\n") {
			k, v, ok := strings.Cut(line, ":")
			switch k = strings.TrimSpace(k); {
			case ok && k == "processor":
				n++
			case ok && k == "model name" && m.CPU == "":
				m.CPU = strings.TrimSpace(v)
			}
		}
		if n > 0 {
			m.NProc = n
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	return m
}

// WriteJSON writes r as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	e := json.NewEncoder(w)
	e.SetIndent("", "  ")
	return e.Encode(r)
}

// WriteMarkdown writes r as markdown tables: ingestion, queries, and the
// ratios of Lightning DB's figures to each peer's.
func (r *Report) WriteMarkdown(w io.Writer) {
	fmt.Fprintf(w, "Command: `%s`  \n", r.Command)
	fmt.Fprintf(w, "Machine: %d CPUs, %s, Linux %s, %s; date %s; seed %d\n\n",
		r.Machine.NProc, r.Machine.CPU, r.Machine.Kernel, r.Machine.GoVersion,
		r.Date.UTC().Format(time.RFC3339), r.Seed)
	fmt.Fprintf(w, "Targets: %s; %s\n\n", strings.Join(r.Binaries, ", "), r.Pinning)
	fmt.Fprintln(w, "| workload | target | samples/s | p50 ms | p90 ms | p99 ms | server CPU s | peak RSS MB | bytes/sample | status |")
	fmt.Fprintln(w, "|---|---|--:|--:|--:|--:|--:|--:|--:|---|")
	for _, x := range r.Results {
		if x.Workload == "queries" {
			continue
		}
		if !x.ok() {
			fmt.Fprintf(w, "| %s | %s | | | | | | | | %s |\n", x.Workload, x.Target, cell(x.Status))
			continue
		}
		status := "ok"
		if x.Rejected > 0 {
			status = fmt.Sprintf("ok, %d samples rejected: %s", x.Rejected, cell(x.FirstError))
		}
		fmt.Fprintf(w, "| %s | %s | %s | %.1f | %.1f | %.1f | %.2f | %.0f | %s | %s |\n",
			x.Workload, x.Target, si(x.Rate), x.Latency.P50, x.Latency.P90, x.Latency.P99,
			x.CPUSeconds, mb(x.PeakRSS), num(x.BytesPerSample), status)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| query shape (TSBS) | target | p50 ms | p90 ms | p99 ms | queries | errors | empty | points |")
	fmt.Fprintln(w, "|---|---|--:|--:|--:|--:|--:|--:|--:|")
	for _, x := range r.Results {
		if x.Workload != "queries" {
			continue
		}
		if !x.ok() && len(x.Queries) == 0 {
			fmt.Fprintf(w, "| all | %s | | | | | | | %s |\n", x.Target, cell(x.Status))
		}
		for _, q := range x.Queries {
			if q.Unsupported != "" {
				fmt.Fprintf(w, "| %s | %s | | | | | | | %s |\n", q.Shape, x.Target, cell(q.Unsupported))
				continue
			}
			fmt.Fprintf(w, "| %s (%s) | %s | %.2f | %.2f | %.2f | %d | %d | %d | %d |\n",
				q.Shape, q.TSBS, x.Target, q.Latency.P50, q.Latency.P90, q.Latency.P99,
				q.Latency.N, q.Errors, q.Empty, q.Points)
		}
	}
	fmt.Fprintln(w)
	r.writeQuerySideBySide(w)
	r.writeQueryRatios(w)
	r.writeRatios(w)
}

// writeRatios prints Lightning DB's figure divided by each peer's for the
// same workload: above 1 is better for samples/s, below 1 better for the
// rest.
func (r *Report) writeRatios(w io.Writer) {
	fmt.Fprintln(w, "Ratios, Lightning DB ÷ peer (samples/s: higher is better; every other column: lower is better):")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| workload | peer | samples/s | p50 | p99 | CPU s per sample | peak RSS | bytes/sample |")
	fmt.Fprintln(w, "|---|---|--:|--:|--:|--:|--:|--:|")
	for _, l := range r.Results {
		if l.Target != LightningDB || !l.ok() || l.Workload == "queries" {
			continue
		}
		for _, p := range r.Results {
			if p.Target == LightningDB || p.Workload != l.Workload || !p.ok() {
				continue
			}
			fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s | %s |\n", l.Workload, p.Target,
				ratio(l.Rate, p.Rate), ratio(l.Latency.P50, p.Latency.P50), ratio(l.Latency.P99, p.Latency.P99),
				ratio(l.CPUSeconds/float64(l.Samples), p.CPUSeconds/float64(p.Samples)),
				ratio(float64(l.PeakRSS), float64(p.PeakRSS)), ratio(l.BytesPerSample, p.BytesPerSample))
		}
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| query shape | peer | p50 | p90 | p99 |")
	fmt.Fprintln(w, "|---|---|--:|--:|--:|")
	for _, q := range queryResults(r.Results, LightningDB) {
		for _, peer := range r.Results {
			if peer.Target == LightningDB || peer.Workload != "queries" {
				continue
			}
			for _, pq := range peer.Queries {
				if pq.Shape != q.Shape || pq.Latency.N == 0 || q.Latency.N == 0 {
					continue
				}
				fmt.Fprintf(w, "| %s | %s | %s | %s | %s |\n", q.Shape, peer.Target,
					ratio(q.Latency.P50, pq.Latency.P50), ratio(q.Latency.P90, pq.Latency.P90),
					ratio(q.Latency.P99, pq.Latency.P99))
			}
		}
	}
}

func queryResults(rs []Result, target string) []QueryResult {
	for _, r := range rs {
		if r.Target == target && r.Workload == "queries" {
			return r.Queries
		}
	}
	return nil
}

func ratio(a, b float64) string {
	x := Ratio(a, b)
	if math.IsNaN(x) {
		return "n/a"
	}
	return fmt.Sprintf("%.2f", x)
}

func si(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.2f M", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.1f k", v/1e3)
	}
	return fmt.Sprintf("%.0f", v)
}

func num(v float64) string {
	if v == 0 {
		return ""
	}
	return fmt.Sprintf("%.2f", v)
}

func mb(b int64) float64 { return float64(b) / (1 << 20) }

func cell(s string) string {
	s = strings.ReplaceAll(s, "|", "\\|")
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) > 160 {
		s = s[:160] + "…"
	}
	return s
}
