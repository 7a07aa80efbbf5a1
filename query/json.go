package query

import (
	"encoding/json"
	"math"
	"slices"
	"strconv"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
)

// Matrix answers are written by hand: encoding/json reaches each point
// through FPoint.MarshalJSON (a json.Marshal of a two-element []any per
// point) and then re-validates every byte, 15-18 % of the server's CPU on
// range queries returning 10^4-10^5 points. The bytes are exactly those of
// json.Marshal (TestMatrixJSONIdentical).

// appendMatrixResponse appends resp marshalled as json.Marshal would, when
// its data is a float matrix; ok is false (nothing appended) otherwise.
func appendMatrixResponse(b []byte, resp *response) (_ []byte, ok bool, err error) {
	qd, isQD := resp.Data.(*queryData)
	if !isQD || resp.ErrorType != "" || resp.Error != "" {
		return b, false, nil
	}
	m, isM := qd.Result.(promql.Matrix)
	if !isM || !plainMatrix(m) {
		return b, false, nil
	}
	b = slices.Grow(b, matrixSizeHint(m))
	b = append(b, `{"status":`...)
	b = appendJSONString(b, resp.Status)
	b = append(b, `,"data":{"resultType":`...)
	b = appendJSONString(b, string(qd.ResultType))
	b = append(b, `,"result":`...)
	b = appendMatrix(b, m)
	if qd.Explain != nil {
		e, err := json.Marshal(qd.Explain)
		if err != nil {
			return b, false, err
		}
		b = append(append(b, `,"explain":`...), e...)
	}
	b = append(b, '}')
	for _, f := range []struct {
		name string
		v    []string
	}{{"warnings", resp.Warnings}, {"infos", resp.Infos}} {
		if len(f.v) == 0 {
			continue
		}
		e, err := json.Marshal(f.v)
		if err != nil {
			return b, false, err
		}
		b = append(append(append(append(b, `,"`...), f.name...), `":`...), e...)
	}
	return append(b, '}'), true, nil
}

// matrixSizeHint returns about the bytes of m in JSON, so that the answer
// is allocated once rather than grown through doubling copies: per point
// a timestamp of 10 digits and a value of up to 18, per series its labels.
// AppendMatrixJSON appends m as json.Marshal would write it, byte for
// byte, and reports true; for a matrix it does not cover (histograms,
// labels out of order) it appends nothing and reports false. It is for
// other servers of the Prometheus API (query/fanout).
func AppendMatrixJSON(b []byte, m promql.Matrix) ([]byte, bool) {
	if !plainMatrix(m) {
		return b, false
	}
	return appendMatrix(slices.Grow(b, matrixSizeHint(m)), m), true
}

func matrixSizeHint(m promql.Matrix) int {
	n := 64
	for i := range m {
		n += 32 + 32*len(m[i].Floats)
		m[i].Metric.Range(func(l labels.Label) { n += len(l.Name) + len(l.Value) + 6 })
	}
	return n
}

// plainMatrix reports whether every series of m holds floats only and has
// labels strictly sorted by name (so that they marshal in order, as the
// map json.Marshal sorts).
func plainMatrix(m promql.Matrix) bool {
	for i := range m {
		if len(m[i].Histograms) > 0 {
			return false
		}
		prev, first, sorted := "", true, true
		m[i].Metric.Range(func(l labels.Label) {
			if !first && l.Name <= prev {
				sorted = false
			}
			prev, first = l.Name, false
		})
		if !sorted {
			return false
		}
	}
	return true
}

func appendMatrix(b []byte, m promql.Matrix) []byte {
	if m == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	var stamps timestampTexts
	for i := range m {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"metric":{`...)
		first := true
		m[i].Metric.Range(func(l labels.Label) {
			if !first {
				b = append(b, ',')
			}
			first = false
			b = appendJSONString(b, l.Name)
			b = append(b, ':')
			b = appendJSONString(b, l.Value)
		})
		b = append(b, '}')
		if fs := m[i].Floats; len(fs) > 0 {
			b = append(b, `,"values":[`...)
			for j, p := range fs {
				if j > 0 {
					b = append(b, ',')
				}
				// FPoint.MarshalJSON: [T/1000 as a JSON number, "F"]. |T/1000|
				// is 0 or at least 1e-3 and below 1e21, where encoding/json
				// uses the 'f' format.
				b = append(b, '[')
				if len(m) > 1 {
					b = stamps.append(b, j, p.T, len(fs))
				} else {
					b = appendTimestamp(b, p.T) // nothing to share
				}
				b = append(b, ',', '"')
				b = appendValue(b, p.F)
				b = append(b, '"', ']')
			}
			b = append(b, ']')
		}
		b = append(b, '}')
	}
	return append(b, ']')
}

// timestampTexts remembers the text of the timestamps of one series, by
// position, for the next series: the series of a range query's answer
// share their evaluation times, so each is formatted once.
type timestampTexts struct {
	ts   []int64
	ends []int // of each text in txt
	txt  []byte
}

// append appends the text of timestamp t, the j-th of its series of n.
func (c *timestampTexts) append(b []byte, j int, t int64, n int) []byte {
	if j < len(c.ts) && c.ts[j] == t {
		start := 0
		if j > 0 {
			start = c.ends[j-1]
		}
		return append(b, c.txt[start:c.ends[j]]...)
	}
	if c.ts == nil {
		c.ts, c.ends, c.txt = make([]int64, 0, n), make([]int, 0, n), make([]byte, 0, 11*n)
	}
	at := len(b)
	b = appendTimestamp(b, t)
	if j == len(c.ts) {
		c.txt = append(c.txt, b[at:]...)
		c.ts, c.ends = append(c.ts, t), append(c.ends, len(c.txt))
	}
	return b
}

// appendTimestamp appends ms timestamp t in seconds as FPoint.MarshalJSON
// does: T/1000 as a JSON number. |T/1000| is 0 or at least 1e-3 and below
// 1e21, where encoding/json uses the 'f' format.
func appendTimestamp(b []byte, t int64) []byte {
	if t%1000 == 0 && t < 1<<53 && t > -1<<53 {
		// Whole seconds: float64(T) is exact below 2^53, and so is its
		// quotient by 1000, an integer: the same digits without float
		// formatting.
		return strconv.AppendInt(b, t/1000, 10)
	}
	return strconv.AppendFloat(b, float64(t)/1000, 'f', -1, 64)
}

// appendValue appends v as strconv.FormatFloat(v, 'f', -1, 64) does.
// An integer below 2^53 in magnitude (not -0) is written as one: every
// integer there is a float64, so no shorter decimal rounds to v and the
// shortest form is its digits, which AppendInt writes without the
// shortest-float search (the aggregates of integer data are mostly
// integers).
func appendValue(b []byte, v float64) []byte {
	if v == math.Trunc(v) && v < 1<<53 && v > -1<<53 && (v != 0 || !math.Signbit(v)) {
		return strconv.AppendInt(b, int64(v), 10)
	}
	return strconv.AppendFloat(b, v, 'f', -1, 64)
}

// appendJSONString appends s quoted as json.Marshal does (HTML-escaped):
// directly when it is printable ASCII needing no escape, else through
// json.Marshal.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			e, _ := json.Marshal(s)
			return append(b, e...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
