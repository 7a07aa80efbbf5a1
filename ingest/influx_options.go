package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lightningdb/lightningdb/ingest/lineproto"
)

// InfluxOptions configures an InfluxHandler. Zero fields take the defaults
// of DefaultInfluxOptions unless their comment says otherwise.
type InfluxOptions struct {
	// Lines configures the mapping of lines to series (metric name
	// separator, db label, line length limit).
	Lines lineproto.Options
	// MaxBodyBytes caps a request body after decompression; a larger body
	// gets 413. Default 32 MiB. The batch built from a body takes several
	// times its size (about 7x for Telegraf-shaped lines), so keep it
	// modest.
	MaxBodyBytes int64
	// Budget, when set, bounds the request body bytes (after gzip) held at
	// once over every connection; a write that does not fit is answered
	// 503 with Retry-After, before its body is read when it announces its
	// length. Default: none.
	Budget BodyBudget
	// Tokens, when not empty, turns authentication on: a request must carry
	// one of them as `Authorization: Token <t>` (v2) or `Bearer <t>`, or as
	// the password of HTTP Basic auth or of the p parameter (v1). Default
	// none. The server leaves it empty: its route guard authenticates every
	// route with scoped tokens (auth, docs/security.md).
	Tokens []string
	// RetryAfter is the Retry-After given with 503 answers. Default 1s;
	// it is rounded up to whole seconds.
	RetryAfter time.Duration
	// Version is sent as X-Influxdb-Version. Default "1.8.0", the value
	// VictoriaMetrics sends, as some clients check for 1.8 or later.
	Version string
	// Databases seeds the set that SHOW DATABASES lists.
	Databases []string
	// MoreDatabases, when set, adds to what SHOW DATABASES lists (a query
	// node: the databases of its peers).
	MoreDatabases func(ctx context.Context) []string
	// MaxDatabases bounds the set of databases remembered from CREATE
	// DATABASE and writes. Default 1024.
	MaxDatabases int
	// InfluxQL, when set, answers the /query statements the handler does
	// not answer itself (SELECT, SHOW MEASUREMENTS, TAG KEYS, ...; see
	// query/influxql). When nil, such statements get a statement error.
	InfluxQL StatementExecutor
	// QueryLimit, when set, wraps the /query handler: the server passes
	// the query API's concurrency gate (query.max_concurrent_queries), so
	// InfluxQL and PromQL share its slots. Default none.
	QueryLimit func(http.Handler) http.Handler
	// Catalog, when set, learns the measurement and field of each new
	// series key the write endpoints parse (lineproto.Options.Observer),
	// once the write is appended (influx_catalog.go), and is synced then,
	// so InfluxQL reads map metric names back to measurements and fields.
	Catalog FieldCatalog
	// RetentionPolicies, when set, answers CREATE/ALTER/DROP RETENTION
	// POLICY and SHOW RETENTION POLICIES on /query.
	RetentionPolicies RetentionPolicies
	// MaxRowLimit, when positive, bounds the rows of a non-chunked /query
	// answer, as InfluxDB's [http] max-row-limit: the series that crosses
	// it is truncated and marked "partial": true, the series and
	// statements after it are dropped. Chunked answers stream whole.
	// Default 0: unlimited (the statement limits of query/influxql still
	// bound each statement).
	MaxRowLimit int
	// Deleter, when set, answers DROP SERIES, DELETE, DROP MEASUREMENT and
	// DROP DATABASE on /query (influxql_delete.go); when nil they get a
	// statement error.
	Deleter InfluxDeleter
	// Now returns the server time for lines without a timestamp, in ns.
	// Default time.Now().UnixNano().
	Now func() int64
	// Logger logs handler failures (never per line). Default: discard.
	Logger *slog.Logger
	// Registerer, when set, gets the handler's counters; cmd adds the
	// lightningdb_ prefix. Default: none.
	Registerer prometheus.Registerer
}

// DefaultInfluxOptions returns the defaults described on InfluxOptions.
func DefaultInfluxOptions() InfluxOptions {
	return InfluxOptions{
		Lines:        lineproto.DefaultOptions(),
		MaxBodyBytes: 32 << 20,
		RetryAfter:   time.Second,
		Version:      "1.8.0",
		MaxDatabases: 1024,
		Now:          func() int64 { return time.Now().UnixNano() },
		Logger:       slog.New(slog.DiscardHandler),
	}
}

// DefaultSeriesKeyCache is the number of series keys each pooled parser of
// the write handler remembers (lineproto.Options.SeriesKeyCache) when
// InfluxOptions.Lines leaves it 0: about 5 MB per parser when full.
const DefaultSeriesKeyCache = 16384

func (o *InfluxOptions) ensureDefaults() {
	def := DefaultInfluxOptions()
	if o.MaxBodyBytes == 0 {
		o.MaxBodyBytes = def.MaxBodyBytes
	}
	if o.Lines.SeriesKeyCache == 0 { // the handler caches keys unless told not to (negative)
		o.Lines.SeriesKeyCache = DefaultSeriesKeyCache
	}
	if o.RetryAfter == 0 {
		o.RetryAfter = def.RetryAfter
	}
	if o.Version == "" {
		o.Version = def.Version
	}
	if o.MaxDatabases == 0 {
		o.MaxDatabases = def.MaxDatabases
	}
	if o.Now == nil {
		o.Now = def.Now
	}
	if o.Logger == nil {
		o.Logger = def.Logger
	}
}

func (o *InfluxOptions) validate() error {
	var errs []error
	if o.MaxBodyBytes < 0 {
		errs = append(errs, fmt.Errorf("MaxBodyBytes %d is negative", o.MaxBodyBytes))
	}
	if o.RetryAfter < 0 {
		errs = append(errs, fmt.Errorf("RetryAfter %v is negative", o.RetryAfter))
	}
	if o.MaxDatabases < 0 {
		errs = append(errs, fmt.Errorf("MaxDatabases %d is negative", o.MaxDatabases))
	}
	for i, t := range o.Tokens {
		if t == "" {
			errs = append(errs, fmt.Errorf("Tokens[%d] is empty", i))
		}
	}
	return errors.Join(errs...)
}

// Mux is where Register adds the endpoints: an *http.ServeMux, or a
// wrapper that guards each route (cmd's routeMux).
type Mux interface {
	Handle(pattern string, handler http.Handler)
	HandleFunc(pattern string, handler func(http.ResponseWriter, *http.Request))
}
