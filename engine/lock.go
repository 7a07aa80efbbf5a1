package engine

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// lockFile is the name of the directory lock in the data directory. It
// holds the PID of the process that has the directory open; the lock
// itself is a flock on it, which the kernel releases when that process
// ends, however it ends, so a stale file locks nothing.
const lockFile = "LOCK"

// LockedError is Open's error when another DB, in this process or
// another, has the data directory open. It matches ErrLocked.
type LockedError struct {
	Dir string
	PID int // the holder's PID; 0 when the LOCK file did not say
}

func (e *LockedError) Error() string {
	holder := "another process"
	if e.PID > 0 {
		holder = "process " + strconv.Itoa(e.PID)
	}
	return fmt.Sprintf("data directory %s is in use by %s (%s)", e.Dir, holder, lockFile)
}

func (e *LockedError) Unwrap() error { return ErrLocked }

// Lock implements FS: it takes flock(LOCK_EX|LOCK_NB) on name, creating
// the file. flock locks belong to the open file, so a second Lock of the
// same file fails even within one process; the lock lasts until the
// returned Closer is closed or the process ends.
func (OSFS) Lock(name string) (io.Closer, error) {
	f, err := os.OpenFile(name, os.O_CREATE|os.O_RDWR|unix.O_CLOEXEC, 0o644)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: %s", ErrLocked, name)
		}
		return nil, &os.PathError{Op: "flock", Path: name, Err: err}
	}
	return f, nil
}

// lockDir locks the data directory dir, creating it, and writes this
// process's PID into the lock file. It fails with a *LockedError naming
// the holder when the directory is locked already. Open calls it before
// recovery, which removes files the manifest does not list (another
// process's flush output in flight among them).
func lockDir(fsys FS, dir string) (io.Closer, error) {
	// mkdirAllSync: the data directory's entry in its parent must be
	// durable before anything acknowledged is written in it.
	if err := mkdirAllSync(fsys, dir, 0o755); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	name := filepath.Join(dir, lockFile)
	lk, err := fsys.Lock(name)
	if errors.Is(err, ErrLocked) {
		return nil, &LockedError{Dir: dir, PID: readPID(fsys, name)}
	}
	if err != nil {
		return nil, fmt.Errorf("lock data directory: %w", err)
	}
	if err := writePID(fsys, name); err != nil {
		lk.Close()
		return nil, fmt.Errorf("lock data directory: %w", err)
	}
	return lk, nil
}

// writePID replaces the lock file's content with this process's PID. The
// content is for people and error messages only; the flock is the lock.
func writePID(fsys FS, name string) error {
	f, err := fsys.OpenFile(name, os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write([]byte(strconv.Itoa(os.Getpid()) + "\n"))
	return errors.Join(err, f.Close())
}

// readPID returns the PID in the lock file, or 0 when it cannot be read
// (the holder may not have written it yet).
func readPID(fsys FS, name string) int {
	b, err := fsys.ReadFile(name)
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0
	}
	return pid
}

// LockDir locks the data directory dir as Open does (maintenance tools
// that rewrite its files: lightning-admin reencrypt). Closing the result
// releases the lock.
func LockDir(fsys FS, dir string) (io.Closer, error) { return lockDir(fsys, dir) }
