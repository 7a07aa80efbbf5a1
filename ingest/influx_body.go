package ingest

import (
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/klauspost/compress/gzip"

	"github.com/lightningdb/lightningdb/internal/reqbody"
)

var (
	errBodyTooLarge        = reqbody.ErrTooLarge
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
// between the InfluxDB write endpoints and remote write and read
// (internal/reqbody).
type BodyBudget = reqbody.Budget

// ErrInflightLimit marks a write refused because the request bodies in
// progress already hold the server's budget (InfluxOptions.Budget); the
// client is told to retry later (503 with Retry-After).
var ErrInflightLimit = reqbody.ErrInflightLimit

// lease is what one request holds of a BodyBudget.
type lease = reqbody.Lease

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
		if err := l.Reserve(cl); err != nil {
			return nil, err
		}
	}
	var src io.Reader = &limitedReader{r: r.Body, n: limit}
	switch enc := r.Header.Get("Content-Encoding"); enc {
	case "", "identity":
	case "gzip", "x-gzip":
		gz, err := st.gz.reset(src)
		if err != nil {
			return nil, fmt.Errorf("read body: %w", err)
		}
		src, cl = &limitedReader{r: gz, n: limit}, 0 // the decoded length is unknown
	default:
		return nil, fmt.Errorf("%w %q", errUnsupportedEncoding, enc)
	}
	var err error
	st.body, err = reqbody.ReadAll(st.body, src, cl, limit, l, st.one[:])
	return st.body, err
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
