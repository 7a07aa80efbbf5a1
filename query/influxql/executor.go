// Package influxql answers InfluxQL 1.x read statements (SELECT and SHOW)
// over the engine, for InfluxDB 1.x clients and Grafana's InfluxDB data
// source. Statements are parsed with github.com/influxdata/influxql; the
// HTTP plumbing of /query stays in package ingest.
//
// Line protocol stores field f of measurement m as the series named
// m<sep>f, with the tags as labels and the database as the db label
// (docs/ingest-lineproto.md). A Catalog remembers how each metric name was
// split, so reads map series back to measurements and fields; series
// written by other protocols read as measurement <metric name>, field
// "value" (docs/influxql.md).
package influxql

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync/atomic"
	"time"

	ql "github.com/influxdata/influxql"

	"github.com/lightningdb/lightningdb/engine"
	"github.com/lightningdb/lightningdb/series"
	"github.com/lightningdb/lightningdb/tagindex"
)

// Storage is what the executor reads: *engine.DB satisfies it.
type Storage interface {
	Index() *tagindex.Index
	Registry() *series.Registry
	Querier(minT, maxT int64) (*engine.Querier, error)
}

// Options configures an Executor. Zero fields take the defaults of
// DefaultOptions.
type Options struct {
	// DBLabel is the label that carries the database (lineproto's
	// DBLabel). Default "db".
	DBLabel string
	// UnlabelledDB is the database whose statements also see the series
	// without the DBLabel label (Prometheus remote write, MQTT); InfluxDB
	// 1.x users conventionally send Prometheus data to "prometheus".
	// Default "prometheus".
	UnlabelledDB string
	// Catalog maps metric names back to measurements and fields. Nil:
	// every series reads as measurement <metric name>, field "value".
	Catalog *Catalog
	// MaxSeries is the most series one statement may read. Default 100000.
	MaxSeries int
	// MaxSamples is the most samples one statement may read (and hold:
	// about 16 bytes each, strings more). Default 10 million.
	MaxSamples int64
	// MaxPoints is the most output values (rows times columns) and GROUP
	// BY time() windows one statement may produce. Default 10 million.
	MaxPoints int64
	// MaxBuckets is the most GROUP BY time() windows of one statement
	// (InfluxDB's max-select-buckets; each costs memory even when empty,
	// as fill() answers every window). Default 100,000: Grafana asks for
	// about as many windows as the panel is wide.
	MaxBuckets int64
	// Timeout bounds each statement. Default 30s.
	Timeout time.Duration
	// DatabaseExists, when set, tells a SELECT on a database without any
	// series whether the database exists (CREATE DATABASE, writes,
	// retention policies); when not, the statement gets InfluxDB's
	// "database not found: <db>". Default: never reported.
	DatabaseExists func(db string) bool
	// RetentionPolicyExists, when set, tells whether db has the retention
	// policy a SELECT names (the rp parameter or a db.rp.m source); when
	// not, the statement gets InfluxDB's "retention policy not found: <rp>".
	// Policies do not partition data here: every policy of a database
	// reads the same series (docs/influxql.md). Default: every rp exists.
	RetentionPolicyExists func(db, rp string) bool
	// DisableSummaries makes aggregates decode every sample instead of
	// taking whole blocks from their summaries, raw SELECTs with LIMIT
	// read every block instead of the newest or oldest, and a WHERE on
	// fields reads every field of every series (for comparison).
	DisableSummaries bool
	// Now returns the time now() means. Default time.Now.
	Now func() time.Time
}

// DefaultOptions returns the defaults described on Options.
func DefaultOptions() Options {
	return Options{DBLabel: "db", UnlabelledDB: "prometheus", MaxSeries: 100_000, MaxSamples: 10_000_000, MaxPoints: 10_000_000, MaxBuckets: 100_000,
		Timeout: 30 * time.Second, Now: time.Now}
}

func (o *Options) ensureDefaults() {
	def := DefaultOptions()
	if o.DBLabel == "" {
		o.DBLabel = def.DBLabel
	}
	if o.UnlabelledDB == "" {
		o.UnlabelledDB = def.UnlabelledDB
	}
	if o.MaxSeries <= 0 {
		o.MaxSeries = def.MaxSeries
	}
	if o.MaxSamples <= 0 {
		o.MaxSamples = def.MaxSamples
	}
	if o.MaxPoints <= 0 {
		o.MaxPoints = def.MaxPoints
	}
	if o.MaxBuckets <= 0 {
		o.MaxBuckets = def.MaxBuckets
	}
	if o.Timeout <= 0 {
		o.Timeout = def.Timeout
	}
	if o.Now == nil {
		o.Now = def.Now
	}
}

// Executor runs InfluxQL statements. It is safe for concurrent use.
type Executor struct {
	st   Storage
	opts Options
	// summaryBlocks counts the blocks aggregates took from their
	// summaries instead of decoding them.
	summaryBlocks atomic.Int64
}

// SummaryBlocks returns how many blocks aggregates have taken whole from
// their summaries since the Executor was made.
func (e *Executor) SummaryBlocks() int64 { return e.summaryBlocks.Load() }

// New returns an Executor over st.
func New(st Storage, opts Options) *Executor {
	opts.ensureDefaults()
	return &Executor{st: st, opts: opts}
}

// Params are the request parameters a statement runs with.
type Params struct {
	DB string // the db parameter: which db label value is read
	RP string // the rp parameter; retention policies do not partition data here
}

// Time is a timestamp in a result row (ns since the epoch); the HTTP layer
// formats it as RFC3339 or as an epoch integer.
type Time int64

// Row is one series of a statement's result, in InfluxDB's shape.
type Row struct {
	Name    string            `json:"name,omitempty"`
	Tags    map[string]string `json:"tags,omitempty"`
	Columns []string          `json:"columns"`
	Values  [][]any           `json:"values,omitempty"`
	Partial bool              `json:"partial,omitempty"`
}

// Result is one statement's answer: its rows, or its error.
type Result struct {
	Series []*Row
	// Location is the tz() of a SELECT: times are formatted in it.
	Location *time.Location
	Err      error
}

// Errors of statements; their texts are InfluxDB's where it has one.
var (
	ErrUnsupported      = errors.New("statement not supported")
	ErrDatabaseRequired = errors.New("database name required")
	ErrDatabaseNotFound = errors.New("database not found")
	ErrRPNotFound       = errors.New("retention policy not found")
	ErrTooManySeries    = errors.New("max-select-series limit exceeded")
	ErrTooManySamples   = errors.New("max-select-point limit exceeded")
	ErrTooManyBuckets   = errors.New("max-select-buckets limit exceeded")
)

// Execute runs one parsed statement.
func (e *Executor) Execute(ctx context.Context, stmt ql.Statement, p Params) (res Result) {
	ctx, cancel := context.WithTimeout(ctx, e.opts.Timeout)
	defer cancel()
	defer func() {
		// The parser's AST helpers panic on some statements they accept
		// (found by FuzzStatement); one bad statement must not take the
		// request down.
		if r := recover(); r != nil {
			res = Result{Err: fmt.Errorf("%w: internal error on %q: %v", ErrUnsupported, stmt.String(), r)}
		}
	}()
	switch s := stmt.(type) {
	case *ql.SelectStatement:
		res.Location = s.Location
		res.Series, res.Err = e.selectRows(ctx, s, p)
	case *ql.ExplainStatement:
		res.Series, res.Err = e.explain(ctx, s, p)
	default:
		res.Series, res.Err = e.show(ctx, stmt, p)
	}
	if res.Err != nil {
		res.Series = nil
		if errors.Is(res.Err, context.DeadlineExceeded) {
			res.Err = fmt.Errorf("query timeout: the statement ran longer than %s", e.opts.Timeout)
		}
	}
	return res
}

// allTime is the widest range the index and engine accept.
const (
	minTime = math.MinInt64 + 1
	maxTime = math.MaxInt64 - 1
)
