package main

import (
	"fmt"
	"io"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/lightningdb/lightningdb/backup"
)

// progress shows how far a long operation is: on a terminal, one line
// redrawn at most every redrawEvery (files and bytes done, rate); on
// anything else nothing until done, which prints one plain line.
type progress struct {
	w     io.Writer
	verb  string
	tty   bool
	start time.Time
	last  time.Time
	p     backup.Progress
}

const redrawEvery = 200 * time.Millisecond

func newProgress(w io.Writer, verb string) *progress {
	return &progress{w: w, verb: verb, tty: isTerminal(w), start: time.Now()}
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// update is a backup.Options.Progress.
func (p *progress) update(bp backup.Progress) {
	p.p = bp
	if !p.tty || time.Since(p.last) < redrawEvery {
		return
	}
	p.last = time.Now()
	fmt.Fprintf(p.w, "\r\033[K%s: %s", p.verb, p.line())
}

// done ends the progress line with the totals.
func (p *progress) done() {
	if p.tty {
		fmt.Fprint(p.w, "\r\033[K")
	}
	fmt.Fprintf(p.w, "%s: %s in %s\n", p.verb, p.line(), time.Since(p.start).Round(time.Millisecond))
}

func (p *progress) line() string {
	secs := max(time.Since(p.start).Seconds(), 1e-3)
	return fmt.Sprintf("%d/%d files, %s/%s, %.1f MB/s", p.p.Files, p.p.FilesTotal,
		mb(p.p.Bytes), mb(p.p.BytesTotal), float64(p.p.Bytes)/1e6/secs)
}

// mb formats a byte count in kB below a megabyte, MB above.
func mb(n int64) string {
	if n < 1e6 {
		return fmt.Sprintf("%.1f kB", float64(n)/1e3)
	}
	return fmt.Sprintf("%.1f MB", float64(n)/1e6)
}
