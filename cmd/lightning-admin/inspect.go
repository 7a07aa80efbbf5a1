package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/lightningdb/lightningdb/engine"
)

const inspectExamples = `  # a snapshot (a running server's directory works too; its segment set may change meanwhile)
  lightning-admin inspect --data-dir /var/lib/lightning-db/snapshots/20261207T063233Z-18eee50eb84e8f4d
  lightning-admin inspect --data-dir /var/lib/lightning-db --json | jq '.raw.partitions[].samples'
`

// inspected is inspect's JSON output: the raw engine and each rollup tier.
type inspected struct {
	Raw   *engine.InspectReport            `json:"raw"`
	Tiers map[string]*engine.InspectReport `json:"rollup_tiers,omitempty"`
}

func inspectCmd(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("inspect", "inspect --data-dir DIR [--json]\n\n"+
		"Lists the time partitions of a data directory with their segments (level, time range, series,\n"+
		"samples, size), the WAL not yet flushed, and the same for each rollup tier (DIR/rollup/<interval>).\n"+
		"It reads only; it opens nothing for writing.", inspectExamples, stdout, stderr)
	dir := fs.String("data-dir", "", "data directory or snapshot")
	asJSON := fs.Bool("json", false, "print JSON instead of text")
	keyFile := keyFileFlag(fs)
	if code, ok := parse(fs, args, stdout); !ok {
		return code
	}
	if *dir == "" || fs.NArg() > 0 {
		return usageError(fs, "--data-dir is required")
	}
	var out inspected
	fsys, err := dataFS(*keyFile)
	if err != nil {
		return fail(stderr, "inspect", err)
	}
	if out.Raw, err = engine.InspectOn(fsys, *dir); err != nil {
		return fail(stderr, "inspect", err)
	}
	tiers, _ := os.ReadDir(filepath.Join(*dir, "rollup"))
	for _, t := range tiers {
		if !t.IsDir() {
			continue
		}
		rep, err := engine.InspectOn(fsys, filepath.Join(*dir, "rollup", t.Name()))
		if err != nil {
			return fail(stderr, "inspect", err)
		}
		if out.Tiers == nil {
			out.Tiers = map[string]*engine.InspectReport{}
		}
		out.Tiers[t.Name()] = rep
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(out); err != nil {
			return fail(stderr, "inspect", err)
		}
		return 0
	}
	printInspect(stdout, "raw", *dir, out.Raw)
	for _, t := range tiers {
		if rep := out.Tiers[t.Name()]; rep != nil {
			printInspect(stdout, "rollup tier "+t.Name(), filepath.Join(*dir, "rollup", t.Name()), rep)
		}
	}
	return 0
}

func printInspect(w io.Writer, what, dir string, rep *engine.InspectReport) {
	var samples uint64
	var bytes int64
	for _, p := range rep.Partitions {
		samples += p.Samples
		bytes += p.Bytes
	}
	fmt.Fprintf(w, "%s (%s): %d partitions, %d series, %d samples, %s in segments; WAL to replay: %d segments, %s\n",
		what, dir, len(rep.Partitions), rep.Series, samples, mb(bytes), rep.WALSegments, mb(rep.WALBytes))
	for _, p := range rep.Partitions {
		fmt.Fprintf(w, "  partition %s: %d segments, %d series, %d samples, %s\n",
			fmtTime(p.Start), len(p.Segments), p.Series, p.Samples, mb(p.Bytes))
		for _, s := range p.Segments {
			fmt.Fprintf(w, "    %s L%d seq %d  %s .. %s  %d series  %d samples  %s\n",
				s.File, s.Level, s.Seq, fmtTime(s.MinT), fmtTime(s.MaxT), s.Series, s.Samples, mb(s.Bytes))
		}
	}
}

func fmtTime(ns int64) string { return time.Unix(0, ns).UTC().Format(time.RFC3339) }
