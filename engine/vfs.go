package engine

import (
	"io"
	"os"
	"path/filepath"
)

// FS is the file system seam every engine file operation goes through, so
// tests can inject I/O errors by operation and path (Pebble's vfs.FS and
// errorfs). OSFS is the real one.
type FS interface {
	// OpenFile opens or creates a file like os.OpenFile.
	OpenFile(name string, flag int, perm os.FileMode) (File, error)
	ReadFile(name string) ([]byte, error)
	Remove(name string) error
	Rename(oldname, newname string) error
	MkdirAll(dir string, perm os.FileMode) error
	// ReadDir lists the names of the entries of dir, sorted.
	ReadDir(dir string) ([]string, error)
	// SyncDir fsyncs a directory so that creations, renames and removals
	// in it are durable.
	SyncDir(dir string) error
	// Lock takes an exclusive lock on the file name, creating it, without
	// waiting: a lock held already, by this process or another, is an
	// error matching ErrLocked. Closing the result releases the lock.
	Lock(name string) (io.Closer, error)
}

// File is an open file of an FS.
type File interface {
	io.Writer
	io.ReaderAt
	io.Seeker
	io.Closer
	Sync() error
	Truncate(size int64) error
	Name() string
}

// OSFS is the operating system's file system.
type OSFS struct{}

var _ FS = OSFS{}

// OpenFile implements FS.
func (OSFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	return os.OpenFile(name, flag, perm)
}

// ReadFile implements FS.
func (OSFS) ReadFile(name string) ([]byte, error) { return os.ReadFile(name) }

// Remove implements FS.
func (OSFS) Remove(name string) error { return os.Remove(name) }

// Rename implements FS.
func (OSFS) Rename(oldname, newname string) error { return os.Rename(oldname, newname) }

// MkdirAll implements FS.
func (OSFS) MkdirAll(dir string, perm os.FileMode) error { return os.MkdirAll(dir, perm) }

// ReadDir implements FS.
func (OSFS) ReadDir(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(ents))
	for i, e := range ents {
		names[i] = e.Name()
	}
	return names, nil
}

// SyncDir implements FS.
func (OSFS) SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// writeFileAtomic writes data to name through a temporary file: write,
// fsync, rename, fsync the directory. A crash leaves either the old file or
// the new one, never a half-written one under the final name.
func writeFileAtomic(fs FS, name string, write func(io.Writer) error) error {
	tmp := name + ".tmp"
	f, err := fs.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := fs.Rename(tmp, name); err != nil {
		return err
	}
	if err := fs.SyncDir(filepath.Dir(name)); err != nil {
		return &renamedError{err: err}
	}
	return nil
}

// renamedError is writeFileAtomic's error when the new file is in place
// (the rename was done) but the directory fsync failed: the new file is
// what a reopen reads, unless the machine crashes first.
type renamedError struct{ err error }

func (e *renamedError) Error() string { return "renamed, but sync directory: " + e.err.Error() }
func (e *renamedError) Unwrap() error { return e.err }
