package engine

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// crashFS is an in-memory FS that keeps apart what is durable, as a power
// cut would (Pebble's vfs.MemFS with CrashClone): a file's data is durable
// up to its last Sync, and a directory's entries (creations, renames and
// removals, of files and subdirectories) only once the directory is
// synced. CrashClone returns the durable state as a new crashFS: what a
// machine would find after losing power at that moment. The root "/" is
// always durable.
//
// beforeSync, when set, is called before each sync point (a File.Sync or
// a SyncDir), numbered from 1, without the lock held: a power-cut test
// takes its CrashClone there. After kill, every operation but Close fails
// with errPowerCut, so nothing is acknowledged past the cut.
type crashFS struct {
	mu         sync.Mutex
	root       *memNode
	syncs      int
	beforeSync func(n int, path string)
	dead       bool
	locks      map[string]bool // Lock: names locked now (a power cut releases them: a clone has none)
}

var _ FS = (*crashFS)(nil)

var errPowerCut = errors.New("power cut (test)")

type memNode struct {
	dir      bool
	data     []byte              // file: the page cache
	synced   []byte              // file: what is on disk
	children map[string]*memNode // dir: the entries as the process sees them
	durable  map[string]*memNode // dir: the entries as of the last SyncDir
}

func newDirNode() *memNode {
	return &memNode{dir: true, children: map[string]*memNode{}, durable: map[string]*memNode{}}
}

func newCrashFS() *crashFS { return &crashFS{root: newDirNode()} }

// CrashClone returns the durable state as a new crashFS.
func (c *crashFS) CrashClone() *crashFS {
	c.mu.Lock()
	defer c.mu.Unlock()
	return &crashFS{root: cloneDurable(c.root, true)}
}

func cloneDurable(n *memNode, root bool) *memNode {
	if !n.dir {
		d := slices.Clone(n.synced)
		return &memNode{data: d, synced: slices.Clone(d)}
	}
	out := newDirNode()
	entries := n.durable
	if root {
		entries = n.children
	}
	for name, child := range entries {
		cc := cloneDurable(child, false)
		out.children[name], out.durable[name] = cc, cc
	}
	return out
}

// kill makes every later operation fail: the machine is off.
func (c *crashFS) kill() {
	c.mu.Lock()
	c.dead = true
	c.mu.Unlock()
}

// syncPoint counts a sync and calls beforeSync; it reports false when the
// power is off.
func (c *crashFS) syncPoint(path string) bool {
	c.mu.Lock()
	if c.dead {
		c.mu.Unlock()
		return false
	}
	c.syncs++
	n, hook := c.syncs, c.beforeSync
	c.mu.Unlock()
	if hook != nil {
		hook(n, path)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return !c.dead
}

func splitPath(name string) []string {
	name = filepath.Clean(name)
	if name == "/" || name == "." {
		return nil
	}
	return strings.Split(strings.TrimPrefix(name, "/"), "/")
}

// lookup returns the node of name, or nil. c.mu is held.
func (c *crashFS) lookup(name string) *memNode {
	n := c.root
	for _, p := range splitPath(name) {
		if !n.dir {
			return nil
		}
		if n = n.children[p]; n == nil {
			return nil
		}
	}
	return n
}

// parent returns the directory holding name and name's base. c.mu is held.
func (c *crashFS) parent(op, name string) (*memNode, string, error) {
	d := c.lookup(filepath.Dir(name))
	if d == nil || !d.dir {
		return nil, "", &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
	}
	return d, filepath.Base(name), nil
}

func (c *crashFS) deadErr(op, name string) error {
	if c.dead {
		return &fs.PathError{Op: op, Path: name, Err: errPowerCut}
	}
	return nil
}

// OpenFile implements FS.
func (c *crashFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.deadErr("open", name); err != nil {
		return nil, err
	}
	d, base, err := c.parent("open", name)
	if err != nil {
		return nil, err
	}
	n := d.children[base]
	switch {
	case n == nil && flag&os.O_CREATE == 0:
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	case n == nil:
		n = &memNode{}
		d.children[base] = n
	case flag&(os.O_CREATE|os.O_EXCL) == os.O_CREATE|os.O_EXCL:
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrExist}
	case n.dir:
		return nil, &fs.PathError{Op: "open", Path: name, Err: syscall.EISDIR}
	}
	if flag&os.O_TRUNC != 0 {
		n.data = nil
	}
	f := &memFile{fs: c, n: n, name: name, write: flag&(os.O_WRONLY|os.O_RDWR) != 0}
	if flag&os.O_APPEND != 0 {
		f.off = int64(len(n.data))
	}
	return f, nil
}

// Lock implements FS: like flock, one holder per name at a time, the file
// created if need be.
func (c *crashFS) Lock(name string) (io.Closer, error) {
	f, err := c.OpenFile(name, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	f.Close()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.locks[name] {
		return nil, fmt.Errorf("%w: %s", ErrLocked, name)
	}
	if c.locks == nil {
		c.locks = map[string]bool{}
	}
	c.locks[name] = true
	return closerFunc(func() error {
		c.mu.Lock()
		defer c.mu.Unlock()
		delete(c.locks, name)
		return nil
	}), nil
}

type closerFunc func() error

func (f closerFunc) Close() error { return f() }

// ReadFile implements FS.
func (c *crashFS) ReadFile(name string) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.deadErr("read", name); err != nil {
		return nil, err
	}
	n := c.lookup(name)
	if n == nil || n.dir {
		return nil, &fs.PathError{Op: "read", Path: name, Err: fs.ErrNotExist}
	}
	return slices.Clone(n.data), nil
}

// MapFile implements FS: the mapping is a copy of the file's data.
func (c *crashFS) MapFile(name string) ([]byte, func() error, error) {
	data, err := c.ReadFile(name)
	if err != nil {
		return nil, nil, err
	}
	return data, func() error { return nil }, nil
}

// Remove implements FS.
func (c *crashFS) Remove(name string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.deadErr("remove", name); err != nil {
		return err
	}
	d, base, err := c.parent("remove", name)
	if err != nil {
		return err
	}
	n := d.children[base]
	if n == nil {
		return &fs.PathError{Op: "remove", Path: name, Err: fs.ErrNotExist}
	}
	if n.dir && len(n.children) > 0 {
		return &fs.PathError{Op: "remove", Path: name, Err: syscall.ENOTEMPTY}
	}
	delete(d.children, base)
	return nil
}

// Rename implements FS.
func (c *crashFS) Rename(oldname, newname string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.deadErr("rename", oldname); err != nil {
		return err
	}
	od, obase, err := c.parent("rename", oldname)
	if err != nil {
		return err
	}
	nd, nbase, err := c.parent("rename", newname)
	if err != nil {
		return err
	}
	n := od.children[obase]
	if n == nil {
		return &os.LinkError{Op: "rename", Old: oldname, New: newname, Err: fs.ErrNotExist}
	}
	delete(od.children, obase)
	nd.children[nbase] = n
	return nil
}

// MkdirAll implements FS.
func (c *crashFS) MkdirAll(dir string, perm os.FileMode) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.deadErr("mkdir", dir); err != nil {
		return err
	}
	n := c.root
	for _, p := range splitPath(dir) {
		child := n.children[p]
		if child == nil {
			child = newDirNode()
			n.children[p] = child
		} else if !child.dir {
			return &fs.PathError{Op: "mkdir", Path: dir, Err: syscall.ENOTDIR}
		}
		n = child
	}
	return nil
}

// ReadDir implements FS.
func (c *crashFS) ReadDir(dir string) ([]string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.deadErr("readdir", dir); err != nil {
		return nil, err
	}
	n := c.lookup(dir)
	if n == nil || !n.dir {
		return nil, &fs.PathError{Op: "readdir", Path: dir, Err: fs.ErrNotExist}
	}
	return slices.Sorted(mapKeys(n.children)), nil
}

// SyncDir implements FS: the directory's entries become durable.
func (c *crashFS) SyncDir(dir string) error {
	if !c.syncPoint(dir) {
		return &fs.PathError{Op: "syncdir", Path: dir, Err: errPowerCut}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.lookup(dir)
	if n == nil || !n.dir {
		return &fs.PathError{Op: "syncdir", Path: dir, Err: fs.ErrNotExist}
	}
	n.durable = maps.Clone(n.children)
	return nil
}

// memFile is an open file of a crashFS.
type memFile struct {
	fs     *crashFS
	n      *memNode
	name   string
	off    int64
	write  bool
	closed bool
}

func (f *memFile) check(op string, write bool) error {
	switch {
	case f.closed:
		return &fs.PathError{Op: op, Path: f.name, Err: fs.ErrClosed}
	case f.fs.dead:
		return &fs.PathError{Op: op, Path: f.name, Err: errPowerCut}
	case write && !f.write:
		return &fs.PathError{Op: op, Path: f.name, Err: syscall.EBADF}
	}
	return nil
}

func (f *memFile) Write(p []byte) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check("write", true); err != nil {
		return 0, err
	}
	if end := f.off + int64(len(p)); end > int64(len(f.n.data)) {
		f.n.data = append(f.n.data, make([]byte, end-int64(len(f.n.data)))...)
	}
	copy(f.n.data[f.off:], p)
	f.off += int64(len(p))
	return len(p), nil
}

func (f *memFile) ReadAt(p []byte, off int64) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check("read", false); err != nil {
		return 0, err
	}
	if off >= int64(len(f.n.data)) {
		return 0, io.EOF
	}
	n := copy(p, f.n.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (f *memFile) Seek(offset int64, whence int) (int64, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check("seek", false); err != nil {
		return 0, err
	}
	switch whence {
	case io.SeekCurrent:
		offset += f.off
	case io.SeekEnd:
		offset += int64(len(f.n.data))
	}
	if offset < 0 {
		return 0, &fs.PathError{Op: "seek", Path: f.name, Err: syscall.EINVAL}
	}
	f.off = offset
	return offset, nil
}

func (f *memFile) Truncate(size int64) error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check("truncate", true); err != nil {
		return err
	}
	if size <= int64(len(f.n.data)) {
		f.n.data = f.n.data[:size:size]
	} else {
		f.n.data = append(f.n.data, make([]byte, size-int64(len(f.n.data)))...)
	}
	return nil
}

// Sync makes the file's data durable (not its directory entry).
func (f *memFile) Sync() error {
	if !f.fs.syncPoint(f.name) {
		return &fs.PathError{Op: "sync", Path: f.name, Err: errPowerCut}
	}
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check("sync", false); err != nil {
		return err
	}
	f.n.synced = slices.Clone(f.n.data)
	return nil
}

func (f *memFile) Close() error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.closed {
		return &fs.PathError{Op: "close", Path: f.name, Err: fs.ErrClosed}
	}
	f.closed = true
	return nil
}

func (f *memFile) Name() string { return f.name }

// TestCrashFSKeepsOnlySynced: CrashClone keeps file data up to the last
// Sync, and directory entries as of the directory's last sync.
func TestCrashFSKeepsOnlySynced(t *testing.T) {
	c := newCrashFS()
	must(t, c.MkdirAll("/d/sub", 0o755))
	must(t, c.SyncDir("/d"))
	write := func(name, data string, sync bool) {
		f, err := c.OpenFile(name, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		must(t, err)
		_, err = f.Write([]byte(data))
		must(t, err)
		if sync {
			must(t, f.Sync())
		}
		must(t, f.Close())
	}
	write("/d/sub/a", "synced", true)
	must(t, c.SyncDir("/d/sub"))
	write("/d/sub/a", "+lost", false)
	write("/d/sub/b", "synced, entry not", true)
	must(t, c.Rename("/d/sub/a", "/d/sub/c")) // not durable until the dir is synced
	got := c.CrashClone()
	names, err := got.ReadDir("/d/sub")
	must(t, err)
	if fmt.Sprint(names) != "[a]" {
		t.Fatalf("entries after crash %v, want [a]", names)
	}
	if b, _ := got.ReadFile("/d/sub/a"); string(b) != "synced" {
		t.Fatalf("data after crash %q", b)
	}
	must(t, c.SyncDir("/d/sub"))
	got = c.CrashClone()
	if names, _ := got.ReadDir("/d/sub"); fmt.Sprint(names) != "[b c]" {
		t.Fatalf("entries after the dir sync %v, want [b c]", names)
	}
	// A subdirectory not synced into its parent is lost with its files.
	must(t, c.MkdirAll("/d/new", 0o755))
	write("/d/new/f", "x", true)
	must(t, c.SyncDir("/d/new"))
	if _, err := c.CrashClone().ReadDir("/d/new"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("unsynced directory after crash: %v", err)
	}
}
