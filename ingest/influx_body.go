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

// readBody reads the request body, decompressing gzip, into st.body. More
// than limit bytes, compressed or not, give errBodyTooLarge: reading stops
// there, so a gzip bomb costs at most limit bytes of memory.
func (st *writeState) readBody(r *http.Request, limit int64) ([]byte, error) {
	st.body = st.body[:0]
	if r.ContentLength > limit {
		return nil, errBodyTooLarge
	}
	var src io.Reader = &limitedReader{r: r.Body, n: limit}
	switch enc := r.Header.Get("Content-Encoding"); enc {
	case "", "identity":
	case "gzip", "x-gzip":
		gz, err := st.gz.reset(src)
		if err != nil {
			return nil, gzipError(err)
		}
		src = &limitedReader{r: gz, n: limit}
	default:
		return nil, fmt.Errorf("%w %q", errUnsupportedEncoding, enc)
	}
	if r.ContentLength > 0 && cap(st.body) < int(r.ContentLength) {
		st.body = make([]byte, 0, r.ContentLength)
	}
	for {
		if len(st.body) == cap(st.body) {
			st.body = append(st.body, 0)[:len(st.body)] // grow
		}
		n, err := src.Read(st.body[len(st.body):cap(st.body)])
		st.body = st.body[:len(st.body)+n]
		if err == io.EOF {
			return st.body, nil
		}
		if err != nil {
			return st.body, gzipError(err)
		}
	}
}

func gzipError(err error) error {
	if errors.Is(err, errBodyTooLarge) {
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
