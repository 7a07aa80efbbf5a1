package ingest

import (
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/klauspost/compress/gzip"
)

var (
	errBodyTooLarge        = errors.New("request body too large")
	errUnsupportedEncoding = errors.New("unsupported content encoding")
)

// gzipReader is a reusable gzip decoder; nil until the first gzip body.
type gzipReader struct{ r *gzip.Reader }

func (g *gzipReader) reset(src io.Reader) (io.Reader, error) {
	if g.r == nil {
		r, err := gzip.NewReader(src)
		if err != nil {
			return nil, err
		}
		g.r = r
		return r, nil
	}
	if err := g.r.Reset(src); err != nil {
		return nil, err
	}
	return g.r, nil
}

// BodyBudget bounds the request body bytes that handlers hold in memory at
// once, over every connection (after decompression). cmd shares one
// between the InfluxDB write endpoints and remote write and read.
// Implementations are safe for concurrent use.
type BodyBudget interface {
	// TryAcquire takes n more bytes for a request that holds held bytes
	// already, or reports false, taking nothing, when they do not fit.
	TryAcquire(held, n int64) bool
	// Release gives back n bytes taken before.
	Release(n int64)
}

// ErrInflightLimit marks a write refused because the request bodies in
// progress already hold the server's budget (InfluxOptions.Budget); the
// client is told to retry later (503 with Retry-After).
var ErrInflightLimit = errors.New("too many request bytes in flight")

// Sizes of the body reading loop: the first buffer holds at most
// firstBodyBuf bytes whatever Content-Length announces (a client that
// announces a large body and sends it slowly costs only what it sent), and
// each read takes at most as many bytes again as are already buffered, in
// steps of at least leaseStep.
const (
	firstBodyBuf = 64 << 10
	leaseStep    = 64 << 10
)

// lease is what one request holds of a BodyBudget; with a nil budget it
// holds nothing and always succeeds.
type lease struct {
	budget BodyBudget
	held   int64
}

// reserve makes the lease hold at least total bytes, or fails with
// ErrInflightLimit, keeping what it held.
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

// release gives back everything the lease holds.
func (l *lease) release() {
	if l.held > 0 {
		l.budget.Release(l.held)
		l.held = 0
	}
}

// readBody reads the request body, decompressing gzip, into st.body. More
// than limit bytes, compressed or not, give errBodyTooLarge: reading stops
// there, so a gzip bomb costs at most limit bytes of memory. The bytes are
// reserved in l first: the announced Content-Length at once (a request
// that cannot fit is refused before a byte of it is read), the rest as it
// comes; the buffer grows with the bytes that arrive.
func (st *writeState) readBody(r *http.Request, limit int64, l *lease) ([]byte, error) {
	st.body = st.body[:0]
	cl := r.ContentLength
	if cl > limit {
		return nil, errBodyTooLarge
	}
	if cl > 0 {
		if err := l.reserve(cl); err != nil {
			return nil, err
		}
	}
	var src io.Reader = &limitedReader{r: r.Body, n: limit}
	switch enc := r.Header.Get("Content-Encoding"); enc {
	case "", "identity":
	case "gzip", "x-gzip":
		gz, err := st.gz.reset(src)
		if err != nil {
			return nil, gzipError(err)
		}
		src, cl = &limitedReader{r: gz, n: limit}, 0 // the decoded length is unknown
	default:
		return nil, fmt.Errorf("%w %q", errUnsupportedEncoding, enc)
	}
	var err error
	st.body, err = readAll(st.body, src, cl, limit, l, st.one[:])
	return st.body, err
}

// readAll appends src to dst until EOF, reserving in l the bytes it may
// read before each read. cl is the length announced (0: unknown); one is
// a byte of scratch space that outlives the call (so it is not allocated
// per request).
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
					return dst, gzipError(err)
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
		if err == io.EOF {
			return dst, nil
		}
		if err != nil {
			return dst, gzipError(err)
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

func gzipError(err error) error {
	if errors.Is(err, errBodyTooLarge) || errors.Is(err, ErrInflightLimit) {
		return err
	}
	return fmt.Errorf("read body: %w", err)
}

// limitedReader reads at most n bytes and fails with errBodyTooLarge if
// the source has more.
type limitedReader struct {
	r io.Reader
	n int64
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.n < 0 {
		return 0, errBodyTooLarge
	}
	if int64(len(p)) > l.n+1 {
		p = p[:l.n+1]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	if l.n < 0 {
		return n, errBodyTooLarge
	}
	return n, err
}
