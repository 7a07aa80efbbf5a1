package engine

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/lightningdb/lightningdb/series"
)

// TestDirLock: a second Open of a data directory that is open fails at
// once with an error naming the directory and the holder's PID, and
// touches no file (recovery would remove what the manifest does not list,
// such as the holder's flush output in flight); after Close it opens.
func TestDirLock(t *testing.T) {
	dir := t.TempDir()
	db := mustOpen(t, dir, Options{})
	appendOne(t, db, labels("a"), series.TypeFloat, 1, 5)
	inFlight := filepath.Join(dir, segDir, "000099"+segSuffix) // not in the manifest
	if err := os.WriteFile(inFlight, []byte("flush in progress"), 0o644); err != nil {
		t.Fatal(err)
	}

	db2, err := Open(dir, Options{})
	if err == nil {
		db2.Close()
		t.Fatal("second Open of an open data directory succeeded")
	}
	var le *LockedError
	if !errors.As(err, &le) || !errors.Is(err, ErrLocked) || le.PID != os.Getpid() {
		t.Fatalf("err = %#v, want a LockedError with PID %d", err, os.Getpid())
	}
	want := "data directory " + dir + " is in use by process " + strconv.Itoa(os.Getpid()) + " (LOCK)"
	if err.Error() != want {
		t.Fatalf("err = %q, want %q", err, want)
	}
	if _, err := os.Stat(inFlight); err != nil {
		t.Fatalf("the failed Open touched the holder's files: %v", err)
	}
	if got := readAll(db, labels("a")); len(got) != 1 {
		t.Fatalf("holder's data after the failed Open: %v", got)
	}
	appendOne(t, db, labels("a"), series.TypeFloat, 2, 6)

	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = mustOpen(t, dir, Options{})
	defer db.Close()
	if got := readAll(db, labels("a")); len(got) != 2 {
		t.Fatalf("after reopen: %v", got)
	}
}

// TestDirLockStaleFile: a LOCK file left by a process that ended (the
// kernel released its flock) does not stop Open, which writes its own PID.
func TestDirLockStaleFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, lockFile), []byte("999999\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	db := mustOpen(t, dir, Options{})
	defer db.Close()
	b, err := os.ReadFile(filepath.Join(dir, lockFile))
	if err != nil || strings.TrimSpace(string(b)) != strconv.Itoa(os.Getpid()) {
		t.Fatalf("LOCK holds %q (%v), want our PID %d", b, err, os.Getpid())
	}
}
