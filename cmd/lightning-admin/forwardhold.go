package main

import (
	"os"

	"github.com/lightningdb/lightningdb/engine"
	"github.com/lightningdb/lightningdb/forward"
)

// forwardHold returns the WAL hold of a data directory whose server
// forwards (docs/forwarding.md): the segments from the forward cursor's
// on, which repair and rebuild-index must keep as the server does, or nil
// when the directory has no cursor. A cursor that cannot be read holds
// every segment.
func forwardHold(fsys engine.FS, dir string) func() uint64 {
	path := forward.CursorPath(dir)
	if _, err := os.Stat(path); err != nil {
		return nil
	}
	seq := uint64(1) // the oldest segment on
	if pos, err := forward.LoadCursor(fsys, path); err == nil && pos.Seq > 0 {
		seq = pos.Seq
	}
	return func() uint64 { return seq }
}
