package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"

	"github.com/prometheus/prometheus/model/value"

	"github.com/lightningdb/lightningdb/internal/reqbody"
	"github.com/lightningdb/lightningdb/series"
)

// importMaxLine bounds one line of /api/v1/import; importBatchSamples is
// the samples gathered before an Append. A request holds both in the
// request body budget for its whole length (importHold).
const (
	importMaxLine      = 8 << 20
	importBatchSamples = 64 << 10
	importHold         = importMaxLine + importBatchSamples*24
)

// errImportLine is the error of a line /api/v1/import cannot read.
var errImportLine = errors.New("bad import line")

// importLine is one line of /api/v1/export, ours or VictoriaMetrics'.
type importLine struct {
	Metric     map[string]string `json:"metric"`
	Type       string            `json:"type"`
	Values     []json.RawMessage `json:"values"`
	Timestamps []int64           `json:"timestamps"`
}

// serveImport reads JSON lines as /api/v1/export writes them and stores
// them: our lines (with "type", nanosecond timestamps, typed values) as
// they were, and VictoriaMetrics' (no "type": float values, millisecond
// timestamps) as floats. It answers 204 once every line is durable, the
// error of the first bad line with its number (the lines before it are
// stored), or, at the end, how many series the engine rejected (a type
// conflict, a series limit) and the first reason.
func (s *server) serveImport(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost && r.Method != http.MethodPut {
		w.Header().Set("Allow", "POST, PUT")
		exportError(w, http.StatusMethodNotAllowed, errors.New("use POST or PUT"))
		return
	}
	lease := reqbody.Lease{Budget: s.influxBudget()}
	defer lease.Release()
	if err := lease.Reserve(importHold); err != nil {
		w.Header().Set("Retry-After", "1")
		exportError(w, http.StatusServiceUnavailable, err)
		return
	}
	sc := bufio.NewScanner(r.Body)
	sc.Buffer(make([]byte, 0, 64<<10), importMaxLine)
	var b series.Batch
	var rejected int
	var firstRejection error
	flush := func() error {
		if b.Len() == 0 {
			return nil
		}
		res, err := s.appender().Append(r.Context(), &b) // the cluster's stream on an ingest node
		b.Reset()
		if len(res.Rejected) > 0 && firstRejection == nil {
			firstRejection = res.Rejected[0].Err
		}
		rejected += len(res.Rejected)
		return err
	}
	for n := 1; sc.Scan(); n++ {
		if len(sc.Bytes()) == 0 {
			continue
		}
		if err := decodeImportLine(sc.Bytes(), &b); err != nil {
			exportError(w, http.StatusBadRequest, errors.Join(fmt.Errorf("line %d: %w", n, err), flush()))
			return
		}
		if b.Samples() >= importBatchSamples {
			if err := flush(); err != nil {
				exportError(w, http.StatusServiceUnavailable, err)
				return
			}
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			err = fmt.Errorf("%w: a line is longer than %d bytes; split the series over several lines", errImportLine, importMaxLine)
		}
		exportError(w, http.StatusBadRequest, errors.Join(err, flush()))
		return
	}
	if err := flush(); err != nil {
		exportError(w, http.StatusServiceUnavailable, err)
		return
	}
	if rejected > 0 {
		exportError(w, http.StatusBadRequest, fmt.Errorf("%d series rejected (the others are stored); the first: %w",
			rejected, firstRejection))
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// decodeImportLine adds the series of one line to b.
func decodeImportLine(line []byte, b *series.Batch) error {
	var l importLine
	if err := json.Unmarshal(line, &l); err != nil {
		return fmt.Errorf("%w: %v", errImportLine, err)
	}
	if len(l.Values) != len(l.Timestamps) || len(l.Values) == 0 {
		return fmt.Errorf("%w: %d values and %d timestamps", errImportLine, len(l.Values), len(l.Timestamps))
	}
	ls := make(series.Labels, 0, len(l.Metric))
	for k, v := range l.Metric {
		ls = append(ls, series.Label{Name: k, Value: v})
	}
	ls.Sort()
	if err := ls.Validate(); err != nil {
		return fmt.Errorf("%w: %v", errImportLine, err)
	}
	typ, scale := series.TypeFloat, int64(1)
	if l.Type == "" {
		scale = 1e6 // VictoriaMetrics: milliseconds
	} else if typ = parseValueType(l.Type); typ == 0 {
		return fmt.Errorf("%w: unknown type %q", errImportLine, l.Type)
	}
	b.AddSeries(ls, typ)
	for i, raw := range l.Values {
		ts := l.Timestamps[i]
		if ts > series.MaxTime/scale || ts < series.MinTime/scale {
			b.DropLast()
			return fmt.Errorf("%w: timestamp %d out of range", errImportLine, ts)
		}
		if err := appendImportValue(b, typ, ts*scale, raw); err != nil {
			b.DropLast()
			return fmt.Errorf("%w: value %d: %v", errImportLine, i, err)
		}
	}
	return nil
}

// parseValueType returns the type an export line names, 0 for none.
func parseValueType(s string) series.ValueType {
	for _, t := range []series.ValueType{series.TypeFloat, series.TypeInt, series.TypeUint, series.TypeBool, series.TypeString} {
		if t.String() == s {
			return t
		}
	}
	return 0
}

// appendImportValue appends one value of type typ as export writes it.
func appendImportValue(b *series.Batch, typ series.ValueType, ts int64, raw json.RawMessage) error {
	s := string(raw)
	switch typ {
	case series.TypeInt:
		v, err := strconv.ParseInt(s, 10, 64)
		b.AppendInt(ts, v)
		return err
	case series.TypeUint:
		v, err := strconv.ParseUint(s, 10, 64)
		b.AppendUint(ts, v)
		return err
	case series.TypeBool:
		v, err := strconv.ParseBool(s)
		b.AppendBool(ts, v)
		return err
	case series.TypeString:
		var v string
		err := json.Unmarshal(raw, &v)
		b.AppendString(ts, []byte(v))
		return err
	}
	f, err := importFloat(s)
	b.AppendFloat(ts, f)
	return err
}

// importFloat reads a float as floatWord and appendJSONFloat write it.
func importFloat(s string) (float64, error) {
	switch s {
	case "null":
		return math.Float64frombits(value.StaleNaN), nil
	case `"NaN"`:
		return math.NaN(), nil
	case `"+Inf"`, `"Inf"`:
		return math.Inf(1), nil
	case `"-Inf"`:
		return math.Inf(-1), nil
	}
	return strconv.ParseFloat(s, 64)
}

// registerImport serves POST /api/v1/import; its rule (authroutes.go)
// asks for an unlimited admin token once authentication is on.
func (s *server) registerImport() {
	s.rm.Handle("/api/v1/import", http.HandlerFunc(s.serveImport))
}
