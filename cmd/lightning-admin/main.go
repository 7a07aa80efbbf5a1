// Command lightning-admin maintains a Lightning DB data directory.
//
//	lightning-admin verify --data-dir DIR
//
// verify checks every segment block's checksum (and that it decodes), the
// manifest, the tag index files and the WAL records, lists the segments in
// quarantine, and prints each damage with its file and offset, and its
// progress per segment on stderr. It exits 1 when it found damage, 2 on
// usage or I/O errors.
//
//	lightning-admin repair --data-dir DIR
//
// repair opens the directory as the server does, but where the server
// refuses to open because of damage in the WAL, it cuts the WAL at the first
// damaged record and removes every later WAL segment (their records may use
// series defined in the lost range); it prints what it cut and its progress.
// Segments found damaged are moved to DIR/quarantine, as an open does. The
// server must be stopped. It exits 0 when the directory opens now, 2 when
// it could not repair it.
//
//	lightning-admin rebuild-index --data-dir DIR [--series]
//
// rebuild-index rebuilds the tag index files (and series.snap with
// --series) of a stopped data directory and its rollup tiers (rebuild.go).
//
//	lightning-admin token create --file FILE --scope read|write|admin [--db DB]... [--match SELECTOR]... [--description TEXT]
//	lightning-admin token list --file FILE
//	lightning-admin token revoke --file FILE ID
//
// token edits the server's token file (auth.token_file), which keeps only
// each token's SHA-256: create prints the new token once on stdout. The
// server applies a change when it receives SIGHUP (docs/security.md).
//
//	lightning-admin keygen
//	lightning-admin reencrypt --data-dir DIR --encryption-key-file KEYS
//
// keygen prints a new AES-256 key as a key-file line; reencrypt reseals
// every file of a stopped server's data directory with the newest key of
// the key file, so that an old key can be removed (docs/security.md
// "Encryption at rest"). verify, repair, inspect and rebuild-index take
// --encryption-key-file for an encrypted data directory.
package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/lightningdb/lightningdb/engine"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// commands are lightning-admin's subcommands.
var commands = map[string]func(args []string, stdout, stderr io.Writer) int{
	"verify":        verify,
	"repair":        repair,
	"snapshot":      snapshotCmd,
	"backup":        backupCmd,
	"restore":       restoreCmd,
	"verify-backup": verifyBackupCmd,
	"inspect":       inspectCmd,
	"export":        exportCmd,
	"import":        importCmd,
	"prune-backups": pruneCmd,
	"token":         token,
	"keygen":        keygenCmd,
	"reencrypt":     reencryptCmd,
	"rebuild-index": rebuildIndexCmd,
}

const usage = `usage: lightning-admin COMMAND [flags]

Commands:
  verify         check every block, the manifest, the tag index and the WAL of a data directory
  repair         cut a damaged WAL so that a data directory opens again (server stopped)
  snapshot       create, list or delete snapshots of a running server (over HTTP)
  backup         back up a snapshot to a directory (full or incremental) or as a tar on stdout
  restore        restore a backup into an empty data directory
  verify-backup  check every checksum of a backup directory
  prune-backups  delete all but the newest N backups of a backup directory and the objects they alone used
  rebuild-index  rebuild the tag index (and series.snap with --series) of a data directory (server stopped)
  inspect        partitions, segments, series and samples, sizes, rollup tiers of a data directory
  export         stream a running server's samples as JSON lines or line protocol
  import         stream JSON lines (ours, VictoriaMetrics') or line protocol (influx_inspect export) into a server
  token          create, list or revoke the server's access tokens in its token file
  keygen         print a new encryption key (a key-file line) for encryption at rest
  reencrypt      reseal every file of a data directory with the newest key (server stopped)

Run 'lightning-admin COMMAND --help' for a command's flags and examples.
Exit codes: 0 success, 1 damage found or the operation failed, 2 usage error.
`

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "lightning-admin: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	return cmd(args[1:], stdout, stderr)
}

const verifyExamples = `  lightning-admin verify --data-dir /var/lib/lightning-db
  lightning-admin verify --data-dir /var/lib/lightning-db/snapshots/20261207T063233Z-18eee50eb84e8f4d
  lightning-admin verify --data-dir /var/lib/lightning-db --encryption-key-file /etc/lightning-db/keys
`

func verify(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("verify", "verify --data-dir DIR [--encryption-key-file FILE]\n\n"+
		"Checks every segment block's checksum (and that it decodes), the manifest, the tag index files\n"+
		"and the WAL records, and lists the segments in quarantine. Each damage is printed with its file\n"+
		"and offset; progress goes to stderr. It reads only. Exit 1 when damage was found, 2 on usage\n"+
		"or I/O errors.", verifyExamples, stdout, stderr)
	dir := fs.String("data-dir", "", "data directory (or a snapshot)")
	keyFile := keyFileFlag(fs)
	if code, ok := parse(fs, args, stdout); !ok {
		return code
	}
	if *dir == "" || fs.NArg() > 0 {
		return usageError(fs, "--data-dir is required")
	}
	fsys, err := dataFS(*keyFile)
	if err != nil {
		fmt.Fprintln(stderr, "verify:", err)
		return 2
	}
	rep, err := engine.VerifyOn(fsys, *dir, func(seg, segs int, file string) {
		fmt.Fprintf(stderr, "checking segment %d/%d %s\n", seg, segs, filepath.Base(file))
	})
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

const repairExamples = `  # the server refused to start and named this command (server stopped)
  lightning-admin repair --data-dir /var/lib/lightning-db
`

func repair(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("repair", "repair --data-dir DIR [--encryption-key-file FILE]\n\n"+
		"Opens the directory as the server does, but where the server refuses to open because of damage\n"+
		"in the WAL, cuts the WAL at the first damaged record and removes every later WAL segment, and\n"+
		"prints what it cut. Damaged segments are moved to DIR/quarantine. The server must be stopped.\n"+
		"Exit 0 when the directory opens now, 2 when it could not be repaired or on usage errors.",
		repairExamples, stdout, stderr)
	dir := fs.String("data-dir", "", "data directory (the server stopped)")
	keyFile := keyFileFlag(fs)
	if code, ok := parse(fs, args, stdout); !ok {
		return code
	}
	if *dir == "" || fs.NArg() > 0 {
		return usageError(fs, "--data-dir is required")
	}
	opts := engine.DefaultOptions()
	fsys, err := dataFS(*keyFile)
	if err != nil {
		fmt.Fprintln(stderr, "repair:", err)
		return 2
	}
	opts.FS = fsys
	opts.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	progress := func(p engine.RepairProgress) {
		fmt.Fprintf(stderr, "replaying WAL segment %d/%d %s (%d bytes)\n",
			p.Segment, p.Segments, filepath.Base(p.File), p.Bytes)
	}
	opts.WALRetain = forwardHold(fsys, *dir) // WAL not yet forwarded stays
	rep, err := engine.Repair(*dir, opts, progress)
	if err != nil {
		fmt.Fprintln(stderr, "repair:", err)
		return 2
	}
	printRepair(stdout, rep)
	return 0
}

func printRepair(w io.Writer, rep *engine.RepairReport) {
	for _, q := range rep.Quarantined {
		fmt.Fprintf(w, "quarantined damaged segment %s\n", q)
	}
	for _, m := range rep.Missing {
		fmt.Fprintf(w, "dropped missing segment %s from the manifest\n", m)
	}
	if rep.Cut == nil {
		fmt.Fprintln(w, "WAL: no damage; nothing cut")
		return
	}
	fmt.Fprintf(w, "cut %s at offset %d (%v): dropped %d bytes\n",
		rep.Cut.File, rep.Cut.Offset, rep.Cut.Err, rep.CutBytes)
	for _, name := range rep.Removed {
		fmt.Fprintf(w, "removed later WAL segment %s\n", name)
	}
	fmt.Fprintf(w, "WAL repaired: %d bytes dropped in all; the database opens now\n", rep.CutBytes+rep.RemovedBytes)
}
