package reqbody

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"testing/iotest"
)

// budget is a Budget of max bytes.
type budget struct{ used, max atomic.Int64 }

func (b *budget) TryAcquire(held, n int64) bool {
	if b.used.Add(n) > b.max.Load() {
		b.used.Add(-n)
		return false
	}
	return true
}

func (b *budget) Release(n int64) { b.used.Add(-n) }

// TestReadAllGrowsWithArrivedBytes: a body announced at 32 MiB of which
// ten bytes came costs a buffer of at most FirstBuf, and the lease holds
// what the buffer may hold, not what was announced.
func TestReadAllGrowsWithArrivedBytes(t *testing.T) {
	b := &budget{}
	b.max.Store(1 << 30)
	l := &Lease{Budget: b}
	src := io.MultiReader(strings.NewReader("0123456789"), iotest.ErrReader(io.ErrUnexpectedEOF))
	got, err := ReadAll(nil, src, 32<<20, 64<<20, l, make([]byte, 1))
	if !errors.Is(err, ErrRead) || string(got) != "0123456789" {
		t.Fatalf("ReadAll = %q, %v; want the ten bytes and ErrRead", got, err)
	}
	if cap(got) > FirstBuf || l.Held() > FirstBuf {
		t.Fatalf("buffer %d, lease %d bytes for ten that came", cap(got), l.Held())
	}
	l.Release()
	if b.used.Load() != 0 {
		t.Fatalf("budget holds %d after Release", b.used.Load())
	}
}

// TestReadAllLimits: past limit, ErrTooLarge; past the budget,
// ErrInflightLimit, with the budget whole afterwards; a body of unknown
// length is read whole within both.
func TestReadAllLimits(t *testing.T) {
	body := bytes.Repeat([]byte("x"), 300<<10)
	b := &budget{}
	b.max.Store(1 << 20)
	l := &Lease{Budget: b}
	got, err := ReadAll(nil, bytes.NewReader(body), 0, 1<<20, l, make([]byte, 1))
	if err != nil || !bytes.Equal(got, body) {
		t.Fatalf("unknown length: %d bytes, %v", len(got), err)
	}
	l.Release()
	if _, err := ReadAll(nil, bytes.NewReader(body), 0, 100<<10, l, make([]byte, 1)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("over the limit: %v", err)
	}
	l.Release()
	b.max.Store(128 << 10)
	if _, err := ReadAll(nil, bytes.NewReader(body), int64(len(body)), 1<<20, l, make([]byte, 1)); !errors.Is(err, ErrInflightLimit) {
		t.Fatalf("over the budget: %v", err)
	}
	l.Release()
	if b.used.Load() != 0 {
		t.Fatalf("budget holds %d after Release", b.used.Load())
	}
}
