package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/lightningdb/lightningdb/backup"
	"github.com/lightningdb/lightningdb/engine"
)

const backupExamples = `  # snapshot the running server, back it up, delete the snapshot (the second run is incremental)
  lightning-admin backup --url http://127.0.0.1:8086 --data-dir /var/lib/lightning-db --dest /backup/ldb
  # an existing snapshot, or a stopped server's data directory
  lightning-admin backup --snapshot-dir /var/lib/lightning-db/snapshots/20261207T063233Z-18eee50eb84e8f4d --dest /backup/ldb
  # a tar stream of a snapshot, compressed and sent elsewhere
  lightning-admin backup --url http://127.0.0.1:8086 --data-dir /var/lib/lightning-db --tar - | zstd | ssh host 'cat > ldb.tar.zst'
`

func backupCmd(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("backup", "backup (--url URL --data-dir DIR | --snapshot-dir DIR) (--dest DIR | --tar -) [--full] [--name NAME]\n\n"+
		"Backs up a snapshot into DEST: content-addressed zstd-compressed files and a manifest of their\n"+
		"SHA-256 checksums (DEST/backups/NAME.json). Files DEST holds already are not copied again\n"+
		"(an incremental backup) unless --full. With --tar -, writes a tar of the data directory to stdout.\n"+
		"With --url, it makes a snapshot of the running server first and deletes it afterwards.", backupExamples, stdout, stderr)
	c := addClientFlags(fs)
	dataDir := fs.String("data-dir", "", "the server's data directory (with --url: where its snapshots are)")
	snapDir := fs.String("snapshot-dir", "", "a snapshot directory, or a stopped server's data directory")
	dest := fs.String("dest", "", "backup directory")
	tarOut := fs.String("tar", "", `"-": write a tar to stdout instead of --dest`)
	full := fs.Bool("full", false, "write every file even when --dest holds it")
	name := fs.String("name", "", "backup name (default: the time, 20060102T150405Z)")
	keep := fs.Bool("keep-snapshot", false, "with --url: keep the snapshot made for the backup")
	if code, ok := parse(fs, args, stdout); !ok {
		return code
	}
	switch {
	case fs.NArg() > 0:
		return usageError(fs, "unexpected argument %q", fs.Arg(0))
	case (*dest == "") == (*tarOut == ""):
		return usageError(fs, "one of --dest DIR and --tar - is required")
	case *tarOut != "" && *tarOut != "-":
		return usageError(fs, "--tar takes only - (stdout); redirect it to a file")
	case (*snapDir == "") == (*dataDir == ""):
		return usageError(fs, "one of --snapshot-dir and --data-dir (with --url) is required")
	}
	src := *snapDir
	if src != "" {
		unlock, err := lockStopped(src)
		if err != nil {
			return fail(stderr, "backup", err)
		}
		defer unlock.Close()
	} else {
		snap, err := c.create()
		if err != nil {
			return fail(stderr, "backup", fmt.Errorf("create snapshot: %w", err))
		}
		if !*keep {
			defer func() {
				if err := c.delete(snap); err != nil {
					fmt.Fprintf(stderr, "backup: delete snapshot %s: %v\n", snap, err)
				}
			}()
		}
		src = filepath.Join(*dataDir, "snapshots", snap)
	}
	pr := newProgress(stderr, "backup")
	opts := backup.Options{Name: *name, Full: *full, Progress: pr.update}
	if *tarOut != "" {
		if _, err := backup.WriteTar(src, stdout, opts); err != nil {
			return fail(stderr, "backup", err)
		}
		pr.done()
		return 0
	}
	st, err := backup.Create(src, *dest, opts)
	if err != nil {
		return fail(stderr, "backup", err)
	}
	pr.done()
	fmt.Fprintf(stdout, "backup %s: %d files, %d bytes; wrote %d new objects, %d bytes compressed, to %s\n",
		st.Name, st.Files, st.Bytes, st.Written, st.WrittenBytes, *dest)
	return 0
}

// lockStopped takes the data directory lock of dir when it has a LOCK
// file (a snapshot has none), so that a running server's directory is
// refused and no server starts on it during the backup.
func lockStopped(dir string) (io.Closer, error) {
	name := filepath.Join(dir, "LOCK")
	if _, err := os.Stat(name); err != nil {
		return io.NopCloser(nil), nil
	}
	l, err := engine.OSFS{}.Lock(name)
	if errors.Is(err, engine.ErrLocked) {
		return nil, fmt.Errorf("%s is in use by a running server: back up a snapshot of it (--url URL --data-dir DIR)", dir)
	}
	return l, err
}

const restoreExamples = `  lightning-admin restore --from /backup/ldb --data-dir /var/lib/lightning-db-new
  lightning-admin restore --from /backup/ldb --backup 20261207T063233Z --data-dir /var/lib/lightning-db-new
  zstd -dc ldb.tar.zst | lightning-admin restore --tar - --data-dir /var/lib/lightning-db-new
`

func restoreCmd(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("restore", "restore (--from DIR [--backup NAME] | --tar -) --data-dir DIR\n\n"+
		"Restores a backup (default: the latest) into an empty or new data directory, checking every\n"+
		"file's checksum; it refuses a directory that holds anything. Start the server on it afterwards.\n"+
		"--tar - reads a tar of backup --tar from stdin and checks it against the manifest at its end.",
		restoreExamples, stdout, stderr)
	from := fs.String("from", "", "backup directory (backup's --dest)")
	tarIn := fs.String("tar", "", `"-": read a tar from stdin instead of --from`)
	name := fs.String("backup", "", "backup name (default: the latest)")
	dataDir := fs.String("data-dir", "", "data directory to restore into (empty or missing)")
	if code, ok := parse(fs, args, stdout); !ok {
		return code
	}
	if (*from == "") == (*tarIn == "") || *dataDir == "" || fs.NArg() > 0 {
		return usageError(fs, "--data-dir and one of --from and --tar - are required")
	}
	if *tarIn != "" && *tarIn != "-" {
		return usageError(fs, "--tar takes only - (stdin); redirect a file to it")
	}
	pr := newProgress(stderr, "restore")
	var m *backup.Manifest
	var err error
	if *tarIn != "" {
		m, err = backup.RestoreTar(os.Stdin, *dataDir, backup.Options{Progress: pr.update})
	} else {
		m, err = backup.Restore(*from, *name, *dataDir, backup.Options{Progress: pr.update})
	}
	if err != nil {
		return fail(stderr, "restore", err)
	}
	pr.done()
	fmt.Fprintf(stdout, "restored backup %s: %d files, %d bytes, into %s\n", m.Name, len(m.Files), m.Bytes(), *dataDir)
	return 0
}

const verifyBackupExamples = `  lightning-admin verify-backup --from /backup/ldb
  lightning-admin verify-backup --from /backup/ldb --backup 20261207T063233Z
`

func verifyBackupCmd(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("verify-backup", "verify-backup --from DIR [--backup NAME]\n\n"+
		"Checks every file of every backup (or of one) in a backup directory: its object exists,\n"+
		"decompresses, and matches the manifest's size and SHA-256. Exits 1 when it finds damage.",
		verifyBackupExamples, stdout, stderr)
	from := fs.String("from", "", "backup directory")
	name := fs.String("backup", "", "backup name (default: every backup)")
	if code, ok := parse(fs, args, stdout); !ok {
		return code
	}
	if *from == "" || fs.NArg() > 0 {
		return usageError(fs, "--from is required")
	}
	pr := newProgress(stderr, "verify-backup")
	rep, err := backup.Verify(*from, *name, backup.Options{Progress: pr.update})
	if err != nil {
		code := 2
		if errors.Is(err, backup.ErrNoBackup) {
			code = 1
		}
		fmt.Fprintln(stderr, "verify-backup:", err)
		return code
	}
	pr.done()
	for _, d := range rep.Damage {
		fmt.Fprintf(stdout, "DAMAGED backup %s file %s: %v\n", d.Backup, d.File.Path, d.Err)
	}
	fmt.Fprintf(stdout, "%d backups, %d files, %d bytes checked; %d damaged\n", rep.Backups, rep.Files, rep.Bytes, len(rep.Damage))
	if len(rep.Damage) > 0 {
		return 1
	}
	return 0
}

const pruneExamples = `  lightning-admin prune-backups --from /backup/ldb --keep 7
`

func pruneCmd(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("prune-backups", "prune-backups --from DIR --keep N\n\n"+
		"Deletes every backup of a backup directory but the newest N, then every object no remaining\n"+
		"backup names (those of an interrupted backup too). It waits for no backup: one running into\n"+
		"the same directory makes it fail (the directory's LOCK).", pruneExamples, stdout, stderr)
	from := fs.String("from", "", "backup directory")
	keep := fs.Int("keep", 0, "backups to keep (at least 1)")
	if code, ok := parse(fs, args, stdout); !ok {
		return code
	}
	if *from == "" || *keep < 1 || fs.NArg() > 0 {
		return usageError(fs, "--from and --keep (at least 1) are required")
	}
	st, err := backup.Prune(*from, *keep)
	if err != nil {
		return fail(stderr, "prune-backups", err)
	}
	for _, n := range st.Backups {
		fmt.Fprintf(stdout, "deleted backup %s\n", n)
	}
	fmt.Fprintf(stdout, "kept %d backups (%d objects); deleted %d backups and %d objects, %d bytes\n",
		st.KeptBackups, st.KeptObjects, len(st.Backups), st.Objects, st.FreedBytes)
	return 0
}
