package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/value"

	"github.com/lightningdb/lightningdb/engine"
	"github.com/lightningdb/lightningdb/query"
	"github.com/lightningdb/lightningdb/series"
)

// serveExport streams the raw samples of the series matching any match[]
// selector (default: all series) over [start, end] as JSON lines, one
// series per line, with typed values and nanosecond timestamps:
//
//	{"metric":{"__name__":"cpu_usage","host":"a"},"type":"float","values":[1.5],"timestamps":[1700000000000000000]}
//
// Integers keep their 64 bits (JSON numbers), booleans are true/false and
// strings are strings. A Prometheus staleness marker is null, any other
// NaN "NaN" (jsonFloat). It is the debug and backup view of exactly what
// is stored, like VictoriaMetrics' /api/v1/export. Selectors are parsed
// by api (length limit, at least one matcher that does not match "");
// start and end as Prometheus' API reads them, clamped to the stored
// range.
func (s *server) serveExport(w http.ResponseWriter, r *http.Request, api *query.API) {
	if err := r.ParseForm(); err != nil {
		exportError(w, http.StatusBadRequest, err)
		return
	}
	minT, err := exportTime(r.Form.Get("start"), series.MinTime)
	if err != nil {
		exportError(w, http.StatusBadRequest, fmt.Errorf("invalid parameter \"start\": %w", err))
		return
	}
	maxT, err := exportTime(r.Form.Get("end"), series.MaxTime)
	if err != nil {
		exportError(w, http.StatusBadRequest, fmt.Errorf("invalid parameter \"end\": %w", err))
		return
	}
	if maxT < minT {
		exportError(w, http.StatusBadRequest, errors.New("invalid parameter \"end\": end timestamp must not be before start time"))
		return
	}
	sets, err := exportSelectors(api, r.Form["match[]"])
	if err != nil {
		exportError(w, http.StatusBadRequest, fmt.Errorf("invalid parameter \"match[]\": %w", err))
		return
	}
	ids := map[series.ID]bool{}
	var order []series.ID
	for _, ms := range sets {
		tms, err := query.ToIndexMatchers(ms)
		if err != nil {
			exportError(w, http.StatusBadRequest, fmt.Errorf("invalid parameter \"match[]\": %w", err))
			return
		}
		bm, err := s.db.Index().Postings(minT, maxT, tms...)
		if err != nil {
			exportError(w, http.StatusInternalServerError, err)
			return
		}
		it := bm.Iterator()
		for it.HasNext() {
			if id := it.Next(); !ids[id] {
				ids[id] = true
				order = append(order, id)
			}
		}
	}
	s.writeExport(w, r, order, minT, maxT)
}

// exportSelectors parses match[]; none means every series.
func exportSelectors(api *query.API, selectors []string) ([][]*labels.Matcher, error) {
	if len(selectors) == 0 {
		return [][]*labels.Matcher{{labels.MustNewMatcher(labels.MatchRegexp, labels.MetricName, ".+")}}, nil
	}
	return api.ParseMatchers(selectors)
}

// writeExport streams the series in order, stopping when the client goes
// away.
func (s *server) writeExport(w http.ResponseWriter, r *http.Request, order []series.ID, minT, maxT int64) {
	w.Header().Set("Content-Type", "application/stream+json")
	bw := bufio.NewWriterSize(w, 64<<10)
	defer bw.Flush()
	enc := json.NewEncoder(bw)
	var sit *engine.Iterator
	for _, id := range order {
		if r.Context().Err() != nil {
			return
		}
		sit = s.db.Select(id, minT, maxT, sit)
		if sit.Len() == 0 {
			continue
		}
		ls, err := series.UnmarshalLabels(nil, s.db.Registry().Labels(id))
		if err != nil {
			s.log.Error("export: bad labels", "series", id, "err", err)
			continue
		}
		if err := enc.Encode(exportLine(ls, sit)); err != nil {
			return // client went away
		}
	}
}

type exportRecord struct {
	Metric     map[string]string `json:"metric"`
	Type       string            `json:"type"`
	Values     []any             `json:"values"`
	Timestamps []int64           `json:"timestamps"`
}

func exportLine(ls series.Labels, it *engine.Iterator) exportRecord {
	rec := exportRecord{Metric: make(map[string]string, len(ls)), Type: it.Type().String()}
	for _, l := range ls {
		rec.Metric[l.Name] = l.Value
	}
	for it.Next() {
		var v any
		switch it.Type() {
		case series.TypeString:
			_, b := it.AtString()
			v = string(b)
		case series.TypeInt:
			_, raw := it.At()
			v = int64(raw)
		case series.TypeUint:
			_, raw := it.At()
			v = raw
		case series.TypeBool:
			_, raw := it.At()
			v = raw == 1
		default:
			_, f := it.AtFloat()
			v = jsonFloat(f)
		}
		t, _ := it.At()
		rec.Values = append(rec.Values, v)
		rec.Timestamps = append(rec.Timestamps, t)
	}
	return rec
}

// jsonFloat renders NaN and infinities as the strings Prometheus uses,
// since JSON has no such numbers, and a Prometheus staleness marker
// (value.StaleNaN) as null, so that a backup keeps it apart from a
// plain NaN. VictoriaMetrics' export writes the NaNs it stores (only
// staleness markers: it drops other NaNs on ingest) as null too, and its
// /api/v1/import reads null back as NaN.
func jsonFloat(f float64) any {
	switch {
	case value.IsStaleNaN(f):
		return nil
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "+Inf"
	case math.IsInf(f, -1):
		return "-Inf"
	}
	return f
}

// exportTime reads a start or end time as Prometheus' API does (Unix
// seconds or RFC 3339) and clamps it to the stored range,
// series.MinTime..series.MaxTime ns. Empty means def.
func exportTime(s string, def int64) (int64, error) {
	if s == "" {
		return def, nil
	}
	t, err := query.ParseTime(s)
	if err != nil {
		return 0, err
	}
	switch {
	case t.Before(time.Unix(0, series.MinTime)):
		return series.MinTime, nil
	case t.After(time.Unix(0, series.MaxTime)):
		return series.MaxTime, nil
	}
	return t.UnixNano(), nil
}

func exportError(w http.ResponseWriter, code int, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]string{"status": "error", "error": err.Error()})
}
