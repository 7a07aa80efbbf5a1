package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/value"

	"github.com/lightningdb/lightningdb/auth"
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
// NaN "NaN" (floatWord). It is the debug and backup view of exactly what
// is stored, like VictoriaMetrics' /api/v1/export. Selectors are parsed
// by api (length limit, at least one matcher that does not match "");
// start and end as Prometheus' API reads them, clamped to the stored
// range.
func (s *server) serveExport(w http.ResponseWriter, r *http.Request, api *query.API) {
	if err := r.ParseForm(); err != nil {
		exportError(w, http.StatusBadRequest, err)
		return
	}
	minT, maxT, err := exportRange(r)
	if err != nil {
		exportError(w, http.StatusBadRequest, err)
		return
	}
	sets, err := exportSelectors(api, r.Form["match[]"])
	if err != nil {
		exportError(w, http.StatusBadRequest, fmt.Errorf("invalid parameter \"match[]\": %w", err))
		return
	}
	sets = auth.ScopeSets(r.Context(), sets)
	// The union of the sets' series, as a bitmap: a few bytes a series
	// where a map and a list took about 50, for every series when no
	// match[] is given.
	ids := roaring.New()
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
		ids.Or(bm)
	}
	s.writeExport(w, r, ids, minT, maxT)
}

// exportSelectors parses match[]; none means every series.
func exportSelectors(api *query.API, selectors []string) ([][]*labels.Matcher, error) {
	if len(selectors) == 0 {
		return [][]*labels.Matcher{{labels.MustNewMatcher(labels.MatchRegexp, labels.MetricName, ".+")}}, nil
	}
	return api.ParseMatchers(selectors)
}

// writeExport streams the series in ID order, stopping when the client
// goes away. Each line is written value by value through a 64 KiB buffer, so a
// series of any length costs the engine's iterator and nothing more.
func (s *server) writeExport(w http.ResponseWriter, r *http.Request, ids *roaring.Bitmap, minT, maxT int64) {
	w.Header().Set("Content-Type", "application/stream+json")
	bw := bufio.NewWriterSize(w, 64<<10)
	defer bw.Flush()
	var sit *engine.Iterator
	var scratch []byte
	for it := ids.Iterator(); it.HasNext(); {
		id := it.Next()
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
		if scratch, err = writeExportLine(bw, scratch, ls, sit); err != nil {
			return // client went away
		}
	}
}

// exportFlush is the size at which a line's pending bytes are handed to
// the writer.
const exportFlush = 4 << 10

// writeExportLine writes one series as the JSON line
// {"metric":{...},"type":"...","values":[...],"timestamps":[...]}, the
// bytes encoding/json gives, value by value (values first, then the
// iterator's timestamps). buf is scratch space, returned for reuse.
func writeExportLine(w io.Writer, buf []byte, ls series.Labels, it *engine.Iterator) ([]byte, error) {
	b, err := appendExportHead(buf[:0], ls, it.Type())
	if err != nil {
		return buf, err
	}
	for i := 0; it.Next(); i++ {
		if i > 0 {
			b = append(b, ',')
		}
		if b, err = appendExportValue(b, it); err != nil {
			return b, err
		}
		if b, err = flushExport(w, b); err != nil {
			return b, err
		}
	}
	b = append(b, `],"timestamps":[`...)
	for i, t := range it.Timestamps() {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, t, 10)
		if b, err = flushExport(w, b); err != nil {
			return b, err
		}
	}
	b = append(b, "]}\n"...)
	_, err = w.Write(b)
	return b, err
}

// appendExportHead appends the start of an export line, up to the
// opening of its values: {"metric":{...},"type":"...","values":[
func appendExportHead(b []byte, ls series.Labels, typ series.ValueType) ([]byte, error) {
	metric := make(map[string]string, len(ls))
	for _, l := range ls {
		metric[l.Name] = l.Value
	}
	m, err := json.Marshal(metric)
	if err != nil {
		return b, err
	}
	t, _ := json.Marshal(typ.String())
	b = append(append(append(append(b, `{"metric":`...), m...), `,"type":`...), t...)
	return append(b, `,"values":[`...), nil
}

// flushExport hands b to w once it holds exportFlush bytes and returns
// it emptied; else returns it unchanged.
func flushExport(w io.Writer, b []byte) ([]byte, error) {
	if len(b) < exportFlush {
		return b, nil
	}
	_, err := w.Write(b)
	return b[:0], err
}

// appendExportValue appends the iterator's value as encoding/json would
// render it in an export line.
func appendExportValue(b []byte, it *engine.Iterator) ([]byte, error) {
	if it.Type() == series.TypeString {
		_, s := it.AtString()
		return appendExportRaw(b, series.TypeString, 0, s)
	}
	_, raw := it.At()
	return appendExportRaw(b, it.Type(), raw, nil)
}

// appendExportRaw appends a value of type typ as encoding/json would
// render it in an export line: the string s, or the raw value (see
// series.AsFloat64).
func appendExportRaw(b []byte, typ series.ValueType, raw uint64, s []byte) ([]byte, error) {
	switch typ {
	case series.TypeString:
		q, err := json.Marshal(string(s))
		return append(b, q...), err
	case series.TypeInt:
		return strconv.AppendInt(b, int64(raw), 10), nil
	case series.TypeUint:
		return strconv.AppendUint(b, raw, 10), nil
	case series.TypeBool:
		return strconv.AppendBool(b, raw == 1), nil
	}
	f := series.AsFloat64(typ, raw)
	if word, ok := floatWord(f); ok {
		return append(b, word...), nil
	}
	return appendJSONFloat(b, f), nil
}

// appendJSONFloat appends a finite f as encoding/json does: the shortest
// decimal, in exponent form below 1e-6 or from 1e21, with a 2-digit
// exponent written without its leading zero.
func appendJSONFloat(b []byte, f float64) []byte {
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if n := len(b); format == 'e' && n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
		b[n-2] = b[n-1]
		b = b[:n-1]
	}
	return b
}

// floatWord returns the JSON of a float that is not a JSON number: the
// strings Prometheus uses for NaN and infinities ("NaN", "+Inf", "-Inf"),
// and null for a Prometheus staleness marker (value.StaleNaN), so that a
// backup keeps it apart from a plain NaN. VictoriaMetrics' export writes
// the NaNs it stores (only staleness markers: it drops other NaNs on
// ingest) as null too, and its /api/v1/import reads null back as NaN.
func floatWord(f float64) (string, bool) {
	switch {
	case value.IsStaleNaN(f):
		return "null", true
	case math.IsNaN(f):
		return `"NaN"`, true
	case math.IsInf(f, 1):
		return `"+Inf"`, true
	case math.IsInf(f, -1):
		return `"-Inf"`, true
	}
	return "", false
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

// exportRange reads an export's start and end (exportTime), end not
// before start.
func exportRange(r *http.Request) (minT, maxT int64, err error) {
	if minT, err = exportTime(r.Form.Get("start"), series.MinTime); err != nil {
		return 0, 0, fmt.Errorf("invalid parameter \"start\": %w", err)
	}
	if maxT, err = exportTime(r.Form.Get("end"), series.MaxTime); err != nil {
		return 0, 0, fmt.Errorf("invalid parameter \"end\": %w", err)
	}
	if maxT < minT {
		return 0, 0, errors.New("invalid parameter \"end\": end timestamp must not be before start time")
	}
	return minT, maxT, nil
}
