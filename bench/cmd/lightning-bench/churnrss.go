package main

import (
	"context"
	"debug/buildinfo"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/lightningdb/lightningdb/bench"
)

// churnFlags are the --churn-rss mode's settings.
type churnFlags struct {
	on                             bool
	series                         int64
	live, lifetime                 int
	interval, every, maxRun        time.Duration
	retention, partition, checkInt time.Duration
	vmRetention, vmFlags           string
	out, with, label               string
}

func (c *churnFlags) register(fs *flag.FlagSet) {
	fs.BoolVar(&c.on, "churn-rss", false, "churn-RSS mode: create --churn-series series over time, --churn-live live at once, with short retention, and chart each server's RSS against series created (targets: lightningdb,victoriametrics, one after the other)")
	fs.Int64Var(&c.series, "churn-series", 0, "churn-rss: series created in all (default 2000000)")
	fs.IntVar(&c.live, "churn-live", 0, "churn-rss: series live at once (default 20000)")
	fs.IntVar(&c.lifetime, "churn-lifetime", 0, "churn-rss: steps a series lives (default 10)")
	fs.DurationVar(&c.interval, "churn-interval", 0, "churn-rss: time between steps; each live series gets one sample per step (default 1s)")
	fs.DurationVar(&c.every, "churn-every", 0, "churn-rss: sampling period (default 1s)")
	fs.DurationVar(&c.maxRun, "churn-max", 0, "churn-rss: bound on one server's run (default 30m)")
	fs.DurationVar(&c.retention, "churn-retention", 0, "churn-rss: Lightning DB retention (default 1m)")
	fs.DurationVar(&c.partition, "churn-partition", 0, "churn-rss: Lightning DB partition duration (default 1m, its minimum)")
	fs.DurationVar(&c.checkInt, "churn-check-interval", 0, "churn-rss: Lightning DB retention.check_interval (default 1s)")
	fs.StringVar(&c.vmRetention, "churn-vm-retention", "", "churn-rss: VictoriaMetrics -retentionPeriod (default 1d, its minimum)")
	fs.StringVar(&c.vmFlags, "churn-vm-flags", "", "churn-rss: extra VictoriaMetrics flags, space-separated (e.g. \"-cacheExpireDuration=2m\"); they join its curve's label")
	fs.StringVar(&c.label, "churn-label", "", "churn-rss: label of the Lightning DB curve (default: lightningdb and the binary's revision)")
	fs.StringVar(&c.with, "churn-with", "", "churn-rss: a PREFIX.json of an earlier run whose curves are drawn and tabled before this run's")
	fs.StringVar(&c.out, "churn-out", "", "churn-rss: write PREFIX.md (tables), PREFIX.svg (curves) and PREFIX.json")
}

// runChurnRSS runs the churn against each target in turn and writes the
// report.
func runChurnRSS(ctx context.Context, f *flags, work string, log *slog.Logger) error {
	o := bench.ChurnRSSOptions{
		Series: f.churn.series, Live: f.churn.live, Lifetime: f.churn.lifetime, Interval: f.churn.interval,
		Every: f.churn.every, MaxDuration: f.churn.maxRun, Retention: f.churn.retention, Partition: f.churn.partition,
		CheckInterval: f.churn.checkInt, VMRetention: f.churn.vmRetention, BatchLines: f.lines, Conns: f.conns,
		Progress: func(s string) { fmt.Fprintln(os.Stderr, s) },
	}
	targets := []string{bench.LightningDB, bench.VictoriaMetrics}
	switch f.targets {
	case "":
	case "none": // re-render --churn-with
		targets = nil
	default:
		targets = strings.Split(f.targets, ",")
	}
	rep := &bench.ChurnReport{Options: bench.ChurnDefaults(o)}
	note := ""
	if f.churn.with != "" {
		prev, err := readChurnReport(f.churn.with)
		if err != nil {
			return err
		}
		rep.Runs = prev.Runs
		if len(targets) == 0 {
			rep.Options = prev.Options
		} else if !sameChurn(prev.Options, rep.Options) {
			note = fmt.Sprintf("**The runs from %s used other churn options** (%d series, %d live, lifetime %d, interval %s).\n\n",
				f.churn.with, prev.Options.Series, prev.Options.Live, prev.Options.Lifetime, prev.Options.Interval)
		}
	}
	started := time.Now().UTC()
	runs, bins, err := runChurnTargets(ctx, f, o, targets, work, log)
	rep.Runs = append(rep.Runs, runs...)
	if err != nil {
		return err
	}
	m := bench.ThisMachine()
	header := fmt.Sprintf("Command: `%s`  \nMachine: %d CPUs, %s, %s, %s; started %s  \nServers: %s; on CPUs %q, load generator on CPUs %q\n\n%s",
		commandLine(), m.NProc, m.CPU, m.Kernel, m.GoVersion, started.Format(time.RFC3339),
		strings.Join(bins, ", "), f.serverCPUs, f.loadCPUs, note)
	if len(targets) == 0 {
		header = fmt.Sprintf("Rendered by `%s` from the runs in %s (each run's command below).  \nMachine: %d CPUs, %s, %s, %s; servers on CPUs %q, load generator on CPUs %q\n\n",
			commandLine(), f.churn.with, m.NProc, m.CPU, m.Kernel, m.GoVersion, f.serverCPUs, f.loadCPUs)
	}
	rep.WriteMarkdown(os.Stdout, header, "")
	if f.churn.out != "" {
		if err := writeChurnFiles(rep, f.churn.out, header); err != nil {
			return err
		}
	}
	return churnFailures(runs)
}

// runChurnTargets runs the churn against each target in turn; it returns
// the runs made (also when one fails) and the binaries used.
func runChurnTargets(ctx context.Context, f *flags, o bench.ChurnRSSOptions, targets []string, work string, log *slog.Logger) ([]bench.ChurnRun, []string, error) {
	var runs []bench.ChurnRun
	var bins []string
	for _, name := range targets {
		bin, note := binary(ctx, f, name, work, log)
		if bin == "" {
			return runs, bins, fmt.Errorf("churn-rss: %s: %s", name, note)
		}
		bins = append(bins, name+"="+bin+note)
		t, err := bench.NewTarget(name, bin, work, f.serverCPUs)
		if err != nil {
			return runs, bins, err
		}
		label := churnLabel(ctx, f, name, bin, note)
		switch name {
		case bench.LightningDB:
			t.ExtraArgs = strings.Fields(f.ldbFlags)
		case bench.VictoriaMetrics:
			t.ExtraArgs = strings.Fields(f.churn.vmFlags)
		}
		log.Info("churn-rss", "target", name, "label", label)
		run, err := bench.RunChurnRSS(ctx, t, o, label)
		if run != nil {
			run.Command = commandLine()
			runs = append(runs, *run)
		}
		if err != nil {
			return runs, bins, fmt.Errorf("churn-rss %s: %w", name, err)
		}
	}
	return runs, bins, nil
}

// sameChurn reports whether a and b describe the same churn.
func sameChurn(a, b bench.ChurnRSSOptions) bool {
	return a.Series == b.Series && a.Live == b.Live && a.Lifetime == b.Lifetime && a.Interval == b.Interval
}

// commandLine is this invocation as a shell would take it back.
func commandLine() string {
	args := []string{"go", "run", "./bench/cmd/lightning-bench"}
	for _, a := range os.Args[1:] {
		if a == "" || strings.ContainsAny(a, " \t\"'$`\\*?[]{}()<>|&;#~") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		args = append(args, a)
	}
	return strings.Join(args, " ")
}

// churnFailures fails the invocation when one of its runs saw errors, was
// cut by --churn-max or lost its server (the report is written first).
func churnFailures(runs []bench.ChurnRun) error {
	var errs []error
	for _, r := range runs {
		switch {
		case r.ServerExited:
			errs = append(errs, fmt.Errorf("%s: server exited during the run; its log ends: %s", r.Label, r.ServerLog))
		case r.Errors > 0:
			errs = append(errs, fmt.Errorf("%s: %d errors, first: %s", r.Label, r.Errors, r.FirstError))
		case r.Truncated:
			errs = append(errs, fmt.Errorf("%s: cut by --churn-max after %d series", r.Label, r.Created))
		}
	}
	return errors.Join(errs...)
}

// churnLabel names a target's curve: --churn-label for Lightning DB,
// else the target with its version or revision.
func churnLabel(ctx context.Context, f *flags, name, bin, note string) string {
	if name == bench.LightningDB && f.churn.label != "" {
		return f.churn.label
	}
	if name == bench.VictoriaMetrics {
		return strings.TrimSpace("victoriametrics " + binVersion(ctx, bin) + " " + f.churn.vmFlags)
	}
	if i := strings.LastIndex(note, " at "); i >= 0 {
		return name + " " + strings.TrimSuffix(note[i+4:], ")")
	}
	return name + " " + filepath.Base(bin)
}

// binVersion is a peer binary's version: its Go module version (go
// install builds print none with -version), else the first word of
// -version's output.
func binVersion(ctx context.Context, bin string) string {
	if info, err := buildinfo.ReadFile(bin); err == nil && info.Main.Version != "" && info.Main.Version != "(devel)" {
		return info.Main.Version
	}
	out, _ := exec.CommandContext(ctx, bin, "-version").Output()
	if f := strings.Fields(string(out)); len(f) > 0 {
		return f[0]
	}
	return "(version unknown)"
}

func readChurnReport(path string) (*bench.ChurnReport, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--churn-with: %w", err)
	}
	var rep bench.ChurnReport
	if err := json.Unmarshal(b, &rep); err != nil {
		return nil, fmt.Errorf("--churn-with %s: %w", path, err)
	}
	return &rep, nil
}

// writeChurnFiles writes PREFIX.md, PREFIX.svg and PREFIX.json.
func writeChurnFiles(rep *bench.ChurnReport, prefix, header string) error {
	svgName := filepath.Base(prefix + ".svg")
	write := func(path string, fill func(*os.File) error) error {
		f, err := os.Create(path)
		if err != nil {
			return err
		}
		return errors.Join(fill(f), f.Close())
	}
	title := fmt.Sprintf("RSS against series created: %s series, %s live at once", thousands(rep.Options.Series), thousands(int64(rep.Options.Live)))
	return errors.Join(
		write(prefix+".md", func(f *os.File) error { rep.WriteMarkdown(f, header, svgName); return nil }),
		write(prefix+".svg", func(f *os.File) error { return rep.WriteSVG(f, title) }),
		write(prefix+".json", func(f *os.File) error {
			enc := json.NewEncoder(f)
			enc.SetIndent("", " ")
			return enc.Encode(rep)
		}),
	)
}

// thousands writes n with commas between groups of three digits.
func thousands(n int64) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0 && s[i-1] != '-'; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
