package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// table is one block of a query's answer as rows of cells, what the
// formatters print. PromQL answers are one table whose columns are the
// series' label names, then time and value. InfluxQL answers have one
// table per series, with the series' name and tags above it.
type table struct {
	Name    string // InfluxQL measurement; "" for PromQL
	Tags    string // InfluxQL series tags as k=v,k=v; "" if none
	Columns []string
	Rows    [][]string
}

// result is one query's answer: its tables, the server's warnings and
// the answer as the server sent it (for --format json).
type result struct {
	Tables   []table
	Warnings []string
	Raw      []byte
}

// errBadAnswer marks an answer that is not the JSON the API documents.
var errBadAnswer = errors.New("unexpected answer from server")

// promSample is one [time, "value"] pair of the Prometheus API.
type promSample [2]json.RawMessage

type promSeries struct {
	Metric     map[string]string `json:"metric"`
	Value      *promSample       `json:"value"`
	Values     []promSample      `json:"values"`
	Histogram  *promSample       `json:"histogram"`
	Histograms []promSample      `json:"histograms"`
}

// decodeProm turns a Prometheus API query answer into a result.
func decodeProm(body []byte) (*result, error) {
	var r struct {
		Status string `json:"status"`
		Data   struct {
			ResultType string          `json:"resultType"`
			Result     json.RawMessage `json:"result"`
		} `json:"data"`
		Warnings []string `json:"warnings"`
		Error    string   `json:"error"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("%w: %v", errBadAnswer, err)
	}
	if r.Status != "success" {
		return nil, fmt.Errorf("%w: status %q %s", errBadAnswer, r.Status, r.Error)
	}
	res := &result{Warnings: r.Warnings, Raw: body}
	switch r.Data.ResultType {
	case "vector", "matrix":
		var ss []promSeries
		if err := json.Unmarshal(r.Data.Result, &ss); err != nil {
			return nil, fmt.Errorf("%w: %s result: %v", errBadAnswer, r.Data.ResultType, err)
		}
		t, err := seriesTable(ss)
		if err != nil {
			return nil, err
		}
		res.Tables = []table{t}
	case "scalar", "string":
		var s promSample
		if err := json.Unmarshal(r.Data.Result, &s); err != nil {
			return nil, fmt.Errorf("%w: %s result: %v", errBadAnswer, r.Data.ResultType, err)
		}
		row, err := sampleRow(s)
		if err != nil {
			return nil, err
		}
		res.Tables = []table{{Columns: []string{"time", "value"}, Rows: [][]string{row}}}
	default:
		return nil, fmt.Errorf("%w: resultType %q", errBadAnswer, r.Data.ResultType)
	}
	return res, nil
}

// seriesTable makes one table of a vector or matrix: a column per label
// name (__name__ first, then sorted), then time and value; a row per
// sample.
func seriesTable(ss []promSeries) (table, error) {
	names := labelColumns(ss)
	t := table{Columns: append(slices.Clone(names), "time", "value")}
	for _, s := range ss {
		samples := s.Values
		if s.Value != nil {
			samples = append(samples, *s.Value)
		}
		samples = append(samples, s.Histograms...)
		if s.Histogram != nil {
			samples = append(samples, *s.Histogram)
		}
		for _, smp := range samples {
			row, err := sampleRow(smp)
			if err != nil {
				return table{}, err
			}
			cells := make([]string, 0, len(t.Columns))
			for _, n := range names {
				cells = append(cells, s.Metric[n])
			}
			t.Rows = append(t.Rows, append(cells, row...))
		}
	}
	return t, nil
}

// labelColumns is the union of the series' label names, __name__ first.
func labelColumns(ss []promSeries) []string {
	seen := map[string]bool{}
	var names []string
	for _, s := range ss {
		for n := range s.Metric {
			if !seen[n] {
				seen[n] = true
				names = append(names, n)
			}
		}
	}
	slices.SortFunc(names, func(a, b string) int {
		switch {
		case a == b:
			return 0
		case a == "__name__":
			return -1
		case b == "__name__":
			return 1
		}
		return strings.Compare(a, b)
	})
	return names
}

// sampleRow turns [time, value] into its time (RFC 3339 UTC, ms) and value
// cells. A value that is not a string (a native histogram) is shown as
// compact JSON.
func sampleRow(s promSample) ([]string, error) {
	var ts float64
	if err := json.Unmarshal(s[0], &ts); err != nil {
		return nil, fmt.Errorf("%w: sample time %s", errBadAnswer, s[0])
	}
	var v string
	if err := json.Unmarshal(s[1], &v); err != nil {
		var buf bytes.Buffer
		if len(s[1]) == 0 || json.Compact(&buf, s[1]) != nil {
			return nil, fmt.Errorf("%w: sample value %s", errBadAnswer, s[1])
		}
		v = buf.String()
	}
	return []string{formatTime(ts), v}, nil
}

// formatTime prints API seconds as RFC 3339 in UTC with milliseconds.
func formatTime(sec float64) string {
	if math.IsNaN(sec) || math.IsInf(sec, 0) || math.Abs(sec) > 1e12 {
		return strconv.FormatFloat(sec, 'f', -1, 64)
	}
	ms := int64(math.Round(sec * 1e3))
	return time.UnixMilli(ms).UTC().Format("2006-01-02T15:04:05.000Z07:00")
}

// influxAnswer is the InfluxDB 1.x /query answer.
type influxAnswer struct {
	Results []struct {
		StatementID int `json:"statement_id"`
		Series      []struct {
			Name    string            `json:"name"`
			Tags    map[string]string `json:"tags"`
			Columns []string          `json:"columns"`
			Values  [][]any           `json:"values"`
		} `json:"series"`
		Messages []struct {
			Level string `json:"level"`
			Text  string `json:"text"`
		} `json:"messages"`
		Error string `json:"error"`
	} `json:"results"`
	Error string `json:"error"`
}

// decodeInflux turns an InfluxQL answer into a result. Statements that
// failed come back as one error naming each (with the result of the
// others, which the caller still prints).
func decodeInflux(body []byte) (*result, error) {
	if !json.Valid(body) {
		return nil, fmt.Errorf("%w: not JSON", errBadAnswer)
	}
	var a influxAnswer
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&a); err != nil {
		return nil, fmt.Errorf("%w: %v", errBadAnswer, err)
	}
	if a.Error != "" {
		return nil, &serverError{Status: 200, Msg: a.Error}
	}
	res := &result{Raw: body}
	var errs []error
	for _, st := range a.Results {
		if st.Error != "" {
			errs = append(errs, fmt.Errorf("statement %d: %s", st.StatementID, st.Error))
		}
		for _, m := range st.Messages {
			res.Warnings = append(res.Warnings, m.Level+": "+m.Text)
		}
		for _, s := range st.Series {
			t := table{Name: s.Name, Tags: formatTags(s.Tags), Columns: s.Columns}
			for _, vals := range s.Values {
				row := make([]string, len(vals))
				for i, v := range vals {
					row[i] = formatCell(v)
				}
				t.Rows = append(t.Rows, row)
			}
			res.Tables = append(res.Tables, t)
		}
	}
	return res, errors.Join(errs...)
}

func formatTags(tags map[string]string) string {
	keys := make([]string, 0, len(tags))
	for k := range tags {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + tags[k]
	}
	return strings.Join(parts, ",")
}

// formatCell prints one InfluxQL value: strings bare, numbers as sent,
// null as empty.
func formatCell(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case json.Number:
		return v.String()
	case bool:
		return strconv.FormatBool(v)
	}
	b, _ := json.Marshal(v)
	return string(b)
}
