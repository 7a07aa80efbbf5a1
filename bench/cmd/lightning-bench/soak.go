package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/lightningdb/lightningdb/bench"
)

// soakFlags are the --soak mode's settings.
type soakFlags struct {
	duration, every                time.Duration
	lifetime, retention, partition time.Duration
	rate                           float64
	out, heapProfile               string
}

func (s *soakFlags) register(fs *flag.FlagSet) {
	fs.DurationVar(&s.duration, "soak", 0, "soak mode: line protocol, remote write, MQTT and queries at once against one Lightning DB for this long (e.g. 30m; a smoke: 20s)")
	fs.DurationVar(&s.every, "soak-every", 0, "soak: sampling period (default 5s)")
	fs.Float64Var(&s.rate, "soak-rate", 0, "soak: total samples/s offered (default 50000)")
	fs.DurationVar(&s.lifetime, "soak-lifetime", 0, "soak: how long a series lives before it is replaced (default 5m)")
	fs.DurationVar(&s.retention, "soak-retention", 0, "soak: the server's engine retention (default 5m)")
	fs.DurationVar(&s.partition, "soak-partition", 0, "soak: the server's partition duration (default 1m)")
	fs.StringVar(&s.heapProfile, "soak-heap-profile", "", "soak: save the server's heap profile here at the end (needs --lightning-flags --pprof)")
	fs.StringVar(&s.out, "soak-out", "", "soak: write PREFIX.md (table, verdict), PREFIX.svg (curves) and PREFIX.json")
}

// runSoak runs the soak against Lightning DB and writes its report; it
// fails when the verdict does.
func runSoak(ctx context.Context, f *flags, work string, log *slog.Logger) error {
	bin, note := binary(ctx, f, bench.LightningDB, work, log)
	if bin == "" {
		return fmt.Errorf("soak: %s", note)
	}
	t, err := bench.NewTarget(bench.LightningDB, bin, work, f.serverCPUs)
	if err != nil {
		return err
	}
	t.ExtraArgs = strings.Fields(f.ldbFlags)
	o := bench.SoakOptions{
		Duration: f.soak.duration, Every: f.soak.every, Rate: f.soak.rate, Lifetime: f.soak.lifetime,
		Retention: f.soak.retention, Partition: f.soak.partition, MQTTClients: f.clients,
		HeapProfile: f.soak.heapProfile,
		Progress:    func(s string) { fmt.Fprintln(os.Stderr, s) },
	}
	started := time.Now().UTC()
	res, err := bench.RunSoak(ctx, t, o)
	if res == nil {
		return err
	}
	if err != nil {
		log.Error("soak", "err", err)
	}
	m := bench.ThisMachine()
	header := fmt.Sprintf("Command: `go run ./bench/cmd/lightning-bench %s`  \nMachine: %d CPUs, %s, %s, %s; started %s  \nServer: %s%s on CPUs %q, load generator on CPUs %q\n\n",
		strings.Join(os.Args[1:], " "), m.NProc, m.CPU, m.Kernel, m.GoVersion, started.Format(time.RFC3339), bin, note, f.serverCPUs, f.loadCPUs)
	res.WriteMarkdown(os.Stdout, header, "")
	if f.soak.out != "" {
		if err := writeSoakFiles(res, f.soak.out, header); err != nil {
			return err
		}
	}
	if ctx.Err() != nil {
		return errors.New("interrupted")
	}
	if !res.Verdict.Pass {
		return errors.New("soak verdict: FAIL")
	}
	return nil
}

// writeSoakFiles writes PREFIX.md, PREFIX.svg and PREFIX.json.
func writeSoakFiles(res *bench.SoakResult, prefix, header string) error {
	svgName := prefix + ".svg"
	if i := strings.LastIndexByte(svgName, '/'); i >= 0 {
		svgName = svgName[i+1:]
	}
	write := func(path string, fill func(*os.File) error) error {
		f, err := os.Create(path)
		if err != nil {
			return err
		}
		return errors.Join(fill(f), f.Close())
	}
	return errors.Join(
		write(prefix+".md", func(f *os.File) error { res.WriteMarkdown(f, header, svgName); return nil }),
		write(prefix+".svg", func(f *os.File) error {
			return res.WriteSVG(f, fmt.Sprintf("Lightning DB soak, %s", res.Options.Duration))
		}),
		write(prefix+".json", func(f *os.File) error {
			enc := json.NewEncoder(f)
			enc.SetIndent("", " ")
			return enc.Encode(res)
		}),
	)
}
