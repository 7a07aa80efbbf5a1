package bench

import (
	"fmt"
	"io"
	"math"
	"strings"
	"time"
)

// SoakBounds are the verdict's tolerances: the last third of the run is
// compared with the first third.
type SoakBounds struct {
	RSSGrowth float64 // last-third max RSS ≤ first-third max × (1 + RSSGrowth)
	// Goroutines and FDs may exceed the first third's max by this fraction
	// plus Slack (connections and segment files come and go).
	CountGrowth float64
	Slack       int64
	// MinDuration is the shortest run whose growth is judged; shorter runs
	// (smoke) judge errors only.
	MinDuration time.Duration
}

// DefaultBounds: RSS within 25 %, goroutines and fds within 10 % + 10.
var DefaultBounds = SoakBounds{RSSGrowth: 0.25, CountGrowth: 0.10, Slack: 10, MinDuration: 3 * time.Minute}

// Verdict is the soak's pass/fail with one line per check.
type Verdict struct {
	Pass   bool     `json:"pass"`
	Checks []string `json:"checks"`
}

// Judge applies b to r's samples and stream totals.
func Judge(r *SoakResult, b SoakBounds) Verdict {
	v := Verdict{Pass: true}
	check := func(ok bool, format string, args ...any) {
		mark := "ok  "
		if !ok {
			mark, v.Pass = "FAIL", false
		}
		v.Checks = append(v.Checks, mark+" "+fmt.Sprintf(format, args...))
	}
	if len(r.Samples) == 0 {
		check(false, "no samples")
		return v
	}
	check(!r.ServerExited, "server alive to the end")
	last := r.Samples[len(r.Samples)-1]
	var errs, retries int64
	for _, s := range r.Streams {
		errs += s.Errors
		retries += s.Retries
	}
	check(errs == 0, "client errors: %d (transport errors and non-2xx answers, all streams)", errs)
	check(retries == 0, "429/503 answers (retried): %d", retries)
	check(last.Rejected == 0, "server rejected/overloaded counters (lightningdb_*rejected*, *overloaded*): %.0f", last.Rejected)
	if last.At < b.MinDuration {
		v.Checks = append(v.Checks, fmt.Sprintf("-    growth not judged: run shorter than %s", b.MinDuration))
		return v
	}
	first, third := thirds(r.Samples)
	get := func(f func(SoakSample) float64) (float64, float64) {
		return maxOf(first, f), maxOf(third, f)
	}
	a, z := get(func(s SoakSample) float64 { return float64(s.RSS) })
	check(z <= a*(1+b.RSSGrowth), "RSS bounded: last-third max %.1f MB vs first-third max %.1f MB (bound +%.0f%%)", mb(int64(z)), mb(int64(a)), 100*b.RSSGrowth)
	a, z = get(func(s SoakSample) float64 { return float64(s.Goroutines) })
	check(z <= a*(1+b.CountGrowth)+float64(b.Slack), "goroutines: last-third max %.0f vs first-third max %.0f (bound +%.0f%% +%d)", z, a, 100*b.CountGrowth, b.Slack)
	a, z = get(func(s SoakSample) float64 { return float64(s.FDs) })
	check(z <= a*(1+b.CountGrowth)+float64(b.Slack), "open fds: last-third max %.0f vs first-third max %.0f (bound +%.0f%% +%d)", z, a, 100*b.CountGrowth, b.Slack)
	a, z = get(func(s SoakSample) float64 { return float64(s.WAL) })
	check(z <= 2*a+16<<20, "WAL bounded: last-third max %.1f MB vs first-third max %.1f MB (bound 2× + 16 MB)", mb(int64(z)), mb(int64(a)))
	v.Checks = append(v.Checks, trend(r.Samples))
	return v
}

// trend says (not judged) how RSS and the series count moved over the last
// two thirds of the run, per minute: a slow leak inside the RSS bound shows
// here.
func trend(ss []SoakSample) string {
	end := ss[len(ss)-1]
	from := end
	for _, s := range ss {
		if s.At >= end.At/3 {
			from = s
			break
		}
	}
	mins := (end.At - from.At).Minutes()
	if mins <= 0 {
		return "-    trend: too few samples"
	}
	return fmt.Sprintf("-    trend over the last two thirds (not judged): RSS %+.2f MB/min, series %+.0f/min",
		(mb(end.RSS)-mb(from.RSS))/mins, float64(end.Series-from.Series)/mins)
}

// thirds returns the samples of the first and the last third of the run,
// by time.
func thirds(ss []SoakSample) (first, last []SoakSample) {
	end := ss[len(ss)-1].At
	for _, s := range ss {
		if s.At <= end/3 {
			first = append(first, s)
		}
		if s.At >= end-end/3 {
			last = append(last, s)
		}
	}
	return first, last
}

func maxOf(ss []SoakSample, f func(SoakSample) float64) float64 {
	m := math.Inf(-1)
	for _, s := range ss {
		m = max(m, f(s))
	}
	return m
}

// AtSteps picks, for each multiple of step from 0 to the end, the first
// sample taken at or after it (the table's rows).
func AtSteps(ss []SoakSample, step time.Duration) []SoakSample {
	var out []SoakSample
	next := time.Duration(0)
	for i, s := range ss {
		if s.At >= next || i == len(ss)-1 {
			out = append(out, s)
			next = (s.At/step + 1) * step
		}
	}
	return out
}

// WriteMarkdown writes the soak's settings, the one-minute table, the
// stream totals and the verdict; svg names the chart file to link ("" for
// none).
func (r *SoakResult) WriteMarkdown(w io.Writer, header, svg string) {
	fmt.Fprint(w, header)
	o := r.Options
	fmt.Fprintf(w, "Load: %s samples/s offered (line protocol 50 %%, remote write 1.0 40 %%, MQTT QoS 1 10 %% from %d clients), %d query clients (one query each every 250 ms, instant and range in turn); every series gets 10 samples/s; series live %s and are then replaced (staggered); server retention %s, partitions of %s. Sampled every %s.\n\n",
		si(o.Rate), o.MQTTClients, o.QueryClients, o.Lifetime, o.Retention, o.Partition, o.Every)
	fmt.Fprintf(w, "Server config:\n\n```yaml\n%s```\n\n", r.Config)
	if svg != "" {
		fmt.Fprintf(w, "![soak curves](%s)\n\n", svg)
	}
	step := time.Minute
	if len(r.Samples) > 0 && r.Samples[len(r.Samples)-1].At < 3*time.Minute {
		step = 10 * time.Second
	}
	fmt.Fprintln(w, "| t | RSS MB | heap MB | goroutines | fds | WAL MB | data MB | series | CPU % | samples/s | queries/s | errors | retries | rejected |")
	fmt.Fprintln(w, "|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
	rows := AtSteps(r.Samples, step)
	for i, s := range rows {
		rate, cpu, qps := "", "", ""
		if i > 0 {
			p := rows[i-1]
			dt := (s.At - p.At).Seconds()
			rate = si(float64(s.Samples-p.Samples) / dt)
			cpu = fmt.Sprintf("%.0f", 100*(s.CPU-p.CPU)/dt)
			qps = fmt.Sprintf("%.1f", float64(s.Queries-p.Queries)/dt)
		}
		fmt.Fprintf(w, "| %s | %.1f | %.1f | %d | %d | %.1f | %.1f | %d | %s | %s | %s | %d | %d | %.0f |\n",
			s.At.Round(time.Second), mb(s.RSS), mb(s.HeapInuse), s.Goroutines, s.FDs, mb(s.WAL), mb(s.Data),
			s.Series, cpu, rate, qps, s.Errors, s.Retries, s.Rejected)
	}
	fmt.Fprintln(w, "\n| stream | offered | acknowledged | requests | errors | retries | skipped (fell behind) | first error |")
	fmt.Fprintln(w, "|---|--:|--:|--:|--:|--:|--:|---|")
	for _, s := range r.Streams {
		fmt.Fprintf(w, "| %s | %d | %d | %d | %d | %d | %d | %s |\n", s.Name, s.Offered, s.Acked, s.Requests, s.Errors, s.Retries, s.Skipped, cell(s.FirstError))
	}
	fmt.Fprintln(w, "\n(offered/acknowledged: samples for the write streams, queries for `query`.)")
	verdict := "PASS"
	if !r.Verdict.Pass {
		verdict = "FAIL"
	}
	fmt.Fprintf(w, "\nVerdict: **%s**\n\n", verdict)
	for _, c := range r.Verdict.Checks {
		fmt.Fprintf(w, "- `%s`\n", strings.TrimSpace(c))
	}
}
