package engine

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"

	"github.com/lightningdb/lightningdb/series"
)

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
