package ingest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/lightningdb/lightningdb/ingest/lineproto"
	"github.com/lightningdb/lightningdb/series"
)

// InfluxHandler serves the InfluxDB 1.x and 2.x write APIs and the few
// other endpoints agents call (/query for CREATE and SHOW DATABASES, /ping,
// /health). It is safe for concurrent use.
//
// A write request is parsed into one series.Batch, handed to the Appender
// in one Append call, and answered only after Append returns: 204 means
// every line is durable.
type InfluxHandler struct {
	app   Appender
	opts  InfluxOptions
	mux   *http.ServeMux
	dbs   databases
	c     counters
	state sync.Pool // *writeState, reused across requests
}

// api tells the write endpoints apart; their error bodies differ.
type api uint8

const (
	apiV1 api = iota // /write: {"error":"..."}
	apiV2            // /api/v2/write: {"code":"...","message":"..."}
)

// NewInfluxHandler returns a handler that appends to app. It fails on
// invalid options or when the metrics cannot be registered.
func NewInfluxHandler(app Appender, opts InfluxOptions) (*InfluxHandler, error) {
	opts.ensureDefaults()
	if err := opts.validate(); err != nil {
		return nil, fmt.Errorf("influx handler options: %w", err)
	}
	h := &InfluxHandler{app: app, opts: opts, mux: http.NewServeMux()}
	h.dbs.max = opts.MaxDatabases
	for _, db := range opts.Databases {
		h.dbs.add(db)
	}
	if err := h.c.register(opts.Registerer, "influx"); err != nil {
		return nil, fmt.Errorf("register influx ingest metrics: %w", err)
	}
	h.state.New = func() any {
		st := &writeState{}
		st.parser = h.newParser(st)
		return st
	}
	h.Register(h.mux)
	return h, nil
}

// Register adds the handler's endpoints to mux: /write, /api/v2/write,
// /query, /ping, /health and /api/v2/buckets[/{id}].
func (h *InfluxHandler) Register(mux Mux) {
	mux.HandleFunc("/write", h.recovered(func(w http.ResponseWriter, r *http.Request) { h.serveWrite(w, r, apiV1) }))
	mux.HandleFunc("/api/v2/write", h.recovered(func(w http.ResponseWriter, r *http.Request) { h.serveWrite(w, r, apiV2) }))
	var query http.Handler = h.recovered(h.serveQuery)
	if h.opts.QueryLimit != nil {
		query = h.opts.QueryLimit(query)
	}
	mux.Handle("/query", query)
	mux.HandleFunc("/ping", h.recovered(h.servePing))
	mux.HandleFunc("/health", h.recovered(h.serveHealth))
	mux.HandleFunc("/api/v2/buckets", h.recovered(h.serveBuckets))
	mux.HandleFunc("/api/v2/buckets/{id}", h.recovered(h.serveBucket))
}

// ServeHTTP serves the endpoints that Register lists.
func (h *InfluxHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// Stats returns the handler's counters.
func (h *InfluxHandler) Stats() Stats { return h.c.stats() }

// Databases returns the databases created or written to, sorted.
func (h *InfluxHandler) Databases() []string { return h.dbs.list() }

// recovered turns a panic of a request into a logged 500.
func (h *InfluxHandler) recovered(fn http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if p := recover(); p != nil {
				h.opts.Logger.Error("panic in influx handler", "path", r.URL.Path, "panic", p)
				writeJSON(w, http.StatusInternalServerError, v1Error{Error: "internal error"})
			}
		}()
		h.setHeaders(w)
		fn(w, r)
	}
}

func (h *InfluxHandler) setHeaders(w http.ResponseWriter) {
	hd := w.Header()
	hd.Set("X-Influxdb-Version", h.opts.Version)
	hd.Set("X-Influxdb-Build", "OSS")
}

// writeState is what one write request needs; it is pooled so that a
// steady stream of requests reuses the body buffer, batch and parser.
type writeState struct {
	body   []byte
	batch  series.Batch
	parser *lineproto.Parser
	gz     gzipReader
	lines  []int   // scratch: lines with rejected series
	one    [1]byte // scratch: the read that expects a body's EOF
	obs    fieldObs
}

// maxPooledBytes keeps states that grew for one huge request out of the
// pool, so an idle server does not hold on to them.
const maxPooledBytes = 8 << 20

func (h *InfluxHandler) putState(st *writeState) {
	if cap(st.body) > maxPooledBytes || cap(st.batch.LabelBuf()) > 4*maxPooledBytes {
		return
	}
	st.batch.Reset()
	h.state.Put(st)
}

func (h *InfluxHandler) serveWrite(w http.ResponseWriter, r *http.Request, v api) {
	h.c.requests.Add(1)
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		h.writeError(w, v, http.StatusMethodNotAllowed, "method not allowed", "")
		return
	}
	if !h.authorized(r) {
		h.unauthorized(w, v)
		return
	}
	q := r.URL.Query()
	db := q.Get("db")
	if v == apiV2 {
		// 1.8's v2-compatible API takes bucket=db/rp; the rp is ignored.
		db, _, _ = strings.Cut(q.Get("bucket"), "/")
	}
	if !utf8.ValidString(db) || len(db) > series.MaxLabelValueLen {
		h.writeError(w, v, http.StatusBadRequest, "invalid database name", "")
		return
	}
	prec, err := lineproto.ParsePrecision(q.Get("precision"))
	if err != nil {
		h.writeError(w, v, http.StatusBadRequest, err.Error(), "")
		return
	}
	st := h.state.Get().(*writeState)
	defer h.putState(st)
	l := lease{Budget: h.opts.Budget}
	defer l.Release()
	body, err := st.readBody(r, h.opts.MaxBodyBytes, &l)
	h.c.bytesIn.Add(int64(len(body)))
	if err != nil {
		h.bodyError(w, v, err)
		return
	}
	if len(body) == 0 && v == apiV2 {
		h.writeError(w, v, http.StatusBadRequest, "writing requires points", "")
		return
	}
	h.write(r.Context(), w, v, st, body, db, prec)
}

func (h *InfluxHandler) write(ctx context.Context, w http.ResponseWriter, v api, st *writeState, body []byte, db string, prec lineproto.Precision) {
	st.batch.Reset()
	st.obs.reset()
	defer h.renewParser(st)
	res := st.parser.Parse(&st.batch, body, db, h.opts.Now(), prec)
	var ar series.AppendResult
	if st.batch.Len() > 0 {
		var err error
		ar, err = h.app.Append(ctx, &st.batch)
		h.learn(st, err == nil)
		if err != nil {
			h.appendFailed(w, v, err)
			return
		}
		st.parser.LearnRefs(&st.batch)
	}
	if db != "" && st.batch.Len() > 0 {
		h.dbs.add(db)
	}
	rejectedLines := h.account(st, res, ar)
	if rejectedLines == 0 {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	h.partialWrite(w, v, st, res, ar, rejectedLines)
}

// account updates the counters and returns how many lines were rejected
// in whole or in part. It leaves the lines with rejected series in st.lines.
func (h *InfluxHandler) account(st *writeState, res lineproto.Result, ar series.AppendResult) int {
	st.lines = st.lines[:0]
	for _, rj := range ar.Rejected {
		st.lines = append(st.lines, st.parser.Line(rj.Index))
	}
	sort.Ints(st.lines)
	st.lines = compactInts(st.lines)
	rejected := res.Rejected + len(st.lines)
	h.c.linesAccepted.Add(int64(res.Accepted - len(st.lines)))
	h.c.linesRejected.Add(int64(rejected))
	h.c.samplesAccepted.Add(int64(ar.Accepted))
	h.c.samplesRejected.Add(int64(st.batch.Samples() - ar.Accepted))
	return rejected
}

func compactInts(s []int) []int {
	out := s[:0]
	for i, x := range s {
		if i == 0 || x != s[i-1] {
			out = append(out, x)
		}
	}
	return out
}

func (h *InfluxHandler) appendFailed(w http.ResponseWriter, v api, err error) {
	h.c.failed.Add(1)
	switch {
	case errors.Is(err, series.ErrOverloaded): // the one place it becomes 503 for line protocol
		h.c.overloaded.Add(1)
		h.retryLater(w, v, fmt.Sprintf("server overloaded, retry later: %v", err))
	case errors.Is(err, series.ErrBatchTooLarge):
		h.writeError(w, v, http.StatusRequestEntityTooLarge, err.Error(), "")
	case errors.Is(err, series.ErrForbidden):
		h.writeError(w, v, http.StatusForbidden, err.Error(), "forbidden")
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		h.retryLater(w, v, fmt.Sprintf("write not committed: %v", err))
	default:
		h.opts.Logger.Error("append failed", "err", err)
		h.writeError(w, v, http.StatusInternalServerError, fmt.Sprintf("write failed: %v", err), "")
	}
}

func (h *InfluxHandler) retryLater(w http.ResponseWriter, v api, msg string) {
	secs := int64((h.opts.RetryAfter + 999_999_999) / 1_000_000_000)
	w.Header().Set("Retry-After", fmt.Sprint(max(secs, 1)))
	h.writeError(w, v, http.StatusServiceUnavailable, msg, "")
}
