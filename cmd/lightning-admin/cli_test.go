package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lightningdb/lightningdb/backup"
	"github.com/lightningdb/lightningdb/engine"
)

// TestHelpAndUsage: --help prints examples on stdout and exits 0; usage
// errors exit 2 naming what is wrong.
func TestHelpAndUsage(t *testing.T) {
	for _, cmd := range []string{"snapshot", "backup", "restore", "verify-backup", "inspect", "export", "import", "prune-backups", "rebuild-index", "verify", "repair", "token", "keygen", "reencrypt"} {
		var stdout, stderr bytes.Buffer
		if code := run([]string{cmd, "--help"}, &stdout, &stderr); code != 0 || !strings.Contains(stdout.String(), "Examples:") {
			t.Errorf("%s --help: exit %d, stdout %q", cmd, code, stdout.String())
		}
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"nope"}, `unknown command "nope"`},
		{[]string{"backup", "--dest", "x"}, "one of --snapshot-dir and --data-dir"},
		{[]string{"backup", "--snapshot-dir", "x", "--tar", "out.tar"}, "--tar takes only -"},
		{[]string{"restore", "--from", "x"}, "--data-dir and one of --from and --tar - are required"},
		{[]string{"restore", "--tar", "f", "--data-dir", "d"}, "--tar takes only -"},
		{[]string{"snapshot", "rename"}, "want create, list, delete NAME"},
		{[]string{"verify-backup", "--bogus"}, "flag provided but not defined: -bogus"},
		{[]string{"rebuild-index"}, "--data-dir is required"},
		{[]string{"verify"}, "--data-dir is required"},
		{[]string{"repair", "--data-dir"}, "flag needs an argument"},
		{[]string{"token"}, "want create, list or revoke"},
		{[]string{"token", "list"}, "--file is required"},
	} {
		var stdout, stderr bytes.Buffer
		if code := run(c.args, &stdout, &stderr); code != 2 || !strings.Contains(stderr.String(), c.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", c.args, code, stderr.String(), c.want)
		}
	}
}

// TestVerifyBackupCommand: a clean backup exits 0, a damaged object 1
// naming the file.
func TestVerifyBackupCommand(t *testing.T) {
	src, dest := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "MANIFEST"), []byte("m"), 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if code := run([]string{"backup", "--snapshot-dir", src, "--dest", dest}, &stdout, &stderr); code != 0 {
		t.Fatalf("backup: %d %s", code, stderr.String())
	}
	if !strings.HasPrefix(stderr.String(), "backup: 1/1 files") {
		t.Errorf("progress on a non-terminal: %q", stderr.String())
	}
	stdout.Reset()
	if code := run([]string{"verify-backup", "--from", dest}, &stdout, &stderr); code != 0 {
		t.Fatalf("verify-backup: %d %s", code, stdout.String())
	}
	objs, _ := filepath.Glob(filepath.Join(dest, "objects", "*", "*.zst"))
	if len(objs) != 1 || os.WriteFile(objs[0], []byte("junk"), 0o644) != nil {
		t.Fatalf("objects %v", objs)
	}
	stdout.Reset()
	if code := run([]string{"verify-backup", "--from", dest}, &stdout, &stderr); code != 1 || !strings.Contains(stdout.String(), "DAMAGED backup") {
		t.Fatalf("verify-backup of a damaged backup: %d %s", code, stdout.String())
	}
	if code := run([]string{"verify-backup", "--from", t.TempDir()}, &stdout, &stderr); code != 1 {
		t.Fatalf("verify-backup of an empty directory: %d", code)
	}
	stdout.Reset()
	if code := run([]string{"prune-backups", "--from", dest, "--keep", "1"}, &stdout, &stderr); code != 0 ||
		!strings.Contains(stdout.String(), "kept 1 backups (1 objects); deleted 0 backups and 0 objects") {
		t.Fatalf("prune-backups: %d %s %s", code, stdout.String(), stderr.String())
	}
}

// TestBackupRefusesRunningDirectory: --snapshot-dir on a directory a
// server (here an open DB) holds is refused; once closed, it is backed up.
func TestBackupRefusesRunningDirectory(t *testing.T) {
	dir := t.TempDir()
	db, err := engine.Open(dir, engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if code := run([]string{"backup", "--snapshot-dir", dir, "--dest", t.TempDir()}, &stdout, &stderr); code != 1 ||
		!strings.Contains(stderr.String(), "in use by a running server") {
		t.Fatalf("backup of an open directory: %d %s", code, stderr.String())
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if code := run([]string{"backup", "--snapshot-dir", dir, "--dest", t.TempDir()}, &stdout, &stderr); code != 0 {
		t.Fatalf("backup of a stopped directory: %d %s", code, stderr.String())
	}
}

// TestProgressOnTerminal: on a terminal the line is redrawn in place,
// then ends with the totals.
func TestProgressOnTerminal(t *testing.T) {
	var buf bytes.Buffer
	p := newProgress(&buf, "backup")
	p.tty = true
	p.update(backup.Progress{Files: 1, FilesTotal: 2, Bytes: 5e6, BytesTotal: 1e7})
	p.done()
	out := buf.String()
	if !strings.HasPrefix(out, "\r\033[Kbackup: 1/2 files, 5.0 MB/10.0 MB, ") || !strings.Contains(out, "\r\033[Kbackup: 1/2 files") ||
		!strings.HasSuffix(out, "\n") {
		t.Fatalf("%q", out)
	}
}
