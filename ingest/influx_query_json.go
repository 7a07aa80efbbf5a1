package ingest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"math"
	"net/http"
	"strconv"

	"github.com/lightningdb/lightningdb/query/influxql"
)

// streamJSON writes results as json.Marshal would, row by row, formatting
// times as it goes: a wide answer is never held twice (rows and their
// JSON text) nor with its times as strings.
func (o queryOutput) streamJSON(w http.ResponseWriter, res []queryResult) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	bw := bufio.NewWriterSize(w, 32<<10)
	defer bw.Flush()
	bw.WriteString(`{"results":[`)
	for i, r := range res {
		if i > 0 {
			bw.WriteByte(',')
		}
		bw.WriteString(`{"statement_id":`)
		bw.WriteString(strconv.Itoa(r.StatementID))
		if len(r.Series) > 0 {
			bw.WriteString(`,"series":[`)
			for j, s := range r.Series {
				if j > 0 {
					bw.WriteByte(',')
				}
				o.streamSet(bw, s, r)
			}
			bw.WriteByte(']')
		}
		tail, _ := json.Marshal(struct {
			Partial bool   `json:"partial,omitempty"`
			Error   string `json:"error,omitempty"`
		}{r.Partial, r.Error})
		writeFields(bw, tail)
		bw.WriteByte('}')
	}
	bw.WriteString("]}\n")
}

// streamSet writes one series: its head marshalled whole, its values a
// row at a time.
func (o queryOutput) streamSet(bw *bufio.Writer, s querySet, r queryResult) {
	head, _ := json.Marshal(querySet{Name: s.Name, Tags: s.Tags, Columns: s.Columns})
	bw.Write(head[:len(head)-1])
	if len(s.Values) > 0 {
		bw.WriteString(`,"values":[`)
		var row []any
		for k, vals := range s.Values {
			if k > 0 {
				bw.WriteByte(',')
			}
			row = append(row[:0], vals...)
			for x, v := range row {
				switch v := v.(type) {
				case influxql.Time:
					row[x] = o.formatTime(int64(v), r.loc)
				case float64:
					if math.IsNaN(v) || math.IsInf(v, 0) { // JSON has no NaN: null, as a missing value
						row[x] = nil
					}
				}
			}
			b, err := json.Marshal(row)
			if err != nil {
				b = []byte("null")
			}
			bw.Write(b)
		}
		bw.WriteByte(']')
	}
	if s.Partial {
		bw.WriteString(`,"partial":true`)
	}
	bw.WriteByte('}')
}

// writeFields writes the fields of a marshalled object, with a leading
// comma, or nothing for {}.
func writeFields(bw *bufio.Writer, obj []byte) {
	inner := bytes.TrimSuffix(bytes.TrimPrefix(obj, []byte("{")), []byte("}"))
	if len(inner) > 0 {
		bw.WriteByte(',')
		bw.Write(inner)
	}
}
