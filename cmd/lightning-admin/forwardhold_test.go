package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/lightningdb/lightningdb/engine"
	"github.com/lightningdb/lightningdb/forward"
	"github.com/lightningdb/lightningdb/series"
)

// TestRebuildIndexKeepsForwardedWAL: a directory whose server forwards
// keeps the WAL from the forward cursor on through rebuild-index (and
// repair), as the server does; without a cursor the tools keep nothing
// the checkpoint passed.
func TestRebuildIndexKeepsForwardedWAL(t *testing.T) {
	for _, withCursor := range []bool{true, false} {
		dir := t.TempDir()
		db, err := engine.Open(dir, engine.Options{WALRetain: func() uint64 { return 1 }})
		if err != nil {
			t.Fatal(err)
		}
		var b series.Batch
		b.AddSeries(series.FromStrings("__name__", "m"), series.TypeFloat)
		b.AppendFloat(1e18, 1)
		if _, err := db.Append(context.Background(), &b); err != nil {
			t.Fatal(err)
		}
		if err := db.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		first := filepath.Join(dir, "wal", "00000000000000000001.wal")
		if _, err := os.Stat(first); err != nil {
			t.Fatalf("the hold kept no WAL segment 1: %v", err)
		}
		if withCursor {
			if err := forward.SaveCursor(engine.OSFS{}, forward.CursorPath(dir), engine.WALPosition{Seq: 1}); err != nil {
				t.Fatal(err)
			}
		}
		var stdout, stderr bytes.Buffer
		if code := run([]string{"rebuild-index", "--data-dir", dir}, &stdout, &stderr); code != 0 {
			t.Fatalf("rebuild-index: %d %s", code, stderr.String())
		}
		_, err = os.Stat(first)
		if withCursor && err != nil {
			t.Errorf("with a forward cursor at segment 1, rebuild-index deleted it: %v", err)
		}
		if !withCursor && err == nil {
			t.Errorf("without a forward cursor, rebuild-index kept WAL segment 1 that the checkpoint passed")
		}
	}
}
