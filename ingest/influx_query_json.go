package ingest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"math"
	"net/http"
	"strconv"
	"time"

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
			Messages []influxql.Message `json:"messages,omitempty"`
			Partial  bool               `json:"partial,omitempty"`
			Error    string             `json:"error,omitempty"`
		}{r.Messages, r.Partial, r.Error})
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
		var buf []byte
		for k, vals := range s.Values {
			if k > 0 {
				buf = append(buf, ',')
			}
			buf = append(buf, '[')
			for x, v := range vals {
				if x > 0 {
					buf = append(buf, ',')
				}
				buf = o.appendValue(buf, v, r.loc)
			}
			buf = append(buf, ']')
			if len(buf) >= 16<<10 {
				bw.Write(buf)
				buf = buf[:0]
			}
		}
		bw.Write(buf)
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

// appendValue appends v as encoding/json writes it (times formatted per
// the epoch parameter, NaN and infinities as null, as JSON has none)
// without allocating for numbers and times.
func (o queryOutput) appendValue(b []byte, v any, loc *time.Location) []byte {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...)
	case influxql.Time:
		if o.epoch > 0 {
			return strconv.AppendInt(b, int64(x)/o.epoch, 10)
		}
		t := time.Unix(0, int64(x)).UTC()
		if loc != nil {
			t = t.In(loc)
		}
		b = append(b, '"')
		b = t.AppendFormat(b, time.RFC3339Nano)
		return append(b, '"')
	case float64:
		return appendFloat(b, x)
	case int64:
		return strconv.AppendInt(b, x, 10)
	case uint64:
		return strconv.AppendUint(b, x, 10)
	case int:
		return strconv.AppendInt(b, int64(x), 10)
	case bool:
		return strconv.AppendBool(b, x)
	case string:
		if plainJSON(x) {
			b = append(b, '"')
			b = append(b, x...)
			return append(b, '"')
		}
	}
	j, err := json.Marshal(v) // strings (escaped as encoding/json does) and the rest
	if err != nil {
		return append(b, "null"...)
	}
	return append(b, j...)
}

// plainJSON reports whether encoding/json writes s as it is between
// quotes: printable ASCII without '"', '\\' and the HTML characters it
// escapes (<, >, &). Tag values and most string fields are.
func plainJSON(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= 0x80 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return false
		}
	}
	return true
}

// appendFloat formats f as encoding/json does (its floatEncoder), null
// for NaN and infinities.
func appendFloat(b []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(b, "null"...)
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' { // e-09 to e-9
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}
