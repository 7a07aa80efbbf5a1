package main

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lightningdb/lightningdb/ingest"
	"github.com/lightningdb/lightningdb/remote"
)

// HTTPConfig configures the HTTP server that every HTTP front end shares
// (config section http:). Zero fields take the defaults below; a negative
// duration or size turns that limit off.
type HTTPConfig struct {
	// ReadHeaderTimeout bounds the reading of a request's header. Default
	// 10s.
	ReadHeaderTimeout time.Duration `yaml:"read_header_timeout"`
	// ReadTimeout bounds the reading of a request's body, from the end of
	// its header; a body not received in time is answered 408 and its
	// connection closed. Default 1m (a 32 MiB body at 0.5 MiB/s).
	ReadTimeout time.Duration `yaml:"read_timeout"`
	// WriteTimeout bounds each write of an answer to the client: a client
	// that stops reading has its answer cut after it. It is not a bound on
	// the whole request, so long queries and streamed answers are not cut
	// while the client reads. Default 1m.
	WriteTimeout time.Duration `yaml:"write_timeout"`
	// IdleTimeout closes a keep-alive connection that carries no request
	// for that long. Default 1m.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// MaxHeaderBytes caps a request's header (request line included);
	// over it the answer is 431. Default 64 KiB.
	MaxHeaderBytes int `yaml:"max_header_bytes"`
	// MaxInflightBodyBytes caps the request body bytes that the write
	// endpoints of every protocol (/write, /api/v2/write, /api/v1/write)
	// and remote read hold in memory at once, over all connections,
	// counted after gzip or snappy decoding, and the SAMPLES remote-read
	// answers being built or sent. A request that does not fit
	// is answered 503 with Retry-After, before its body is read when it
	// announces its length. Requests larger than 64 KiB may use only 7/8
	// of it, so small writes keep being served beside large ones.
	// Default 128 MiB; it must hold the largest request the influx and
	// remote limits allow.
	MaxInflightBodyBytes int64 `yaml:"max_inflight_body_bytes"`
	// TLS serves HTTPS instead of HTTP (tls.go, docs/security.md).
	TLS TLSConfig `yaml:"tls"`
}

// Defaults of HTTPConfig.
const (
	defaultReadHeaderTimeout    = 10 * time.Second
	defaultReadTimeout          = time.Minute
	defaultWriteTimeout         = time.Minute
	defaultIdleTimeout          = time.Minute
	defaultMaxHeaderBytes       = 64 << 10
	defaultMaxInflightBodyBytes = 128 << 20
)

// withDefaults returns c with zero fields set to their defaults.
func (c HTTPConfig) withDefaults() HTTPConfig {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.ReadHeaderTimeout, defaultReadHeaderTimeout)
	def(&c.ReadTimeout, defaultReadTimeout)
	def(&c.WriteTimeout, defaultWriteTimeout)
	def(&c.IdleTimeout, defaultIdleTimeout)
	if c.MaxHeaderBytes == 0 {
		c.MaxHeaderBytes = defaultMaxHeaderBytes
	}
	if c.MaxInflightBodyBytes == 0 {
		c.MaxInflightBodyBytes = defaultMaxInflightBodyBytes
	}
	return c
}

// setupHTTP resolves the HTTP limits and registers their metrics.
func (s *server) setupHTTP(reg prometheus.Registerer) error {
	s.httpCfg = s.cfg.HTTP.withDefaults()
	b, err := newBodyBudget(s.cfg)
	if err != nil {
		return err
	}
	s.budget = b
	inflight := func() float64 { return 0 }
	if b != nil {
		inflight = func() float64 { return float64(b.used.Load()) }
	}
	s.httpm, err = newHTTPMetrics(reg, inflight)
	if err != nil {
		return err
	}
	if b != nil {
		b.rejected = s.httpm.inflightRejected
	}
	return nil
}

// influxBudget and remoteBudget return the budget for the front ends'
// options, nil (not a nil pointer) when it is off.
func (s *server) influxBudget() ingest.BodyBudget {
	if s.budget == nil {
		return nil
	}
	return s.budget
}

func (s *server) remoteBudget() remote.BodyBudget {
	if s.budget == nil {
		return nil
	}
	return s.budget
}

// positive returns d, or 0 (net/http's "none") when d is negative.
func positive[T time.Duration | int](d T) T { return max(d, 0) }

// newHTTPServer returns the server for h with the configured timeouts and
// limits. ReadTimeout is not given to net/http: its deadline also ends
// the request's context when it passes while the handler runs (a long
// query would be cancelled); httpLimits applies it to the body instead.
func (s *server) newHTTPServer(h http.Handler) *http.Server {
	c := s.httpCfg
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: positive(c.ReadHeaderTimeout),
		WriteTimeout:      positive(c.WriteTimeout),
		IdleTimeout:       positive(c.IdleTimeout),
		MaxHeaderBytes:    positive(c.MaxHeaderBytes),
		ConnState:         s.httpm.connState,
		ErrorLog:          newHTTPErrorLog(s.log.With("component", "http"), time.Now),
	}
}

// httpMetrics counts what the HTTP limits refuse.
type httpMetrics struct {
	readTimeouts, inflightRejected prometheus.Counter
	closed                         *prometheus.CounterVec
	open                           atomic.Int64
}

func newHTTPMetrics(reg prometheus.Registerer, inflight func() float64) (*httpMetrics, error) {
	rejected := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "http_rejected_requests_total",
		Help: "Requests refused by an HTTP limit: reason=inflight_bytes (503, http.max_inflight_body_bytes), read_timeout (408, body not received within http.read_timeout).",
	}, []string{"reason"})
	m := &httpMetrics{
		readTimeouts:     rejected.WithLabelValues("read_timeout"),
		inflightRejected: rejected.WithLabelValues("inflight_bytes"),
		closed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "http_closed_connections_total",
			Help: "HTTP connections closed, by the state they were in: new (no request yet: http.read_header_timeout or the client), idle (between requests: http.idle_timeout or the client), active (during a request).",
		}, []string{"state"}),
	}
	for _, c := range []prometheus.Collector{
		rejected, m.closed,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "http_open_connections", Help: "Open HTTP connections."},
			func() float64 { return float64(m.open.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "http_inflight_body_bytes",
			Help: "Request body bytes held by requests in progress, and SAMPLES remote-read answers (of http.max_inflight_body_bytes)."}, inflight),
	} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register http metrics: %w", err)
		}
	}
	for _, s := range []string{"new", "idle", "active"} {
		m.closed.WithLabelValues(s)
	}
	return m, nil
}

// trackedConn remembers the last state net/http reported for it.
type trackedConn struct {
	net.Conn
	state atomic.Int32 // an http.ConnState
}

// trackingListener wraps the connections it accepts in trackedConn.
type trackingListener struct{ net.Listener }

func (l trackingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &trackedConn{Conn: c}, nil
}

// connState counts connections open and closed, by the state they were in.
func (m *httpMetrics) connState(c net.Conn, st http.ConnState) {
	if tc, ok := c.(*tls.Conn); ok { // HTTPS: ServeTLS wraps the trackedConn
		c = tc.NetConn()
	}
	tc, ok := c.(*trackedConn)
	if !ok {
		return
	}
	switch st {
	case http.StateNew:
		m.open.Add(1)
	case http.StateClosed, http.StateHijacked:
		m.open.Add(-1)
		if prev := http.ConnState(tc.state.Load()); prev <= http.StateIdle {
			m.closed.WithLabelValues(prev.String()).Inc()
		}
	}
	tc.state.Store(int32(st))
}

// httpLimits applies the read timeout to request bodies and the write
// timeout to each write of an answer (see HTTPConfig).
func (s *server) httpLimits(next http.Handler) http.Handler {
	rt, wt := s.httpCfg.ReadTimeout, s.httpCfg.WriteTimeout
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		dw := &deadlineWriter{ResponseWriter: w, rc: rc, timeout: wt}
		if rt > 0 && r.Body != nil && r.Body != http.NoBody {
			_ = rc.SetReadDeadline(time.Now().Add(rt))
			dw.body = &deadlineBody{ReadCloser: r.Body, rc: rc, timeout: rt, m: s.httpm}
			// A shallow copy, as http.StripPrefix makes: net/http must
			// still see its own body in r once the handler returns (it
			// closes a connection whose large body was left unread
			// instead of reading it).
			r2 := new(http.Request)
			*r2 = *r
			r2.Body = dw.body
			r = r2
		}
		next.ServeHTTP(dw, r)
		dw.extend() // what the handler left buffered is sent after it returns
	})
}

// deadlineBody ends a request body's read deadline once the body is read
// (net/http's background read must not end the request's context at it),
// and reports a body not received in time as errReadTimeout.
type deadlineBody struct {
	io.ReadCloser
	rc       *http.ResponseController
	timeout  time.Duration
	m        *httpMetrics
	timedOut bool
}

// errReadTimeout marks a request body not received within read_timeout.
var errReadTimeout = errors.New("request body not received within http.read_timeout")

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	switch {
	case err == io.EOF:
		_ = b.rc.SetReadDeadline(time.Time{})
	case errors.Is(err, os.ErrDeadlineExceeded):
		if !b.timedOut {
			b.timedOut = true
			b.m.readTimeouts.Inc()
		}
		err = fmt.Errorf("%w (%v): %w", errReadTimeout, b.timeout, err)
	}
	return n, err
}

// deadlineWriter gives each write of an answer WriteTimeout to complete,
// unless the handler sets its own deadlines (http.ResponseController
// finds SetWriteDeadline here). It turns the 400 a handler answers to a
// body that timed out into 408.
type deadlineWriter struct {
	http.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration
	own     bool // the handler set its own write deadline
	body    *deadlineBody
}

func (d *deadlineWriter) extend() {
	if d.timeout > 0 && !d.own {
		_ = d.rc.SetWriteDeadline(time.Now().Add(d.timeout))
	}
}

func (d *deadlineWriter) WriteHeader(code int) {
	if code == http.StatusBadRequest && d.body != nil && d.body.timedOut {
		code = http.StatusRequestTimeout
	}
	d.ResponseWriter.WriteHeader(code)
}

func (d *deadlineWriter) Write(p []byte) (int, error) {
	d.extend()
	return d.ResponseWriter.Write(p)
}

// Flush implements http.Flusher for handlers that assert it.
func (d *deadlineWriter) Flush() { _ = d.FlushError() }

// FlushError is what http.ResponseController.Flush calls.
func (d *deadlineWriter) FlushError() error {
	d.extend()
	return d.rc.Flush()
}

// SetWriteDeadline hands the write deadline over to the handler.
func (d *deadlineWriter) SetWriteDeadline(t time.Time) error {
	d.own = true
	return d.rc.SetWriteDeadline(t)
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (d *deadlineWriter) Unwrap() http.ResponseWriter { return d.ResponseWriter }

// The budget serves both front ends.
var (
	_ ingest.BodyBudget = (*bodyBudget)(nil)
	_ remote.BodyBudget = (*bodyBudget)(nil)
)

// smallBody is the size up to which a request may use the whole budget;
// larger requests leave the last eighth of it to small ones.
const smallBody = 64 << 10

// bodyBudget is http.max_inflight_body_bytes: the request body bytes held
// at once by the write endpoints of every protocol and by remote read.
type bodyBudget struct {
	limit, reserve int64
	used           atomic.Int64
	rejected       prometheus.Counter
}

// newBodyBudget returns the budget, or nil when it is off (negative). It
// fails when the largest request the front ends allow could never fit.
func newBodyBudget(cfg Config) (*bodyBudget, error) {
	limit := cfg.HTTP.withDefaults().MaxInflightBodyBytes
	if limit < 0 {
		return nil, nil
	}
	b := &bodyBudget{limit: limit, reserve: limit / 8}
	ro := remote.DefaultOptions()
	rc := cfg.Remote
	need := max(cfg.Influx.MaxBodyBytes, or(rc.MaxBodyBytes, ro.MaxBodyBytes)+or(rc.MaxDecodedBytes, ro.MaxDecodedBytes))
	if need > limit-b.reserve {
		return nil, fmt.Errorf("http.max_inflight_body_bytes %d: a request may use 7/8 of it, %d, less than the largest request allowed, %d (influx.max_body_bytes, or remote.max_body_bytes + remote.max_decoded_bytes); raise it or lower those",
			limit, limit-b.reserve, need)
	}
	if answer := min(or(rc.ReadMaxBytes, ro.ReadMaxBytes), or(rc.ReadSamplesMaxBytes, ro.ReadSamplesMaxBytes)); answer > limit-b.reserve {
		return nil, fmt.Errorf("http.max_inflight_body_bytes %d: a SAMPLES remote-read answer may use 7/8 of it, %d, less than remote.read_samples_max_bytes (or read_max_bytes), %d; raise it or lower that",
			limit, limit-b.reserve, answer)
	}
	return b, nil
}

func or(v, def int64) int64 {
	if v == 0 {
		return def
	}
	return v
}

// TryAcquire implements ingest.BodyBudget and remote.BodyBudget.
func (b *bodyBudget) TryAcquire(held, n int64) bool {
	limit := b.limit
	if held+n > smallBody {
		limit -= b.reserve
	}
	for {
		u := b.used.Load()
		if u+n > limit {
			b.rejected.Inc()
			return false
		}
		if b.used.CompareAndSwap(u, u+n) {
			return true
		}
	}
}

// Release implements ingest.BodyBudget and remote.BodyBudget.
func (b *bodyBudget) Release(n int64) { b.used.Add(-n) }
