package query

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime"
	"runtime/debug"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/util/stats"
)

// BuildInfo is what /api/v1/status/buildinfo reports. It has no features
// map on purpose: Grafana takes a non-empty one for Mimir.
type BuildInfo struct {
	Version   string `json:"version"`
	Revision  string `json:"revision"`
	Branch    string `json:"branch"`
	BuildUser string `json:"buildUser"`
	BuildDate string `json:"buildDate"`
	GoVersion string `json:"goVersion"`
}

// APIOptions configure the HTTP API.
type APIOptions struct {
	// Logger gets handler failures; nil means no logging.
	Logger *slog.Logger
	// Registerer gets the PromQL engine's metrics and the query caches'
	// (budget.go); nil means none.
	Registerer prometheus.Registerer
	// BuildInfo is served as is; GoVersion defaults to runtime.Version().
	BuildInfo BuildInfo
	// Metadata, when set, answers /api/v1/metadata (metric: one name or
	// all; limit > 0 bounds the names) with a value shaped as Prometheus'
	// data: metric name -> list of {type, help, unit}. Nil answers {}.
	Metadata func(metric string, limit int) any
}

// API serves the Prometheus HTTP API over an Adapter. It is safe for
// concurrent use.
type API struct {
	a      *Adapter
	ng     *promql.Engine
	parser parser.Parser
	log    *slog.Logger
	build  BuildInfo
	meta   func(metric string, limit int) any
	// rejected counts requests refused by a limit, by reason (errReason).
	rejected *prometheus.CounterVec
	// gate bounds the requests that read data at once (gate.go).
	gate *Gate
	// bufs keeps answer buffers for reuse (*[]byte; respond).
	bufs sync.Pool
}

// NewAPI returns the API over a, with a PromQL engine configured from a's
// options (timeout, lookback, in-memory samples limit).
func NewAPI(a *Adapter, opts APIOptions) *API {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opts.BuildInfo.GoVersion == "" {
		opts.BuildInfo.GoVersion = runtime.Version()
	}
	p := parser.NewParser(parser.Options{})
	o := a.Options()
	ng := promql.NewEngine(promql.EngineOpts{
		Logger:                   log.With("component", "promql"),
		Reg:                      opts.Registerer,
		MaxSamples:               o.MaxSamplesInMemory,
		Timeout:                  o.Timeout,
		LookbackDelta:            o.LookbackDelta,
		EnableAtModifier:         true,
		EnableNegativeOffset:     true,
		EnableDelayedNameRemoval: o.MetricsQLNames,
		NoStepSubqueryIntervalFn: func(int64) int64 { return subqueryStep.Milliseconds() },
		Parser:                   p,
	})
	if opts.Registerer != nil {
		opts.Registerer.MustRegister(newCacheCollector(a))
	}
	return &API{a: a, ng: ng, parser: p, log: log, build: opts.BuildInfo, meta: opts.Metadata,
		rejected: newRejectedCounter(opts.Registerer), gate: NewGate(o.MaxConcurrentQueries, o.MaxQueueDuration)}
}

// subqueryStep is the step of a subquery that names none.
const subqueryStep = time.Minute

// Register adds the endpoints to mux.
func (api *API) Register(mux Mux) {
	getPost := []string{http.MethodGet, http.MethodPost}
	get := []string{http.MethodGet}
	mux.Handle("/api/v1/query", api.Limit(api.handler(getPost, api.serveQuery)))
	mux.Handle("/api/v1/query_range", api.Limit(api.handler(getPost, api.serveQueryRange)))
	mux.Handle("/api/v1/series", api.Limit(api.handler(getPost, api.serveSeries)))
	mux.Handle("/api/v1/labels", api.Limit(api.handler(getPost, api.serveLabels)))
	mux.Handle("/api/v1/label/{name}/values", api.Limit(api.handler(get, api.serveLabelValues)))
	mux.Handle("/api/v1/metadata", api.handler(get, api.serveMetadata))
	mux.Handle("/api/v1/status/buildinfo", api.handler(get, api.serveBuildInfo))
	mux.Handle("/api/v1/status/tsdb", api.Limit(api.handler(get, api.serveTSDBStatus)))
	mux.Handle("/api/v1/query_exemplars", api.Limit(api.handler(getPost, api.serveExemplars)))
	mux.Handle("/api/v1/format_query", api.handler(getPost, api.serveFormatQuery))
}

// handler checks the method, parses the form and turns a panic into a
// logged 500.
func (api *API) handler(methods []string, fn func(http.ResponseWriter, *http.Request)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ok := false
		for _, m := range methods {
			ok = ok || r.Method == m
		}
		if !ok {
			w.Header().Set("Allow", fmt.Sprint(methods))
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		defer func() {
			if p := recover(); p != nil {
				api.log.Error("query handler panic", "path", r.URL.Path, "panic", p, "stack", string(debug.Stack()))
				api.respondError(w, &apiError{errorInternal, fmt.Errorf("internal error: %v", p)}, nil)
			}
		}()
		if err := r.ParseForm(); err != nil {
			api.respondError(w, badData(fmt.Errorf("error parsing form values: %w", err)), nil)
			return
		}
		fn(w, r)
	})
}

// queryData is the data of a query answer; Explain is set for explain=1.
type queryData struct {
	ResultType parser.ValueType `json:"resultType"`
	Result     parser.Value     `json:"result"`
	Explain    *Trace           `json:"explain,omitempty"`
}

func (api *API) serveQuery(w http.ResponseWriter, r *http.Request) {
	ts := time.Now()
	if v := r.FormValue("time"); v != "" {
		t, err := ParseTime(v)
		if err != nil {
			api.respondError(w, invalidParam("time", err), nil)
			return
		}
		ts = t
	}
	api.evaluate(w, r, ts, ts, 0, func(ctx context.Context, q *queryRun) (promql.Query, error) {
		return api.ng.NewInstantQuery(ctx, q.queryable, q.opts, q.query, ts)
	})
}

func (api *API) serveQueryRange(w http.ResponseWriter, r *http.Request) {
	start, err := ParseTime(r.FormValue("start"))
	if err != nil {
		api.respondError(w, invalidParam("start", err), nil)
		return
	}
	end, err := ParseTime(r.FormValue("end"))
	if err != nil {
		api.respondError(w, invalidParam("end", err), nil)
		return
	}
	if end.Before(start) {
		api.respondError(w, invalidParam("end", errors.New("end timestamp must not be before start time")), nil)
		return
	}
	step, err := parseDuration(r.FormValue("step"))
	if err != nil {
		api.respondError(w, invalidParam("step", err), nil)
		return
	}
	if step <= 0 {
		api.respondError(w, invalidParam("step", errors.New("zero or negative query resolution step widths are not accepted. Try a positive integer")), nil)
		return
	}
	if end.Sub(start)/step > 11000 {
		api.respondError(w, badData(errors.New("exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)")), nil)
		return
	}
	api.evaluate(w, r, start, end, step, func(ctx context.Context, q *queryRun) (promql.Query, error) {
		return api.ng.NewRangeQuery(ctx, q.queryable, q.opts, q.query, start, end, step)
	})
}

// queryRun is what evaluate prepares for a query constructor: the query
// text may be rewritten for pushdown (Adapter.Prepare).
type queryRun struct {
	queryable storage.Queryable
	query     string
	opts      promql.QueryOpts
}

// evaluate runs one instant or range query: the request's timeout (which
// can only lower the server's), lookback_delta and explain, limits through
// the per-query Trace, and the answer in Prometheus' format.
func (api *API) evaluate(w http.ResponseWriter, r *http.Request, start, end time.Time, step time.Duration, newQuery func(context.Context, *queryRun) (promql.Query, error)) {
	ctx := r.Context()
	if v := r.FormValue("timeout"); v != "" {
		d, err := parseDuration(v)
		if err != nil {
			api.respondError(w, invalidParam("timeout", err), nil)
			return
		}
		if d <= 0 {
			api.respondError(w, invalidParam("timeout", fmt.Errorf("timeout must be positive, got %s", d)), nil)
			return
		}
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}
	var lookback time.Duration
	if v := r.FormValue("lookback_delta"); v != "" {
		d, err := parseDuration(v)
		if err != nil {
			api.respondError(w, badData(fmt.Errorf("error parsing lookback delta duration: %w", err)), nil)
			return
		}
		lookback = d
	}
	expr, e := api.parseExpr("query", r.FormValue("query"))
	if e != nil {
		api.respondError(w, e, nil)
		return
	}
	scopeQuery(r, expr) // a limited caller's scope, in expr and in the query text read below
	o := api.a.Options()
	if err := checkPoints(expr, start, end, step, subqueryStep, o.MaxPoints); err != nil {
		api.respondError(w, &apiError{errorExec, err}, nil)
		return
	}
	explain := r.FormValue("explain") == "1" || r.FormValue("explain") == "true"
	// The first attempt's preparation, from the parsed query (which it
	// consumes); a range query with the shape of a direct aggregation is
	// answered without the engine when that applies.
	first := api.a.prepare(&Trace{Explain: explain}, r.FormValue("query"), expr, start, end, step, true)
	if first.direct != nil && step > 0 && !explain {
		if api.direct(w, ctx, first.direct) {
			return
		}
		first = api.a.prepare(&Trace{}, r.FormValue("query"), nil, start, end, step, true) // direct used its plan
	}
	var tr *Trace
	exec := func(prepare func(*Trace, string, time.Time, time.Time, time.Duration) (storage.Queryable, string)) (promql.Query, *promql.Result, error) {
		tr = &Trace{Explain: explain}
		queryable, qs := prepare(tr, r.FormValue("query"), start, end, step)
		run := &queryRun{queryable: queryable, query: qs, opts: promql.NewPrometheusQueryOpts(false, lookback, nil)}
		qry, err := newQuery(ctx, run)
		if err != nil {
			return nil, nil, err
		}
		return qry, qry.Exec(ctx), nil
	}
	qry, res, err := exec(func(*Trace, string, time.Time, time.Time, time.Duration) (storage.Queryable, string) {
		tr = first.tr
		return first.queryable, first.query
	})
	if err == nil && errors.Is(res.Err, errUnionFallback) {
		// The union rewrite does not apply to this data: evaluate as written.
		qry.Close()
		qry, res, err = exec(api.a.PrepareNoUnion)
	}
	if err != nil {
		api.respondError(w, badData(err), nil)
		return
	}
	defer qry.Close()
	if res.Err != nil {
		api.respondError(w, apiErrorFor(res.Err), nil)
		return
	}
	warnings, infos := res.Warnings.AsStrings(r.FormValue("query"), 10, 10)
	data := &queryData{ResultType: res.Value.Type(), Result: EmptyNotNull(res.Value)}
	if explain {
		tr.Finish()
		tr.Stages = engineTimings(qry.Stats())
		data.Explain = tr
	}
	api.respond(w, data, warnings, infos)
}

// direct answers a range query by direct aggregation d (direct.go) when
// the aggregation applies, and reports whether it did; otherwise the
// engine evaluates it.
func (api *API) direct(w http.ResponseWriter, ctx context.Context, d *directAgg) bool {
	m, ok, err := api.a.evalDirect(ctx, &Trace{}, d)
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		api.respondError(w, apiErrorFor(err), nil) // not again through the engine
		return true
	}
	if err != nil || !ok {
		return false // the engine evaluates it, and reports the error if it has one
	}
	api.respond(w, &queryData{ResultType: parser.ValueTypeMatrix, Result: EmptyNotNull(m)}, nil, nil)
	return true
}

// EmptyNotNull makes an empty result marshal as [] rather than null (the
// query node's API uses it too).
func EmptyNotNull(v parser.Value) parser.Value {
	switch x := v.(type) {
	case promql.Matrix:
		if x == nil {
			return promql.Matrix{}
		}
	case promql.Vector:
		if x == nil {
			return promql.Vector{}
		}
	}
	return v
}

// engineTimings returns the PromQL engine's stage timers, in seconds.
func engineTimings(s *stats.Statistics) map[string]float64 {
	if s == nil {
		return nil
	}
	b, err := json.Marshal(stats.NewQueryStats(s))
	if err != nil {
		return nil
	}
	var qs struct {
		Timings map[string]float64 `json:"timings"`
	}
	if json.Unmarshal(b, &qs) != nil {
		return nil
	}
	return qs.Timings
}

// Mux is where Register and RegisterAdmin add the endpoints: an
// *http.ServeMux, or a wrapper that guards each route (cmd's routeMux).
type Mux interface {
	Handle(pattern string, handler http.Handler)
}
