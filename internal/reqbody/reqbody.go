// Package reqbody reads HTTP request bodies under one byte budget shared by
// every write endpoint (line protocol, remote write) and remote read. A
// body's buffer grows with the bytes that arrive, never sized from the
// Content-Length a client announces alone, and every byte the buffer will
// hold is reserved in the budget before it is allocated: a client that
// announces a large body and sends it slowly costs what it sent, and the
// bodies in memory at once never pass the budget.
package reqbody

import (
	"errors"
	"fmt"
	"io"
)

// Errors ReadAll and Lease return; the front ends map them to HTTP codes.
var (
	// ErrTooLarge marks a body over its endpoint's size limit (413).
	ErrTooLarge = errors.New("request body too large")
	// ErrInflightLimit marks a request refused because the request bodies
	// in progress already hold the budget; the client is told to retry
	// later (503 with Retry-After).
	ErrInflightLimit = errors.New("too many request bytes in flight")
	// ErrRead marks a body that could not be read: the client went away
	// or stopped sending (400, or 408 past the read timeout).
	ErrRead = errors.New("read body")
)

// Budget bounds the request body bytes that handlers hold in memory at
// once, over every connection. cmd shares one between the front ends.
// Implementations are safe for concurrent use.
type Budget interface {
	// TryAcquire takes n more bytes for a request that holds held bytes
	// already, or reports false, taking nothing, when they do not fit.
	TryAcquire(held, n int64) bool
	// Release gives back n bytes taken before.
	Release(n int64)
}

// Sizes of the reading loop: the first buffer holds at most FirstBuf bytes
// whatever Content-Length announces, and each read takes at most as many
// bytes again as are already buffered, in steps of at least step.
const (
	FirstBuf = 64 << 10
	step     = 64 << 10
)

// Lease is what one request holds of a Budget. The zero value, or one
// with a nil Budget, holds nothing and always succeeds. A Lease is used by
// one goroutine.
type Lease struct {
	Budget Budget
	held   int64
}

// Held returns the bytes the lease holds.
func (l *Lease) Held() int64 { return l.held }

// Reserve makes the lease hold at least total bytes, or fails with
// ErrInflightLimit, keeping what it held.
func (l *Lease) Reserve(total int64) error {
	if l.Budget == nil || total <= l.held {
		return nil
	}
	if !l.Budget.TryAcquire(l.held, total-l.held) {
		return fmt.Errorf("%w: %d bytes of request body do not fit beside those of requests in progress; retry later",
			ErrInflightLimit, total)
	}
	l.held = total
	return nil
}

// GiveBack gives back n of the bytes the lease holds.
func (l *Lease) GiveBack(n int64) {
	if n = min(n, l.held); n > 0 {
		l.Budget.Release(n)
		l.held -= n
	}
}

// Release gives back everything the lease holds.
func (l *Lease) Release() {
	if l.held > 0 {
		l.Budget.Release(l.held)
		l.held = 0
	}
}

// ReadAll appends src to dst until EOF, reserving in l the bytes it may
// read before each read. cl is the length announced (0: unknown); the
// buffer never grows beyond it until it is reached. More than limit bytes
// fail with ErrTooLarge. one is a byte of scratch space that outlives the
// call (so it is not allocated per request). Errors of src other than
// ErrTooLarge and ErrInflightLimit are wrapped in ErrRead.
func ReadAll(dst []byte, src io.Reader, cl, limit int64, l *Lease, one []byte) ([]byte, error) {
	for {
		if len(dst) == cap(dst) {
			if cl > 0 && int64(len(dst)) >= cl {
				// All that was announced is here: expect EOF without
				// doubling the buffer for it.
				n, err := src.Read(one[:1])
				if n == 0 && err == io.EOF {
					return dst, nil
				}
				if n == 0 && err != nil {
					return dst, readError(err)
				}
				dst, cl = append(dst, one[:n]...), 0 // longer than announced
				continue
			}
			// Reserve the new buffer before it is made, so that the
			// bytes held never pass the budget.
			n := growLen(len(dst), cl, limit)
			if err := l.Reserve(int64(n)); err != nil {
				return dst, err
			}
			dst = append(make([]byte, 0, n), dst...)
		}
		p := dst[len(dst):cap(dst)]
		if n := max(len(dst), step); len(p) > n {
			p = p[:n]
		}
		if cl > int64(len(dst)) && int64(len(p)) > cl-int64(len(dst)) {
			p = p[:cl-int64(len(dst))]
		}
		if err := l.Reserve(int64(len(dst) + len(p))); err != nil {
			return dst, err
		}
		n, err := src.Read(p)
		dst = dst[:len(dst)+n]
		if int64(len(dst)) > limit {
			return dst, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, limit)
		}
		if err == io.EOF {
			return dst, nil
		}
		if err != nil {
			return dst, readError(err)
		}
	}
}

func readError(err error) error {
	if errors.Is(err, ErrTooLarge) || errors.Is(err, ErrInflightLimit) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrRead, err)
}

// growLen returns the capacity of a body buffer holding n bytes that
// must grow: twice n (FirstBuf at least), but not beyond the announced
// length cl when one is known and not yet reached, nor beyond one byte
// past limit (enough to tell a body over it).
func growLen(n int, cl, limit int64) int {
	c := min(int64(max(2*n, FirstBuf)), limit+1)
	if cl > int64(n) && c > cl {
		c = cl
	}
	return int(c)
}
