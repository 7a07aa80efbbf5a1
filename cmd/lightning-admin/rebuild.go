package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/lightningdb/lightningdb/engine"
)

const rebuildExamples = `  # the tag index of the data directory and of every rollup tier (server stopped)
  lightning-admin rebuild-index --data-dir /var/lib/lightning-db
  # series.snap too, from the tag index files (then the tag index from it)
  lightning-admin rebuild-index --data-dir /var/lib/lightning-db --series
`

// rebuildIndexCmd rebuilds the tag index files (and series.snap with
// --series) of a data directory and of each of its rollup tiers.
func rebuildIndexCmd(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("rebuild-index", "rebuild-index --data-dir DIR [--series]\n\n"+
		"Rebuilds the tag index file of every partition from its segments' series and their labels\n"+
		"in series.snap, in DIR and in each rollup tier (DIR/rollup/<interval>). With --series it first\n"+
		"rebuilds series.snap from the tag index files and the segments. Segments hold series IDs and\n"+
		"types but no labels, so the two are rebuilt from each other: one of them must be intact (a\n"+
		"damaged one is rebuilt at every open anyway; this also replaces files whose checksums pass).\n"+
		"The server must be stopped. The WAL is left for the server to replay; nothing else is written.",
		rebuildExamples, stdout, stderr)
	dir := fs.String("data-dir", "", "data directory (the server stopped)")
	snap := fs.Bool("series", false, "rebuild series.snap from the tag index files first")
	keyFile := keyFileFlag(fs)
	if code, ok := parse(fs, args, stdout); !ok {
		return code
	}
	if *dir == "" || fs.NArg() > 0 {
		return usageError(fs, "--data-dir is required")
	}
	if _, err := os.Stat(filepath.Join(*dir, "wal")); err != nil {
		return fail(stderr, "rebuild-index", fmt.Errorf("%s is not a Lightning DB data directory (no wal/): %w", *dir, err))
	}
	dirs := []string{*dir}
	tiers, _ := os.ReadDir(filepath.Join(*dir, "rollup"))
	for _, t := range tiers {
		if t.IsDir() {
			if _, err := os.Stat(filepath.Join(*dir, "rollup", t.Name(), "wal")); err == nil {
				dirs = append(dirs, filepath.Join(*dir, "rollup", t.Name()))
			}
		}
	}
	opts := engine.DefaultOptions()
	fsys, err := dataFS(*keyFile)
	if err != nil {
		return fail(stderr, "rebuild-index", err)
	}
	opts.FS = fsys
	opts.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	for i, d := range dirs {
		fmt.Fprintf(stderr, "rebuilding %d/%d %s\n", i+1, len(dirs), d)
		opts.WALRetain = forwardHold(opts.FS, d) // WAL not yet forwarded stays
		rep, err := engine.RebuildIndex(d, opts, *snap)
		if err != nil {
			return fail(stderr, "rebuild-index", fmt.Errorf("%s: %w", d, err))
		}
		what := "tag index"
		if rep.Snapshot {
			what = "series.snap and tag index"
		}
		fmt.Fprintf(stdout, "%s: rebuilt %s: %d index files written, %d partitions, %d series\n",
			d, what, rep.IndexFiles, rep.Partitions, rep.Series)
	}
	return 0
}
