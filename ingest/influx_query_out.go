package ingest

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/lightningdb/lightningdb/query/influxql"
)

// queryOutput is how a /query answer is written: the epoch, pretty,
// chunked and chunk_size parameters and the Accept header.
type queryOutput struct {
	epoch     int64 // ns per unit of epoch; 0: RFC3339 strings
	pretty    bool
	csv       bool
	chunked   bool
	chunkSize int
}

// defaultChunkSize is InfluxDB's default chunk_size.
const defaultChunkSize = 10000

func newQueryOutput(r *http.Request) (queryOutput, error) {
	o := queryOutput{pretty: r.FormValue("pretty") == "true", chunkSize: defaultChunkSize}
	switch e := r.FormValue("epoch"); e {
	case "":
	case "ns", "n":
		o.epoch = 1
	case "u", "µ", "us":
		o.epoch = int64(time.Microsecond)
	case "ms":
		o.epoch = int64(time.Millisecond)
	case "s":
		o.epoch = int64(time.Second)
	case "m":
		o.epoch = int64(time.Minute)
	case "h":
		o.epoch = int64(time.Hour)
	default:
		o.epoch = 1 // InfluxDB treats an unknown epoch as nanoseconds
	}
	o.csv = strings.Contains(r.Header.Get("Accept"), "application/csv") || strings.Contains(r.Header.Get("Accept"), "text/csv")
	if c := r.FormValue("chunked"); c == "true" || c == "1" {
		o.chunked = true
		if n, err := strconv.Atoi(r.FormValue("chunk_size")); err == nil && n > 0 {
			o.chunkSize = n
		}
	}
	return o, nil
}

// formatTimes replaces the influxql.Time values of rows by RFC3339 strings
// (in loc) or epoch integers.
func (o queryOutput) formatTimes(res []queryResult) {
	for _, r := range res {
		for _, s := range r.Series {
			for _, row := range s.Values {
				for i, v := range row {
					if t, ok := v.(influxql.Time); ok {
						row[i] = o.formatTime(int64(t), r.loc)
					}
				}
			}
		}
	}
}

func (o queryOutput) formatTime(ns int64, loc *time.Location) any {
	if o.epoch > 0 {
		return ns / o.epoch
	}
	t := time.Unix(0, ns).UTC()
	if loc != nil {
		t = t.In(loc)
	}
	return t.Format(time.RFC3339Nano)
}

// write sends the results as JSON or CSV (chunked answers go through
// startChunks).
func (o queryOutput) write(w http.ResponseWriter, res []queryResult) {
	if !o.csv && !o.pretty {
		o.streamJSON(w, res)
		return
	}
	if o.csv && o.epoch == 0 {
		o.epoch = 1 // InfluxDB's CSV: integer nanoseconds unless epoch says otherwise
	}
	o.formatTimes(res)
	switch {
	case o.csv:
		w.Header().Set("Content-Type", "application/csv")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(resultsCSV(res))
	default:
		o.writeJSON(w, map[string][]queryResult{"results": res})
	}
}

func (o queryOutput) writeJSON(w http.ResponseWriter, body any) {
	if !o.pretty {
		writeJSON(w, http.StatusOK, body)
		return
	}
	b, err := json.MarshalIndent(body, "", "    ")
	if err != nil {
		writeJSON(w, http.StatusOK, body) // reports the encoding failure
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(append(b, '\n'))
}

// chunkWriter streams one JSON object per chunk, as InfluxDB's chunked
// mode: a series longer than chunk_size rows is split, its pieces but the
// last marked partial, and each statement's chunks but its last marked
// partial. Each chunk is flushed as written.
type chunkWriter struct {
	o   queryOutput
	enc *json.Encoder
	fl  http.Flusher
}

func (o queryOutput) startChunks(w http.ResponseWriter) *chunkWriter {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	fl, _ := w.(http.Flusher)
	return &chunkWriter{o: o, enc: json.NewEncoder(w), fl: fl}
}

// write sends one statement's chunks; false when the client went away.
func (c *chunkWriter) write(r queryResult) bool {
	res := []queryResult{r}
	c.o.formatTimes(res)
	for _, ch := range chunkResult(res[0], c.o.chunkSize) {
		if err := c.enc.Encode(map[string][]queryResult{"results": {ch}}); err != nil {
			return false
		}
		if c.fl != nil {
			c.fl.Flush()
		}
	}
	return true
}

// chunkResult splits one statement's result into chunks of at most size
// rows of one series each.
func chunkResult(r queryResult, size int) []queryResult {
	if r.Error != "" || len(r.Series) == 0 {
		return []queryResult{r}
	}
	var out []queryResult
	for _, s := range r.Series {
		vals := s.Values
		for {
			n := min(len(vals), size)
			piece := s
			piece.Values = vals[:n]
			vals = vals[n:]
			piece.Partial = len(vals) > 0
			out = append(out, queryResult{StatementID: r.StatementID, Series: []querySet{piece}, Partial: true})
			if len(vals) == 0 {
				break
			}
		}
	}
	out[len(out)-1].Partial = false
	out[len(out)-1].Messages = r.Messages
	return out
}

// resultsCSV renders results as InfluxDB 1.x's CSV: a header
// name,tags,<columns> per change of columns, then one line per row.
func resultsCSV(res []queryResult) []byte {
	var b bytes.Buffer
	cw := csv.NewWriter(&b)
	var header []string
	for _, r := range res {
		if r.Error != "" {
			_ = cw.Write([]string{"error"})
			_ = cw.Write([]string{r.Error})
			header = nil
			continue
		}
		for _, s := range r.Series {
			h := append([]string{"name", "tags"}, s.Columns...)
			if strings.Join(h, ",") != strings.Join(header, ",") {
				if header != nil {
					cw.Flush()
					b.WriteByte('\n')
				}
				_ = cw.Write(h)
				header = h
			}
			tags := csvTags(s.Tags)
			for _, row := range s.Values {
				rec := []string{s.Name, tags}
				for _, v := range row {
					rec = append(rec, csvValue(v))
				}
				_ = cw.Write(rec)
			}
		}
	}
	cw.Flush()
	return b.Bytes()
}

func csvTags(tags map[string]string) string {
	keys := make([]string, 0, len(tags))
	for k := range tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + tags[k]
	}
	return strings.Join(parts, ",")
}

func csvValue(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	}
	return fmt.Sprint(v)
}
