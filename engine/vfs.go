package engine

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/lightningdb/lightningdb/internal/encrypt"
)

// FS is the file system seam every engine file operation goes through: the
// WAL, segments (written, mapped and read), the manifest, the series
// snapshot and the tag index files. OSFS is the real one; tests use an
// in-memory one that can inject errors by operation and path
// (errorfs_test.go, Pebble's errorfs) and simulate a power cut, keeping
// only what was synced (crashfs_test.go, Pebble's CrashClone). A lint test
// (TestFSSeam) fails when a non-test file of engine or tagindex calls the
// os or mmap functions directly, outside OSFS.
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
	// MapFile maps a whole file read-only. unmap releases the mapping;
	// data must not be used after it. An empty file gives empty data.
	MapFile(name string) (data []byte, unmap func() error, err error)
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

// MapFile implements FS with mmap(2), MAP_SHARED and PROT_READ.
func (OSFS) MapFile(name string) ([]byte, func() error, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	size := fi.Size()
	if size == 0 {
		return []byte{}, func() error { return nil }, nil
	}
	if size != int64(int(size)) {
		return nil, nil, fmt.Errorf("cannot map %s of %d bytes", name, size)
	}
	data, err := unix.Mmap(int(f.Fd()), 0, int(size), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return nil, nil, &os.PathError{Op: "mmap", Path: name, Err: err}
	}
	return data, func() error { return unix.Munmap(data) }, nil
}

// mapAnon maps size bytes of anonymous private memory, outside the Go
// heap (EncFS decodes sealed segments into it).
func (OSFS) mapAnon(size int) ([]byte, func() error, error) {
	b, err := unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANON)
	if err != nil {
		return nil, nil, err
	}
	return b, func() error { return unix.Munmap(b) }, nil
}

// mkdirAllSync creates dir and its missing parents like MkdirAll, and
// fsyncs the parent of each directory it created: a new directory's entry
// is durable only once its parent is synced, and without it a power cut
// loses the directory with every file in it (the WAL of a new database).
func mkdirAllSync(fsys FS, dir string, perm os.FileMode) error {
	var missing []string
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		_, err := fsys.ReadDir(d)
		if err == nil {
			break
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		missing = append(missing, d)
		if filepath.Dir(d) == d {
			break
		}
	}
	if err := fsys.MkdirAll(dir, perm); err != nil {
		return err
	}
	for i := len(missing) - 1; i >= 0; i-- {
		if err := fsys.SyncDir(filepath.Dir(missing[i])); err != nil {
			return err
		}
	}
	return nil
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
	if _, ok := fs.(*EncFS); ok {
		// Every write is a sealed frame: fill them (tag index files are
		// written a name at a time).
		bw := bufio.NewWriterSize(f, encrypt.MaxFramePlain)
		err = write(bw)
		if err == nil {
			err = bw.Flush()
		}
	} else {
		err = write(f)
	}
	if err != nil {
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
