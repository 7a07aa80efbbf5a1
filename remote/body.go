package remote

import (
	"errors"
	"fmt"
	"io"
	"net/http"
)

// BodyBudget bounds the request body bytes that handlers hold in memory at
// once, over every connection: the bytes read off the wire and the bytes
// snappy decoding makes of them. cmd shares one between remote write and
// read and the InfluxDB write endpoints. Implementations are safe for
// concurrent use.
type BodyBudget interface {
	// TryAcquire takes n more bytes for a request that holds held bytes
	// already, or reports false, taking nothing, when they do not fit.
	TryAcquire(held, n int64) bool
	// Release gives back n bytes taken before.
	Release(n int64)
}

// Sizes of the body reading loop: the first buffer holds at most
// firstBodyBuf bytes whatever Content-Length announces (a client that
// announces a large body and sends it slowly costs only what it sent), and
// each read takes at most as many bytes again as are already buffered, in
// steps of at least leaseStep.
const (
	firstBodyBuf = 64 << 10
	leaseStep    = 64 << 10
)

// errReadBody marks a body that could not be read (the client went away
// or stopped sending); 400.
var errReadBody = errors.New("read body")

// lease is what one request holds of a BodyBudget. The zero value with a
// nil budget holds nothing and always succeeds.
type lease struct {
	budget BodyBudget
	held   int64
}

// reserve makes the lease hold at least total bytes, or fails with
// ErrInflightLimit, leaving what it held.
func (l *lease) reserve(total int64) error {
	if l.budget == nil || total <= l.held {
		return nil
	}
	if !l.budget.TryAcquire(l.held, total-l.held) {
		return fmt.Errorf("%w: %d bytes of request body do not fit beside those of requests in progress; retry later",
			ErrInflightLimit, total)
	}
	l.held = total
	return nil
}

// giveBack gives back n of the bytes the lease holds.
func (l *lease) giveBack(n int64) {
	if n = min(n, l.held); n > 0 {
		l.budget.Release(n)
		l.held -= n
	}
}

// release gives back everything the lease holds.
func (l *lease) release() {
	if l.held > 0 {
		l.budget.Release(l.held)
		l.held = 0
	}
}

// readBody reads at most limit bytes of r into dst's storage, reserving
// them in l first: the announced Content-Length at once (so a request
// that cannot fit is refused before a byte of it is read), the bytes of a
// body of unknown length as they come. The buffer grows with the bytes
// that arrive, never beyond the announced length.
// one is a byte of scratch space that outlives the call.
func readBody(dst []byte, r *http.Request, limit int64, l *lease, one []byte) ([]byte, error) {
	cl := r.ContentLength
	if cl > limit {
		return dst[:0], fmt.Errorf("%w: %d bytes, at most %d allowed", ErrBodyTooLarge, cl, limit)
	}
	if cl > 0 {
		if err := l.reserve(cl); err != nil {
			return dst[:0], err
		}
	}
	return readAll(dst[:0], r.Body, cl, limit, l, one)
}

// readAll appends src to dst until EOF, reserving in l the bytes it may
// read before each read. cl is the length announced (0: unknown).
func readAll(dst []byte, src io.Reader, cl, limit int64, l *lease, one []byte) ([]byte, error) {
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
					return dst, fmt.Errorf("%w: %w", errReadBody, err)
				}
				dst, cl = append(dst, one[:n]...), 0 // longer than announced
				continue
			}
			// Reserve the new buffer before it is made, so that the
			// bytes held never pass the budget.
			n := growLen(len(dst), cl, limit)
			if err := l.reserve(int64(n)); err != nil {
				return dst, err
			}
			dst = append(make([]byte, 0, n), dst...)
		}
		p := dst[len(dst):cap(dst)]
		if n := max(len(dst), leaseStep); len(p) > n {
			p = p[:n]
		}
		if cl > int64(len(dst)) && int64(len(p)) > cl-int64(len(dst)) {
			p = p[:cl-int64(len(dst))]
		}
		if err := l.reserve(int64(len(dst) + len(p))); err != nil {
			return dst, err
		}
		n, err := src.Read(p)
		dst = dst[:len(dst)+n]
		if int64(len(dst)) > limit {
			return dst, fmt.Errorf("%w: more than %d bytes", ErrBodyTooLarge, limit)
		}
		if err == io.EOF {
			return dst, nil
		}
		if err != nil {
			return dst, fmt.Errorf("%w: %w", errReadBody, err)
		}
	}
}

// growLen returns the capacity of a body buffer holding n bytes that
// must grow: twice n (firstBodyBuf at least), but not beyond the
// announced length cl when one is known and not yet reached, nor beyond
// one byte past limit (enough to tell a body over it).
func growLen(n int, cl, limit int64) int {
	c := min(int64(max(2*n, firstBodyBuf)), limit+1)
	if cl > int64(n) && c > cl {
		c = cl
	}
	return int(c)
}
