package remote

import (
	"context"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/klauspost/compress/s2"

	"github.com/lightningdb/lightningdb/series"
)

// Content types of the two remote write versions.
const (
	protoV1 = "prometheus.WriteRequest"
	protoV2 = "io.prometheus.write.v2.Request"
)

// The headers remote write 2.0 receivers set on every reply.
const (
	hdrSamplesWritten    = "X-Prometheus-Remote-Write-Samples-Written"
	hdrHistogramsWritten = "X-Prometheus-Remote-Write-Histograms-Written"
	hdrExemplarsWritten  = "X-Prometheus-Remote-Write-Exemplars-Written"
)

// writeState is what one write request needs; it is pooled so a steady
// stream of requests reuses the buffers, the batch and the decoder.
type writeState struct {
	raw     []byte // the body as sent
	decoded []byte // after snappy
	batch   series.Batch
	dec     decoder
	one     [1]byte // scratch: the read that expects a body's EOF
}

// maxPooledBytes keeps states that grew for one huge request out of the
// pool, so an idle server does not hold on to them.
const maxPooledBytes = 16 << 20

func (h *Handler) putState(st *writeState) {
	if cap(st.raw) > maxPooledBytes || cap(st.decoded) > maxPooledBytes || cap(st.batch.LabelBuf()) > 4*maxPooledBytes {
		return
	}
	st.batch.Reset()
	h.state.Put(st)
}

// writeVersion returns 1 or 2 for a Content-Type, or an error (415).
// An empty Content-Type is taken as 1.0, as Prometheus does.
func writeVersion(ct string) (int, error) {
	if ct == "" || ct == "application/x-protobuf" {
		return 1, nil
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || mt != "application/x-protobuf" {
		return 0, fmt.Errorf("%w: Content-Type %q, want application/x-protobuf", ErrUnsupportedMediaType, ct)
	}
	switch params["proto"] {
	case "", protoV1:
		return 1, nil
	case protoV2:
		return 2, nil
	}
	return 0, fmt.Errorf("%w: proto=%q, want %s or %s", ErrUnsupportedMediaType, params["proto"], protoV1, protoV2)
}

// ServeWrite serves POST /api/v1/write.
func (h *Handler) ServeWrite(w http.ResponseWriter, r *http.Request) {
	h.c.writeRequests.Add(1)
	setWritten(w, 0, 0)
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		h.writeFailed(w, http.StatusMethodNotAllowed, "method not allowed")
		return
	}
	version, err := writeVersion(r.Header.Get("Content-Type"))
	if err == nil {
		err = checkSnappyEncoding(r.Header.Get("Content-Encoding"))
	}
	if err != nil {
		h.writeFailed(w, http.StatusUnsupportedMediaType, err.Error())
		return
	}
	st := h.state.Get().(*writeState)
	defer h.putState(st)
	l := lease{Budget: h.opts.Budget}
	defer l.Release()
	body, err := st.readSnappy(r, h.opts.MaxBodyBytes, h.opts.MaxDecodedBytes, &l)
	h.c.bytesIn.Add(int64(len(body)))
	if err != nil {
		h.bodyFailed(w, err)
		return
	}
	st.batch.Reset()
	st.dec.reset(h.opts.Metadata)
	st.dec.cache = h.cache
	if version == 1 {
		err = st.dec.decodeV1(body, &st.batch)
	} else {
		err = st.dec.decodeV2(body, &st.batch)
	}
	if err != nil {
		h.writeFailed(w, http.StatusBadRequest, fmt.Sprintf("decode remote write %d.0 request: %v", version, err))
		return
	}
	h.append(r.Context(), w, st)
}

func checkSnappyEncoding(enc string) error {
	// No Content-Encoding is taken as snappy, as Prometheus does, so that
	// loose 1.0 clients keep working.
	if enc == "" || strings.EqualFold(enc, "snappy") {
		return nil
	}
	return fmt.Errorf("%w: Content-Encoding %q, only snappy is supported", ErrUnsupportedMediaType, enc)
}

func bodyStatus(err error) int {
	switch {
	case errors.Is(err, ErrBodyTooLarge):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, ErrInflightLimit):
		return http.StatusServiceUnavailable
	}
	return http.StatusBadRequest
}

// bodyFailed answers a write whose body could not be read or decoded.
func (h *Handler) bodyFailed(w http.ResponseWriter, err error) {
	if bodyStatus(err) == http.StatusServiceUnavailable {
		h.c.failed.Add(1)
		h.retryLater(w, err.Error())
		return
	}
	h.writeFailed(w, bodyStatus(err), err.Error())
}

// readSnappy reads the body and decodes its snappy block into st.decoded,
// reserving both in l.
func (st *writeState) readSnappy(r *http.Request, maxBody, maxDecoded int64, l *lease) ([]byte, error) {
	var err error
	st.raw, err = readBody(st.raw, r, maxBody, l, st.one[:])
	if err != nil {
		return nil, err
	}
	return decodeSnappy(&st.decoded, st.raw, maxDecoded, l)
}

// decodeSnappy decodes a snappy block into *buf, growing it as needed,
// after reserving its decoded length in l beside src.
func decodeSnappy(buf *[]byte, src []byte, limit int64, l *lease) ([]byte, error) {
	n, err := s2.DecodedLen(src)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadSnappy, err)
	}
	if int64(n) > limit {
		return nil, fmt.Errorf("%w: %d bytes after snappy decoding, at most %d allowed", ErrBodyTooLarge, n, limit)
	}
	if err := l.Reserve(int64(len(src) + n)); err != nil {
		return nil, err
	}
	if cap(*buf) < n {
		*buf = make([]byte, n)
	}
	out, err := s2.Decode((*buf)[:cap(*buf)], src)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadSnappy, err)
	}
	return out, nil
}

// append stores the decoded batch and answers: 204 when everything was
// stored, 400 naming what was left out otherwise (Prometheus does not
// retry 4xx, and retrying would not help), 503 when overloaded.
func (h *Handler) append(ctx context.Context, w http.ResponseWriter, st *writeState) {
	res := &st.dec.res
	var ar series.AppendResult
	if st.batch.Len() > 0 {
		var err error
		ar, err = h.app.Append(ctx, &st.batch)
		if err != nil {
			h.appendFailed(w, err)
			return
		}
		st.dec.learnRefs(&st.batch)
	}
	appRejected := 0
	for _, rj := range ar.Rejected {
		canon, _, ts, _ := st.batch.Series(rj.Index)
		appRejected += len(ts)
		st.dec.problemText(fmt.Sprintf("series %s: %v", canonicalString(canon), rj.Err))
	}
	h.c.samplesAccepted.Add(int64(ar.Accepted))
	h.c.samplesRejected.Add(int64(res.rejectedSamples + appRejected + res.histograms))
	h.c.histogramsRejected.Add(int64(res.histograms))
	h.c.exemplars.Add(int64(res.exemplars))
	h.c.metadata.Add(int64(res.metadata))
	setWritten(w, ar.Accepted, res.exemplars)
	if len(res.problems) == 0 && res.problemsNotShown == 0 && res.rejectedExemplars == 0 {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "partial write: stored %d samples; left out %d samples, %d histogram samples, %d exemplars of %d series:\n",
		ar.Accepted, res.rejectedSamples+appRejected, res.histograms, res.rejectedExemplars, res.rejectedSeries+len(ar.Rejected))
	for _, p := range res.problems {
		b.WriteString(p)
		b.WriteByte('\n')
	}
	if res.problemsNotShown > 0 {
		fmt.Fprintf(&b, "(%d more not shown)\n", res.problemsNotShown)
	}
	if res.rejectedExemplars > 0 {
		fmt.Fprintf(&b, "%d exemplars with invalid labels or references\n", res.rejectedExemplars)
	}
	http.Error(w, b.String(), http.StatusBadRequest)
}

func (d *decoder) problemText(s string) {
	if len(d.res.problems) < maxProblems {
		d.res.problems = append(d.res.problems, s)
		return
	}
	d.res.problemsNotShown++
}

func (h *Handler) appendFailed(w http.ResponseWriter, err error) {
	h.c.failed.Add(1)
	switch {
	case errors.Is(err, series.ErrOverloaded): // the one place it becomes 503 for remote write
		h.c.overloaded.Add(1)
		h.retryLater(w, fmt.Sprintf("server overloaded, retry later: %v", err))
	case errors.Is(err, series.ErrBatchTooLarge): // Prometheus drops it (4xx): retrying cannot help
		http.Error(w, err.Error(), http.StatusRequestEntityTooLarge)
	case errors.Is(err, series.ErrForbidden): // a token limited to other series
		http.Error(w, err.Error(), http.StatusForbidden)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		h.retryLater(w, fmt.Sprintf("write not committed: %v", err))
	default:
		// An engine or I/O failure: nothing was stored, and a retry (after
		// the operator fixes the disk or restarts) may succeed, so 5xx.
		h.opts.Logger.Error("remote write append failed", "err", err)
		http.Error(w, fmt.Sprintf("write failed: %v", err), http.StatusInternalServerError)
	}
}

func (h *Handler) retryLater(w http.ResponseWriter, msg string) {
	secs := int64((h.opts.RetryAfter + 999_999_999) / 1_000_000_000)
	w.Header().Set("Retry-After", strconv.FormatInt(max(secs, 1), 10))
	http.Error(w, msg, http.StatusServiceUnavailable)
}

func (h *Handler) writeFailed(w http.ResponseWriter, status int, msg string) {
	h.c.failed.Add(1)
	http.Error(w, msg, status)
}

// setWritten sets the 2.0 "written" headers; they are set on every reply
// (1.0 senders ignore them). Histograms are never written.
func setWritten(w http.ResponseWriter, samples, exemplars int) {
	hd := w.Header()
	hd.Set(hdrSamplesWritten, strconv.Itoa(samples))
	hd.Set(hdrHistogramsWritten, "0")
	hd.Set(hdrExemplarsWritten, strconv.Itoa(exemplars))
}

// canonicalString formats canonical labels as {a="b",...} for messages.
func canonicalString(canon []byte) string {
	var b strings.Builder
	b.WriteByte('{')
	first := true
	_ = series.ForEachCanonical(canon, func(name, value []byte) error {
		if !first {
			b.WriteByte(',')
		}
		first = false
		fmt.Fprintf(&b, "%s=%q", name, value)
		return nil
	})
	b.WriteByte('}')
	return b.String()
}
