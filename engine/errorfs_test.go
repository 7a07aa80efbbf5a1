package engine

import (
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// opKind is a kind of file system operation, as a bit set.
type opKind uint32

const (
	opOpen     opKind = 1 << iota // OpenFile of an existing file (no O_CREATE)
	opCreate                      // OpenFile with O_CREATE
	opRead                        // ReadFile, File.ReadAt
	opWrite                       // File.Write
	opSync                        // File.Sync
	opTruncate                    // File.Truncate
	opRename                      // Rename (matched on the new name and the old)
	opRemove                      // Remove
	opMkdir                       // MkdirAll
	opReadDir                     // ReadDir
	opSyncDir                     // SyncDir
	opMmap                        // MapFile
	opAll      = opMmap<<1 - 1
)

var opNames = []string{"open", "create", "read", "write", "sync", "truncate", "rename", "remove",
	"mkdir", "readdir", "syncdir", "mmap"}

func (k opKind) String() string {
	var s []string
	for i, n := range opNames {
		if k&(1<<i) != 0 {
			s = append(s, n)
		}
	}
	return strings.Join(s, "|")
}

// errorRule injects errors into operations of the kinds ops on paths whose
// base name matches pattern (filepath.Match; "" matches every path).
type errorRule struct {
	ops     opKind
	pattern string
	// prob is the probability that a matching operation fails, drawn
	// from the FS's seeded generator; 0 means always.
	prob float64
	// err is the error, wrapped in a *fs.PathError naming the operation
	// and path; nil means errInjected.
	err error
	// short makes a failing write write half its bytes first.
	short bool
	// skip lets the first skip matching operations pass (Pebble's
	// OnIndex): the fault hits one chosen occurrence.
	skip int
}

func (r *errorRule) matches(op opKind, path string) bool {
	if r.ops&op == 0 {
		return false
	}
	if r.pattern == "" {
		return true
	}
	ok, err := filepath.Match(r.pattern, filepath.Base(path))
	return err == nil && ok
}

// errorFS wraps an FS and fails the operations its rules select (Pebble's
// errorfs): by operation kind and path pattern, always or with a
// probability drawn from a generator seeded at creation, so a run with the
// same seed and the same sequence of operations fails the same operations.
// Every injected error is logged (injected()) for a replay to compare.
type errorFS struct {
	FS
	mu    sync.Mutex
	seed  uint64
	rng   *rand.Rand
	rules []errorRule
	log   []string
}

var errInjected = errors.New("injected I/O error")

// newErrorFS wraps inner (nil means OSFS) with no rules.
func newErrorFS(inner FS, seed uint64) *errorFS {
	if inner == nil {
		inner = OSFS{}
	}
	return &errorFS{FS: inner, seed: seed, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

// inject adds rules; reset removes them all.
func (e *errorFS) inject(rules ...errorRule) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.rules = append(e.rules, rules...)
}

func (e *errorFS) reset() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.rules = nil
}

// injected returns the log of injected errors, "op path" each.
func (e *errorFS) injected() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.log...)
}

// maybeError returns the error to inject into op on path, if any, and
// whether a write should be short.
func (e *errorFS) maybeError(op opKind, path string) (error, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for i := range e.rules {
		r := &e.rules[i]
		if !r.matches(op, path) {
			continue
		}
		if r.skip > 0 {
			r.skip--
			continue
		}
		if r.prob > 0 && e.rng.Float64() >= r.prob {
			continue
		}
		e.log = append(e.log, op.String()+" "+path)
		err := r.err
		if err == nil {
			err = errInjected
		}
		return &fs.PathError{Op: op.String(), Path: path, Err: err}, r.short
	}
	return nil, false
}

func (e *errorFS) fail(op opKind, path string) error {
	err, _ := e.maybeError(op, path)
	return err
}

// OpenFile implements FS.
func (e *errorFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	op := opOpen
	if flag&os.O_CREATE != 0 {
		op = opCreate
	}
	if err := e.fail(op, name); err != nil {
		return nil, err
	}
	f, err := e.FS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &errorFile{File: f, fs: e}, nil
}

// ReadFile implements FS.
func (e *errorFS) ReadFile(name string) ([]byte, error) {
	if err := e.fail(opRead, name); err != nil {
		return nil, err
	}
	return e.FS.ReadFile(name)
}

// Remove implements FS.
func (e *errorFS) Remove(name string) error {
	if err := e.fail(opRemove, name); err != nil {
		return err
	}
	return e.FS.Remove(name)
}

// Rename implements FS.
func (e *errorFS) Rename(oldname, newname string) error {
	if err := e.fail(opRename, newname); err != nil {
		return err
	}
	if err := e.fail(opRename, oldname); err != nil {
		return err
	}
	return e.FS.Rename(oldname, newname)
}

// MkdirAll implements FS.
func (e *errorFS) MkdirAll(dir string, perm os.FileMode) error {
	if err := e.fail(opMkdir, dir); err != nil {
		return err
	}
	return e.FS.MkdirAll(dir, perm)
}

// ReadDir implements FS.
func (e *errorFS) ReadDir(dir string) ([]string, error) {
	if err := e.fail(opReadDir, dir); err != nil {
		return nil, err
	}
	return e.FS.ReadDir(dir)
}

// SyncDir implements FS.
func (e *errorFS) SyncDir(dir string) error {
	if err := e.fail(opSyncDir, dir); err != nil {
		return err
	}
	return e.FS.SyncDir(dir)
}

// MapFile implements FS.
func (e *errorFS) MapFile(name string) ([]byte, func() error, error) {
	if err := e.fail(opMmap, name); err != nil {
		return nil, nil, err
	}
	return e.FS.MapFile(name)
}

type errorFile struct {
	File
	fs *errorFS
}

func (f *errorFile) Write(p []byte) (int, error) {
	err, short := f.fs.maybeError(opWrite, f.Name())
	if err == nil {
		return f.File.Write(p)
	}
	if short && len(p) > 1 {
		n, _ := f.File.Write(p[:len(p)/2])
		return n, err
	}
	return 0, err
}

func (f *errorFile) ReadAt(p []byte, off int64) (int, error) {
	if err := f.fs.fail(opRead, f.Name()); err != nil {
		return 0, err
	}
	return f.File.ReadAt(p, off)
}

func (f *errorFile) Sync() error {
	if err := f.fs.fail(opSync, f.Name()); err != nil {
		return err
	}
	return f.File.Sync()
}

func (f *errorFile) Truncate(size int64) error {
	if err := f.fs.fail(opTruncate, f.Name()); err != nil {
		return err
	}
	return f.File.Truncate(size)
}

// describe names the rules, for test failure messages.
func (e *errorFS) describe() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var s []string
	for _, r := range e.rules {
		s = append(s, fmt.Sprintf("%s %q p=%g", r.ops, r.pattern, r.prob))
	}
	return fmt.Sprintf("seed %d: %s", e.seed, strings.Join(s, "; "))
}

// TestErrorFSReplay: the same seed and the same operations inject the
// same errors; another seed injects others; kinds and patterns select.
func TestErrorFSReplay(t *testing.T) {
	run := func(seed uint64) []string {
		e := newErrorFS(newCrashFS(), seed)
		must(t, e.MkdirAll("/d", 0o755))
		e.inject(errorRule{ops: opWrite | opSync, pattern: "*.wal", prob: 0.3})
		for i := range 200 {
			f, err := e.OpenFile(fmt.Sprintf("/d/%03d.wal", i%5), os.O_CREATE|os.O_WRONLY, 0o644)
			must(t, err)
			_, _ = f.Write([]byte("x"))
			_ = f.Sync()
			must(t, f.Close())
			g, err := e.OpenFile("/d/other.seg", os.O_CREATE|os.O_WRONLY, 0o644)
			must(t, err)
			if _, err := g.Write([]byte("y")); err != nil {
				t.Fatalf("write to an unmatched path failed: %v", err)
			}
			must(t, g.Close())
		}
		return e.injected()
	}
	a, b, c := run(7), run(7), run(8)
	if len(a) < 60 || len(a) > 180 {
		t.Fatalf("%d of 400 operations failed at p=0.3", len(a))
	}
	if fmt.Sprint(a) != fmt.Sprint(b) {
		t.Fatal("the same seed injected different errors")
	}
	if fmt.Sprint(a) == fmt.Sprint(c) {
		t.Fatal("another seed injected the same errors")
	}
	e := newErrorFS(newCrashFS(), 1)
	e.inject(errorRule{ops: opMkdir, pattern: "x*"})
	if err := e.MkdirAll("/a/xy", 0o755); !errors.Is(err, errInjected) {
		t.Fatalf("mkdir: %v, want the injected error", err)
	}
	must(t, e.MkdirAll("/a/y", 0o755))
}
