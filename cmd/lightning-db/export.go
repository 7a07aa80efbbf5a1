package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/prometheus/promql/parser"

	"github.com/lightningdb/lightningdb/engine"
	"github.com/lightningdb/lightningdb/query"
	"github.com/lightningdb/lightningdb/series"
)

// serveExport streams the raw samples of the series matching every
// match[] selector (default: all series) over [start, end] as JSON lines,
// one series per line, with typed values and nanosecond timestamps:
//
//	{"metric":{"__name__":"cpu_usage","host":"a"},"type":"float","values":[1.5],"timestamps":[1700000000000000000]}
//
// Integers keep their 64 bits (JSON numbers), booleans are true/false and
// strings are strings. It is the debug and backup view of exactly what is
// stored, like VictoriaMetrics' /api/v1/export.
func (s *server) serveExport(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		exportError(w, http.StatusBadRequest, err)
		return
	}
	minT, err := parseTimeParam(r.Form.Get("start"), math.MinInt64)
	if err != nil {
		exportError(w, http.StatusBadRequest, fmt.Errorf("start: %w", err))
		return
	}
	maxT, err := parseTimeParam(r.Form.Get("end"), math.MaxInt64)
	if err != nil {
		exportError(w, http.StatusBadRequest, fmt.Errorf("end: %w", err))
		return
	}
	selectors := r.Form["match[]"]
	if len(selectors) == 0 {
		selectors = []string{`{__name__=~".+"}`}
	}
	ids := map[series.ID]bool{}
	var order []series.ID
	for _, sel := range selectors {
		ms, err := parser.NewParser(parser.Options{}).ParseMetricSelector(sel)
		if err != nil {
			exportError(w, http.StatusBadRequest, fmt.Errorf("match[] %q: %w", sel, err))
			return
		}
		tms, err := query.ToIndexMatchers(ms)
		if err != nil {
			exportError(w, http.StatusBadRequest, fmt.Errorf("match[] %q: %w", sel, err))
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
	w.Header().Set("Content-Type", "application/stream+json")
	bw := bufio.NewWriterSize(w, 64<<10)
	defer bw.Flush()
	enc := json.NewEncoder(bw)
	var sit *engine.Iterator
	for _, id := range order {
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
// since JSON has no such numbers.
func jsonFloat(f float64) any {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "+Inf"
	case math.IsInf(f, -1):
		return "-Inf"
	}
	return f
}

// parseTimeParam reads a Prometheus-style time: RFC 3339 or Unix seconds
// with an optional fraction. Empty means def.
func parseTimeParam(s string, def int64) (int64, error) {
	if s == "" {
		return def, nil
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		if f > math.MaxInt64/1e9 || f < math.MinInt64/1e9 {
			return 0, fmt.Errorf("%q is out of range", s)
		}
		return int64(math.Round(f * 1e9)), nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return 0, fmt.Errorf("cannot parse %q as a Unix or RFC 3339 time", s)
	}
	return t.UnixNano(), nil
}

func exportError(w http.ResponseWriter, code int, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]string{"status": "error", "error": err.Error()})
}
