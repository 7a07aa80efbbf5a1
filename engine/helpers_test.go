package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/lightningdb/lightningdb/series"
)

// errorFS wraps OSFS and fails chosen operations on files whose name
// contains match (Pebble's errorfs, in small).
type errorFS struct {
	OSFS
	mu        sync.Mutex
	match     string
	failWrite bool
	failSync  bool
	shortWrit bool  // write half the bytes, then fail
	failOpen  bool  // creating a matching file fails
	failRm    bool  // removing a matching file fails
	err       error // the injected error; nil means errInjected
}

func (e *errorFS) Remove(name string) error {
	e.mu.Lock()
	fail := e.failRm && e.match != "" && strings.Contains(name, e.match)
	e.mu.Unlock()
	if fail {
		return errInjected
	}
	return e.OSFS.Remove(name)
}

var errInjected = errors.New("injected I/O error")

// injected returns the error to inject for a write to file name.
func (e *errorFS) injected(name string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.err == nil {
		return errInjected
	}
	return &fs.PathError{Op: "write", Path: name, Err: e.err}
}

func (e *errorFS) set(f func(*errorFS)) {
	e.mu.Lock()
	defer e.mu.Unlock()
	f(e)
}

func (e *errorFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	e.mu.Lock()
	failOpen := e.failOpen && flag&os.O_CREATE != 0 && e.match != "" && strings.Contains(name, e.match)
	e.mu.Unlock()
	if failOpen {
		return nil, errInjected
	}
	f, err := e.OSFS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &errorFile{File: f, fs: e}, nil
}

type errorFile struct {
	File
	fs *errorFS
}

func (f *errorFile) hit() (write, sync, short bool) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.fs.match == "" || !strings.Contains(f.Name(), f.fs.match) {
		return false, false, false
	}
	return f.fs.failWrite, f.fs.failSync, f.fs.shortWrit
}

func (f *errorFile) Write(p []byte) (int, error) {
	w, _, short := f.hit()
	if short && len(p) > 1 {
		n, _ := f.File.Write(p[:len(p)/2])
		return n, f.fs.injected(f.Name())
	}
	if w {
		return 0, f.fs.injected(f.Name())
	}
	return f.File.Write(p)
}

func (f *errorFile) Sync() error {
	if _, s, _ := f.hit(); s {
		return errInjected
	}
	return f.File.Sync()
}

// logBuffer collects log output for assertions.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *logBuffer) logger() *slog.Logger { return slog.New(slog.NewTextHandler(l, nil)) }

func mustOpen(t testing.TB, dir string, opts Options) *DB {
	t.Helper()
	db, err := Open(dir, opts)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	return db
}

func labels(name string, kv ...string) series.Labels {
	return series.FromStrings(append([]string{"__name__", name}, kv...)...)
}

// readAll returns the samples of a series over all time as strings "t=v".
func readAll(db *DB, ls series.Labels) []string {
	id, ok := db.Lookup(ls)
	if !ok {
		return nil
	}
	it := db.Select(id, -1<<63, 1<<63-1, nil)
	var out []string
	for it.Next() {
		out = append(out, fmtSample(it))
	}
	return out
}

func fmtSample(it *Iterator) string {
	if it.Type() == series.TypeString {
		t, s := it.AtString()
		return fmt.Sprintf("%d=%q", t, s)
	}
	t, v := it.At()
	return fmt.Sprintf("%d=%s:%d", t, it.Type(), v)
}

func appendOne(t testing.TB, db *DB, ls series.Labels, typ series.ValueType, ts int64, raw uint64) series.AppendResult {
	t.Helper()
	var b series.Batch
	b.AddSeries(ls, typ)
	b.AppendRaw(ts, raw)
	res, err := db.Append(context.Background(), &b)
	if err != nil {
		t.Fatalf("append: %v", err)
	}
	return res
}
