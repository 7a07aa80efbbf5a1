package fanout

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/prometheus/prometheus/util/annotations"

	"github.com/lightningdb/lightningdb/auth"
	"github.com/lightningdb/lightningdb/query"
	"github.com/lightningdb/lightningdb/remote"
)

// PeerTopN is the least top N asked of each peer by TSDBStatus.
const PeerTopN = 1000

// TSDBStatus asks every peer's /api/v1/status/tsdb (date: YYYY-MM-DD or
// empty) for its top max(limit, PeerTopN) entries and sums the answers:
// the head counts, and each list by name, of which the limit largest are
// kept (ties in name order). Sums are exact for series held by one node
// when no peer's list is longer than what it was asked for; a series two
// nodes hold (a partition moving) counts twice, and a label value on two
// nodes counts twice in labelValueCountByLabelName. An entry a peer left
// out of its top list is missing from the sum.
func (q *Queryable) TSDBStatus(ctx context.Context, limit int, date string) (query.TSDBStatus, annotations.Annotations, error) {
	form := url.Values{"limit": {strconv.Itoa(max(limit, PeerTopN))}}
	if date != "" {
		form.Set("date", date)
	}
	rs, ws, err := fanMeta[query.TSDBStatus](ctx, q, "/api/v1/status/tsdb", form)
	if err != nil {
		return query.TSDBStatus{}, nil, err
	}
	return mergeTSDBStatus(rs, limit), ws, nil
}

func mergeTSDBStatus(rs []result[query.TSDBStatus], limit int) query.TSDBStatus {
	var out query.TSDBStatus
	var metric, values, memory, pairs []query.TSDBStat
	first := true
	for _, r := range rs {
		h := r.val.HeadStats
		out.HeadStats.NumSeries += h.NumSeries
		out.HeadStats.NumLabelPairs += h.NumLabelPairs
		out.HeadStats.ChunkCount += h.ChunkCount
		if h.MinTime != 0 || h.MaxTime != 0 { // 0, 0: a peer with no data
			if first || h.MinTime < out.HeadStats.MinTime {
				out.HeadStats.MinTime = h.MinTime
			}
			if first || h.MaxTime > out.HeadStats.MaxTime {
				out.HeadStats.MaxTime = h.MaxTime
			}
			first = false
		}
		metric = append(metric, r.val.SeriesCountByMetricName...)
		values = append(values, r.val.LabelValueCountByLabelName...)
		memory = append(memory, r.val.MemoryInBytesByLabelName...)
		pairs = append(pairs, r.val.SeriesCountByLabelValuePair...)
	}
	out.SeriesCountByMetricName = sumTop(metric, limit)
	out.LabelValueCountByLabelName = sumTop(values, limit)
	out.MemoryInBytesByLabelName = sumTop(memory, limit)
	out.SeriesCountByLabelValuePair = sumTop(pairs, limit)
	return out
}

// sumTop sums the values of equal names and keeps the limit largest,
// largest first, ties in name order.
func sumTop(in []query.TSDBStat, limit int) []query.TSDBStat {
	sum := make(map[string]uint64, len(in))
	for _, s := range in {
		sum[s.Name] += s.Value
	}
	out := make([]query.TSDBStat, 0, len(sum))
	for n, v := range sum {
		out = append(out, query.TSDBStat{Name: n, Value: v})
	}
	slices.SortFunc(out, func(a, b query.TSDBStat) int {
		if a.Value != b.Value {
			if a.Value > b.Value {
				return -1
			}
			return 1
		}
		if a.Name < b.Name {
			return -1
		}
		if a.Name > b.Name {
			return 1
		}
		return 0
	})
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out
}

// Metadata asks every peer's /api/v1/metadata (metric: one name or all;
// limit > 0: that many names) and returns the union with local (the
// node's own store, nil: none): per metric name, the distinct entries in
// peer order, the local ones first. limit applies to the union, in name
// order.
func (q *Queryable) Metadata(ctx context.Context, metric string, limit int, local map[string][]remote.MetricMetadata) (map[string][]remote.MetricMetadata, annotations.Annotations, error) {
	form := url.Values{}
	if metric != "" {
		form.Set("metric", metric)
	}
	if limit > 0 {
		form.Set("limit", strconv.Itoa(limit))
	}
	rs, ws, err := fanMeta[map[string][]remote.MetricMetadata](ctx, q, "/api/v1/metadata", form)
	if err != nil {
		return nil, nil, err
	}
	all := []map[string][]remote.MetricMetadata{local}
	for _, r := range rs {
		all = append(all, r.val)
	}
	return mergeMetadata(all, limit), ws, nil
}

func mergeMetadata(all []map[string][]remote.MetricMetadata, limit int) map[string][]remote.MetricMetadata {
	out := make(map[string][]remote.MetricMetadata)
	for _, m := range all {
		for name, es := range m {
			for _, e := range es {
				if !slices.Contains(out[name], e) {
					out[name] = append(out[name], e)
				}
			}
		}
	}
	if limit > 0 && len(out) > limit {
		names := make([]string, 0, len(out))
		for n := range out {
			names = append(names, n)
		}
		slices.Sort(names)
		for _, n := range names[limit:] {
			delete(out, n)
		}
	}
	return out
}

func (api *API) serveTSDBStatus(w http.ResponseWriter, r *http.Request) {
	limit := 10
	s := r.FormValue("limit")
	if s == "" {
		s = r.FormValue("topN") // VictoriaMetrics' name
	}
	if s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			respondError(w, errorBadData, errors.New("limit must be a positive number"))
			return
		}
		limit = n
	}
	date := r.FormValue("date")
	if date != "" {
		if _, err := time.Parse(time.DateOnly, date); err != nil {
			respondError(w, errorBadData, fmt.Errorf("date %q: want YYYY-MM-DD", date))
			return
		}
	}
	if auth.FromContext(r.Context()).Limited() {
		respondError(w, errorForbidden, errors.New("status/tsdb covers every series: a token limited to some series cannot read it"))
		return
	}
	out, ws, err := api.q.TSDBStatus(r.Context(), limit, date)
	if err != nil {
		respondError(w, errorFor(err), err)
		return
	}
	respond(w, out, warningStrings(ws))
}

func (api *API) serveMetadata(w http.ResponseWriter, r *http.Request) {
	limit := 0
	if s := r.FormValue("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			respondError(w, errorBadData, fmt.Errorf("invalid parameter \"limit\": cannot parse %q to a valid limit", s))
			return
		}
		limit = max(n, 0)
	}
	if auth.FromContext(r.Context()).Limited() {
		respondError(w, errorForbidden, errors.New("metadata covers every metric: a token limited to some series cannot read it"))
		return
	}
	metric := r.FormValue("metric")
	var local map[string][]remote.MetricMetadata
	if fn := api.q.opts.LocalMetadata; fn != nil {
		local = fn(metric, limit)
	}
	out, ws, err := api.q.Metadata(r.Context(), metric, limit, local)
	if err != nil {
		respondError(w, errorFor(err), err)
		return
	}
	respond(w, out, warningStrings(ws))
}
