package fanout

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/util/annotations"

	"github.com/lightningdb/lightningdb/query"
)

// API serves the Prometheus HTTP API over a Queryable: PromQL evaluated
// here over the peers' data, metadata merged from the peers' APIs. It is
// safe for concurrent use.
type API struct {
	q     *Queryable
	ng    *promql.Engine
	build any
	gate  gate
}

// NewAPI returns the API over q; build is served as
// /api/v1/status/buildinfo's data.
func NewAPI(q *Queryable, build any) *API {
	o := q.opts
	ng := promql.NewEngine(promql.EngineOpts{
		Logger:                   o.Logger.With("component", "promql"),
		Reg:                      o.Registerer,
		MaxSamples:               o.MaxSamplesInMemory,
		Timeout:                  o.Timeout,
		LookbackDelta:            o.LookbackDelta,
		EnableAtModifier:         true,
		EnableNegativeOffset:     true,
		EnableDelayedNameRemoval: o.MetricsQLNames,
		NoStepSubqueryIntervalFn: func(int64) int64 { return time.Minute.Milliseconds() },
	})
	return &API{q: q, ng: ng, build: build, gate: newGate(o.MaxConcurrentQueries, o.MaxQueueDuration)}
}

// Mux is where Register adds the endpoints.
type Mux interface {
	Handle(pattern string, handler http.Handler)
}

// Register adds the endpoints to mux.
func (api *API) Register(mux Mux) {
	mux.Handle("/api/v1/query", api.gate.limit(api.handler(api.serveQuery)))
	mux.Handle("/api/v1/query_range", api.gate.limit(api.handler(api.serveQueryRange)))
	mux.Handle("/api/v1/series", api.gate.limit(api.handler(api.serveSeries)))
	mux.Handle("/api/v1/labels", api.gate.limit(api.handler(api.serveLabels)))
	mux.Handle("/api/v1/label/{name}/values", api.gate.limit(api.handler(api.serveLabelValues)))
	mux.Handle("/api/v1/read", api.gate.limit(http.HandlerFunc(api.ServeRead)))
	mux.Handle("/api/v1/status/buildinfo", api.handler(func(w http.ResponseWriter, _ *http.Request) {
		respond(w, api.build, nil)
	}))
	mux.Handle("/api/v1/metadata", api.handler(api.serveMetadata))                      // status.go
	mux.Handle("/api/v1/status/tsdb", api.gate.limit(api.handler(api.serveTSDBStatus))) // status.go
}

// Handler wraps fn as the API's data-reading endpoints are wrapped: it
// holds one of the query slots, takes GET and POST, parses the form,
// reads partial_response into the context (for the Queryable's calls)
// and turns a panic into a 500. The server uses it for /api/v1/export.
func (api *API) Handler(fn func(http.ResponseWriter, *http.Request)) http.Handler {
	return api.gate.limit(api.handler(fn))
}

// handler takes GET and POST, parses the form, reads partial_response into
// the context and turns a panic into a 500.
func (api *API) handler(fn func(http.ResponseWriter, *http.Request)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodPost {
			w.Header().Set("Allow", "GET, POST")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		defer func() {
			if p := recover(); p != nil {
				api.q.opts.Logger.Error("fanout handler panic", "path", r.URL.Path, "panic", p, "stack", string(debug.Stack()))
				respondError(w, errorInternal, fmt.Errorf("internal error: %v", p))
			}
		}()
		if err := r.ParseForm(); err != nil {
			respondError(w, errorBadData, fmt.Errorf("error parsing form values: %w", err))
			return
		}
		ctx, err := partialFromForm(r)
		if err != nil {
			respondError(w, errorBadData, err)
			return
		}
		fn(w, r.WithContext(ctx))
	})
}

// partialFromForm reads partial_response (Thanos) or
// deny_partial_response (VictoriaMetrics) into the request's context.
func partialFromForm(r *http.Request) (context.Context, error) {
	ctx := r.Context()
	if v := r.FormValue("partial_response"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return nil, fmt.Errorf("invalid parameter \"partial_response\": %q: want true or false", v)
		}
		ctx = WithPartialResponse(ctx, b)
	}
	if v := r.FormValue("deny_partial_response"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return nil, fmt.Errorf("invalid parameter \"deny_partial_response\": %q: want true or false", v)
		}
		ctx = WithPartialResponse(ctx, !b)
	}
	return ctx, nil
}

type queryData struct {
	ResultType parser.ValueType `json:"resultType"`
	Result     parser.Value     `json:"result"`
}

func (api *API) serveQuery(w http.ResponseWriter, r *http.Request) {
	ts := time.Now()
	if v := r.FormValue("time"); v != "" {
		t, err := query.ParseTime(v)
		if err != nil {
			respondError(w, errorBadData, fmt.Errorf("invalid parameter \"time\": %w", err))
			return
		}
		ts = t
	}
	if api.distributed(w, r, "/api/v1/query", url.Values{"time": {msToSeconds(ts.UnixMilli())}}) {
		return
	}
	api.evaluate(w, r, func(ctx context.Context, opts promql.QueryOpts) (promql.Query, error) {
		return api.ng.NewInstantQuery(ctx, api.q, opts, api.queryText(r.FormValue("query")), ts)
	})
}

func (api *API) serveQueryRange(w http.ResponseWriter, r *http.Request) {
	var start, end time.Time
	for _, p := range []struct {
		name string
		t    *time.Time
	}{{"start", &start}, {"end", &end}} {
		t, err := query.ParseTime(r.FormValue(p.name))
		if err != nil {
			respondError(w, errorBadData, fmt.Errorf("invalid parameter %q: %w", p.name, err))
			return
		}
		*p.t = t
	}
	if end.Before(start) {
		respondError(w, errorBadData, errors.New("invalid parameter \"end\": end timestamp must not be before start time"))
		return
	}
	step, err := parseDuration(r.FormValue("step"))
	if err == nil && step <= 0 {
		err = errors.New("zero or negative query resolution step widths are not accepted. Try a positive integer")
	}
	if err != nil {
		respondError(w, errorBadData, fmt.Errorf("invalid parameter \"step\": %w", err))
		return
	}
	if end.Sub(start)/step > 11000 {
		respondError(w, errorBadData, errors.New("exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)"))
		return
	}
	if api.distributed(w, r, "/api/v1/query_range", url.Values{"start": {msToSeconds(start.UnixMilli())},
		"end": {msToSeconds(end.UnixMilli())}, "step": {strconv.FormatFloat(step.Seconds(), 'f', -1, 64)}}) {
		return
	}
	api.evaluate(w, r, func(ctx context.Context, opts promql.QueryOpts) (promql.Query, error) {
		return api.ng.NewRangeQuery(ctx, api.q, opts, api.queryText(r.FormValue("query")), start, end, step)
	})
}

// queryText is the query to evaluate: in MetricsQL-names mode with the
// name-keeping rewrite of the local API (query.KeepMetricsQLNames); a query
// that does not parse is left for the engine to report.
func (api *API) queryText(qs string) string {
	if !api.q.opts.MetricsQLNames {
		return qs
	}
	expr, err := parser.NewParser(parser.Options{}).ParseExpr(qs)
	if err != nil {
		return qs
	}
	if expr, kept := query.KeepMetricsQLNames(expr); kept {
		return expr.String()
	}
	return qs
}

// evaluate runs a query with the request's timeout and lookback_delta and
// answers in Prometheus' format, the peers' failures as warnings.
func (api *API) evaluate(w http.ResponseWriter, r *http.Request, newQuery func(context.Context, promql.QueryOpts) (promql.Query, error)) {
	ctx := r.Context()
	if v := r.FormValue("timeout"); v != "" {
		d, err := parseDuration(v)
		if err == nil && d <= 0 {
			err = fmt.Errorf("timeout must be positive, got %s", d)
		}
		if err != nil {
			respondError(w, errorBadData, fmt.Errorf("invalid parameter \"timeout\": %w", err))
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
			respondError(w, errorBadData, fmt.Errorf("error parsing lookback delta duration: %w", err))
			return
		}
		lookback = d
	}
	qry, err := newQuery(ctx, promql.NewPrometheusQueryOpts(false, lookback, nil))
	if err != nil {
		respondError(w, errorBadData, err)
		return
	}
	defer qry.Close()
	res := qry.Exec(ctx)
	if res.Err != nil {
		respondError(w, errorFor(res.Err), res.Err)
		return
	}
	warnings, _ := res.Warnings.AsStrings(r.FormValue("query"), 10, 10)
	respond(w, &queryData{ResultType: res.Value.Type(), Result: query.EmptyNotNull(res.Value)}, warnings)
}

func (api *API) serveSeries(w http.ResponseWriter, r *http.Request) {
	if len(r.Form["match[]"]) == 0 {
		respondError(w, errorBadData, errors.New("no match[] parameter provided"))
		return
	}
	minT, maxT, limit, err := metaParams(r)
	if err != nil {
		respondError(w, errorBadData, err)
		return
	}
	out, ws, err := api.q.Series(r.Context(), minT, maxT, r.Form["match[]"], limit)
	if err != nil {
		respondError(w, errorFor(err), err)
		return
	}
	respond(w, out, warningStrings(ws))
}

func (api *API) serveLabels(w http.ResponseWriter, r *http.Request) {
	minT, maxT, limit, err := metaParams(r)
	if err != nil {
		respondError(w, errorBadData, err)
		return
	}
	out, ws, err := api.q.LabelNames(r.Context(), minT, maxT, r.Form["match[]"], limit)
	if err != nil {
		respondError(w, errorFor(err), err)
		return
	}
	respond(w, out, warningStrings(ws))
}

func (api *API) serveLabelValues(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if !model.UTF8Validation.IsValidLabelName(model.UnescapeName(name, model.ValueEncodingEscaping)) {
		respondError(w, errorBadData, fmt.Errorf("invalid label name: %q", name))
		return
	}
	minT, maxT, limit, err := metaParams(r)
	if err != nil {
		respondError(w, errorBadData, err)
		return
	}
	out, ws, err := api.q.LabelValues(r.Context(), name, minT, maxT, r.Form["match[]"], limit)
	if err != nil {
		respondError(w, errorFor(err), err)
		return
	}
	respond(w, out, warningStrings(ws))
}

// metaParams reads start and end (ms; absent = unbounded) and limit.
func metaParams(r *http.Request) (minT, maxT int64, limit int, err error) {
	minT, maxT = math.MinInt64, math.MaxInt64
	for _, p := range []struct {
		name string
		ms   *int64
	}{{"start", &minT}, {"end", &maxT}} {
		if v := r.FormValue(p.name); v != "" {
			t, err := query.ParseTime(v)
			if err != nil {
				return 0, 0, 0, fmt.Errorf("invalid parameter %q: %w", p.name, err)
			}
			*p.ms = t.UnixMilli()
		}
	}
	if v := r.FormValue("limit"); v != "" {
		limit, err = strconv.Atoi(v)
		if err != nil || limit < 0 {
			return 0, 0, 0, fmt.Errorf("invalid parameter \"limit\": cannot parse %q to a valid limit", v)
		}
	}
	return minT, maxT, limit, nil
}

func warningStrings(ws annotations.Annotations) []string {
	out, _ := ws.AsStrings("", 10, 10)
	return out
}

// parseDuration reads float seconds or a Prometheus duration (5m).
func parseDuration(s string) (time.Duration, error) {
	if d, err := strconv.ParseFloat(s, 64); err == nil {
		ts := d * float64(time.Second)
		if math.IsNaN(ts) || ts >= float64(math.MaxInt64) || ts < float64(math.MinInt64) {
			return 0, fmt.Errorf("cannot parse %q to a valid duration. It overflows int64", s)
		}
		return time.Duration(ts), nil
	}
	if d, err := model.ParseDuration(s); err == nil {
		return time.Duration(d), nil
	}
	return 0, fmt.Errorf("cannot parse %q to a valid duration", s)
}

// errorType is a Prometheus API error type and its status code.
type errorType struct {
	name string
	code int
}

var (
	errorBadData   = errorType{"bad_data", http.StatusBadRequest}
	errorExec      = errorType{"execution", http.StatusUnprocessableEntity}
	errorCanceled  = errorType{"canceled", 499}
	errorTimeout   = errorType{"timeout", http.StatusServiceUnavailable}
	errorInternal  = errorType{"internal", http.StatusInternalServerError}
	errorForbidden = errorType{"forbidden", http.StatusForbidden}
)

// errorFor maps an evaluation error to its type. A denied partial
// response is "execution" (422), as Thanos answers it.
func errorFor(err error) errorType {
	var (
		eqc promql.ErrQueryCanceled
		eqt promql.ErrQueryTimeout
		pe  parser.ParseErrors
		pe1 *parser.ParseErr
	)
	switch {
	case errors.Is(err, ErrPartialResponse), errors.Is(err, ErrPeerRejected), errors.Is(err, ErrTooManySamples):
		return errorExec
	case errors.As(err, &eqc), errors.Is(err, context.Canceled):
		return errorCanceled
	case errors.As(err, &eqt), errors.Is(err, context.DeadlineExceeded):
		return errorTimeout
	case errors.As(err, &pe), errors.As(err, &pe1), errors.Is(err, ErrBadSelector):
		return errorBadData
	}
	return errorExec
}

type response struct {
	Status    string   `json:"status"`
	Data      any      `json:"data,omitempty"`
	ErrorType string   `json:"errorType,omitempty"`
	Error     string   `json:"error,omitempty"`
	Warnings  []string `json:"warnings,omitempty"`
}

func respond(w http.ResponseWriter, data any, warnings []string) {
	writeJSON(w, http.StatusOK, &response{Status: "success", Data: data, Warnings: warnings})
}

func respondError(w http.ResponseWriter, t errorType, err error) {
	writeJSON(w, t.code, &response{Status: "error", ErrorType: t.name, Error: err.Error()})
}

func writeJSON(w http.ResponseWriter, code int, resp *response) {
	b, ok := appendMatrixResponse(nil, resp)
	var err error
	if !ok {
		b, err = json.Marshal(resp)
	}
	if err != nil {
		code = http.StatusInternalServerError
		b, _ = json.Marshal(&response{Status: "error", ErrorType: errorInternal.name, Error: err.Error()})
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	w.Write(b)
}

// appendMatrixResponse writes a matrix answer with the query package's
// encoder (json.Marshal's bytes, several times faster); false for any
// other answer.
func appendMatrixResponse(b []byte, resp *response) ([]byte, bool) {
	qd, ok := resp.Data.(*queryData)
	if !ok {
		return b, false
	}
	m, ok := qd.Result.(promql.Matrix)
	if !ok {
		return b, false
	}
	b = append(b, `{"status":"success","data":{"resultType":"matrix","result":`...)
	b, ok = query.AppendMatrixJSON(b, m)
	if !ok {
		return b, false
	}
	b = append(b, '}')
	if len(resp.Warnings) > 0 {
		ws, err := json.Marshal(resp.Warnings)
		if err != nil {
			return b, false
		}
		b = append(append(b, `,"warnings":`...), ws...)
	}
	return append(b, '}'), true
}
