// Command lightning-admin maintains a Lightning DB data directory.
//
//	lightning-admin verify --data-dir DIR
//
// verify checks every segment block's checksum (and that it decodes), the
// manifest and the tag index files, and prints each damage with its file and
// offset. It exits 1 when it found damage, 2 on usage or I/O errors.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/lightningdb/lightningdb/engine"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "usage: lightning-admin verify --data-dir DIR")
		return 2
	}
	switch args[0] {
	case "verify":
		return verify(args[1:], stdout, stderr)
	}
	fmt.Fprintf(stderr, "lightning-admin: unknown command %q\n", args[0])
	return 2
}

func verify(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("data-dir", "", "data directory")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *dir == "" {
		fmt.Fprintln(stderr, "verify: --data-dir is required")
		return 2
	}
	rep, err := engine.Verify(*dir)
	if err != nil {
		fmt.Fprintln(stderr, "verify:", err)
		return 2
	}
	for _, d := range rep.Damage {
		fmt.Fprintf(stdout, "DAMAGED %s offset %d: %v\n", d.File, d.Offset, d.Err)
	}
	fmt.Fprintf(stdout, "%d segments, %d blocks, %d samples, %d bytes checked; %d damaged\n",
		rep.Segments, rep.Blocks, rep.Samples, rep.Bytes, len(rep.Damage))
	if len(rep.Damage) > 0 {
		return 1
	}
	return 0
}
