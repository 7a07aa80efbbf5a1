package query

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/lightningdb/lightningdb/auth"
	"github.com/lightningdb/lightningdb/tagindex"
)

const truncatedWarning = "results truncated due to limit"

// matcherSets parses match[] selectors into index matchers.
func (api *API) matcherSets(r *http.Request) ([][]*tagindex.Matcher, *apiError) {
	sets, err := api.parseMatchers(r.Form["match[]"])
	if err != nil {
		return nil, invalidParam("match[]", err)
	}
	sets = auth.ScopeSets(r.Context(), sets)
	var out [][]*tagindex.Matcher
	for _, ms := range sets {
		tms, err := ToIndexMatchers(ms)
		if err != nil {
			return nil, invalidParam("match[]", err)
		}
		out = append(out, tms)
	}
	return out, nil
}

// serveSeries answers /api/v1/series from the index and the registry (no
// sample is read). String series are left out, as from PromQL.
func (api *API) serveSeries(w http.ResponseWriter, r *http.Request) {
	if len(r.Form["match[]"]) == 0 {
		api.respondError(w, badData(errors.New("no match[] parameter provided")), nil)
		return
	}
	limit, e := parseLimit(r)
	if e != nil {
		api.respondError(w, e, nil)
		return
	}
	minT, maxT, e := timeRange(r)
	if e != nil {
		api.respondError(w, e, nil)
		return
	}
	sets, e := api.matcherSets(r)
	if e != nil {
		api.respondError(w, e, nil)
		return
	}
	ids := roaring.New()
	for _, tms := range sets {
		bm, err := api.a.st.Index().Postings(minT, maxT, tms...)
		if err != nil {
			api.respondError(w, &apiError{errorExec, err}, nil)
			return
		}
		ids.Or(bm)
	}
	refs := api.a.seriesRefs(ids)
	slices.SortFunc(refs, func(a, b seriesRef) int { return labels.Compare(a.lset, b.lset) })
	var warnings []string
	if limit > 0 && len(refs) > limit {
		refs = refs[:limit]
		warnings = append(warnings, truncatedWarning)
	}
	out := make([]labels.Labels, len(refs))
	for i := range refs {
		out[i] = refs[i].lset
	}
	api.respond(w, out, warnings, nil)
}

// serveLabels answers /api/v1/labels from the index.
func (api *API) serveLabels(w http.ResponseWriter, r *http.Request) {
	api.serveNames(w, r, func(minT, maxT int64, limit int, tms []*tagindex.Matcher) ([]string, error) {
		return api.a.st.Index().LabelNames(minT, maxT, limit, tms...)
	})
}

// serveLabelValues answers /api/v1/label/<name>/values from the index.
func (api *API) serveLabelValues(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if strings.HasPrefix(name, "U__") {
		name = model.UnescapeName(name, model.ValueEncodingEscaping)
	}
	if !model.UTF8Validation.IsValidLabelName(name) {
		api.respondError(w, badData(fmt.Errorf("invalid label name: %q", name)), nil)
		return
	}
	api.serveNames(w, r, func(minT, maxT int64, limit int, tms []*tagindex.Matcher) ([]string, error) {
		return api.a.st.Index().LabelValues(name, minT, maxT, limit, tms...)
	})
}

// serveNames runs list for each match[] set (or none), merges, sorts and
// applies the limit with Prometheus' warning.
func (api *API) serveNames(w http.ResponseWriter, r *http.Request, list func(minT, maxT int64, limit int, tms []*tagindex.Matcher) ([]string, error)) {
	limit, e := parseLimit(r)
	if e != nil {
		api.respondError(w, e, nil)
		return
	}
	minT, maxT, e := timeRange(r)
	if e != nil {
		api.respondError(w, e, nil)
		return
	}
	sets, e := api.matcherSets(r)
	if e != nil {
		api.respondError(w, e, nil)
		return
	}
	if len(sets) == 0 {
		sets = [][]*tagindex.Matcher{nil}
	}
	ask := 0
	if limit > 0 {
		ask = limit + 1
	}
	var out []string
	for _, tms := range sets {
		names, err := list(minT, maxT, ask, tms)
		if err != nil {
			api.respondError(w, &apiError{errorExec, err}, nil)
			return
		}
		out = append(out, names...)
	}
	if len(sets) > 1 {
		slices.Sort(out)
		out = slices.Compact(out)
	}
	var warnings []string
	if limit > 0 && len(out) > limit {
		out = out[:limit]
		warnings = append(warnings, truncatedWarning)
	}
	if out == nil {
		out = []string{}
	}
	api.respond(w, out, warnings, nil)
}

// serveMetadata answers from APIOptions.Metadata, or with no metadata.
func (api *API) serveMetadata(w http.ResponseWriter, r *http.Request) {
	limit := 0
	if s := r.FormValue("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			api.respondError(w, invalidParam("limit", fmt.Errorf("cannot parse %q to a valid limit", s)), nil)
			return
		}
		limit = n
	}
	if auth.FromContext(r.Context()).Limited() {
		api.respondError(w, &apiError{errorForbidden, errors.New("metadata covers every metric: a token limited to some series cannot read it")}, nil)
		return
	}
	if api.meta == nil {
		api.respond(w, map[string]any{}, nil, nil)
		return
	}
	api.respond(w, api.meta(r.FormValue("metric"), max(limit, 0)), nil, nil)
}

func (api *API) serveBuildInfo(w http.ResponseWriter, _ *http.Request) {
	api.respond(w, api.build, nil, nil)
}

// TSDBStat is one entry of a /api/v1/status/tsdb top-N list.
type TSDBStat struct {
	Name  string `json:"name"`
	Value uint64 `json:"value"`
}

// TSDBHeadStats is /api/v1/status/tsdb's headStats.
type TSDBHeadStats struct {
	NumSeries     uint64 `json:"numSeries"`
	NumLabelPairs int    `json:"numLabelPairs"`
	ChunkCount    int64  `json:"chunkCount"`
	MinTime       int64  `json:"minTime"`
	MaxTime       int64  `json:"maxTime"`
}

// TSDBStatus is /api/v1/status/tsdb's data (a query node sums its peers'
// into one, query/fanout).
type TSDBStatus struct {
	HeadStats                   TSDBHeadStats `json:"headStats"`
	SeriesCountByMetricName     []TSDBStat    `json:"seriesCountByMetricName"`
	LabelValueCountByLabelName  []TSDBStat    `json:"labelValueCountByLabelName"`
	MemoryInBytesByLabelName    []TSDBStat    `json:"memoryInBytesByLabelName"`
	SeriesCountByLabelValuePair []TSDBStat    `json:"seriesCountByLabelValuePair"`
}

// serveTSDBStatus answers /api/v1/status/tsdb from the index's statistics
// over every partition (limit: top N, default 10).
func (api *API) serveTSDBStatus(w http.ResponseWriter, r *http.Request) {
	limit := 10
	s := r.FormValue("limit")
	if s == "" {
		s = r.FormValue("topN") // VictoriaMetrics' name
	}
	if s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			api.respondError(w, badData(errors.New("limit must be a positive number")), nil)
			return
		}
		limit = n
	}
	// date=YYYY-MM-DD (VictoriaMetrics'): the series of the partitions
	// overlapping that UTC day only, so that two days can be compared.
	minT, maxT := int64(math.MinInt64), int64(math.MaxInt64)
	if d := r.FormValue("date"); d != "" {
		day, err := time.Parse(time.DateOnly, d)
		if err != nil {
			api.respondError(w, badData(fmt.Errorf("date %q: want YYYY-MM-DD", d)), nil)
			return
		}
		minT, maxT = day.UnixNano(), day.Add(24*time.Hour).UnixNano()-1
	}
	if auth.FromContext(r.Context()).Limited() {
		api.respondError(w, &apiError{errorForbidden, errors.New("status/tsdb covers every series: a token limited to some series cannot read it")}, nil)
		return
	}
	st := api.a.st.Index().Stats(minT, maxT, limit)
	out := TSDBStatus{
		HeadStats:                   TSDBHeadStats{NumSeries: st.NumSeries, NumLabelPairs: st.NumLabelPairs},
		SeriesCountByMetricName:     convStats(st.SeriesCountByMetricName),
		LabelValueCountByLabelName:  convStats(st.LabelValueCountByLabelName),
		MemoryInBytesByLabelName:    convStats(st.MemoryInBytesByLabelName),
		SeriesCountByLabelValuePair: convStats(st.SeriesCountByLabelValuePair),
	}
	if n := len(st.Partitions); n > 0 {
		out.HeadStats.MinTime = nsToMs(st.Partitions[0].MinT)
		out.HeadStats.MaxTime = nsToMs(st.Partitions[n-1].MaxT)
	}
	api.respond(w, out, nil, nil)
}

func convStats(in []tagindex.Stat) []TSDBStat {
	out := make([]TSDBStat, len(in))
	for i, s := range in {
		out[i] = TSDBStat{Name: s.Name, Value: s.Value}
	}
	return out
}

// serveExemplars answers with no exemplars (none are stored) after
// checking the query, as Prometheus does.
func (api *API) serveExemplars(w http.ResponseWriter, r *http.Request) {
	if _, e := api.parseExpr("query", r.FormValue("query")); e != nil {
		api.respondError(w, e, nil)
		return
	}
	if _, _, e := timeRange(r); e != nil {
		api.respondError(w, e, nil)
		return
	}
	api.respond(w, []any{}, nil, nil)
}

func (api *API) serveFormatQuery(w http.ResponseWriter, r *http.Request) {
	expr, e := api.parseExpr("query", r.FormValue("query"))
	if e != nil {
		api.respondError(w, e, nil)
		return
	}
	api.respond(w, expr.Pretty(0), nil, nil)
}
