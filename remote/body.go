package remote

import (
	"fmt"
	"net/http"

	"github.com/lightningdb/lightningdb/internal/reqbody"
)

// BodyBudget bounds the request body bytes that handlers hold in memory at
// once, over every connection: the bytes read off the wire and the bytes
// snappy decoding makes of them. cmd shares one between remote write and
// read and the InfluxDB write endpoints (internal/reqbody).
type BodyBudget = reqbody.Budget

// lease is what one request holds of a BodyBudget.
type lease = reqbody.Lease

// errReadBody marks a body that could not be read (the client went away
// or stopped sending); 400.
var errReadBody = reqbody.ErrRead

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
		if err := l.Reserve(cl); err != nil {
			return dst[:0], err
		}
	}
	return reqbody.ReadAll(dst[:0], r.Body, cl, limit, l, one)
}
