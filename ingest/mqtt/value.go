package mqtt

import (
	"bytes"
	"fmt"
	"math"
	"strconv"
	"unicode/utf8"

	"github.com/lightningdb/lightningdb/series"
)

// valueDecoder takes a payload that is one plain value; the series name
// and tags come from the topic template and the rule.
type valueDecoder struct {
	r       *rule
	sep     string
	dbLabel string
	typ     series.ValueType // 0: typed as a line protocol field value
}

func newValueDecoder(r *rule, o *Options) (*valueDecoder, error) {
	d := &valueDecoder{r: r, sep: o.Lines.Separator, dbLabel: o.Lines.DBLabel}
	var err error
	if d.typ, err = parseType(r.Type); err != nil {
		return nil, err
	}
	if r.Name == "" && (r.tmpl == nil || !r.tmpl.captures(captureMeasurement, captureField)) {
		return nil, fmt.Errorf("format value needs a name or a template with +measurement or +field")
	}
	return d, nil
}

// parseType maps a configured type name to a ValueType; "" and "auto" give 0.
func parseType(s string) (series.ValueType, error) {
	switch s {
	case "", "auto":
		return 0, nil
	case "float":
		return series.TypeFloat, nil
	case "integer", "int":
		return series.TypeInt, nil
	case "unsigned", "uint":
		return series.TypeUint, nil
	case "boolean", "bool":
		return series.TypeBool, nil
	case "string":
		return series.TypeString, nil
	}
	return 0, fmt.Errorf("type %q: want auto, float, integer, unsigned, boolean or string", s)
}

func (d *valueDecoder) decode(dst *series.Batch, topic string, payload []byte, now int64) error {
	var n nameBuilder
	if err := n.fromTopic(d.r, topic); err != nil {
		return err
	}
	m := n.measurement
	if m == "" {
		m = d.r.Name
	}
	typ, raw, str, err := parseValue(bytes.TrimSpace(payload), d.typ)
	if err != nil {
		return err
	}
	var b series.Builder
	if err := addSeries(dst, &b, metricName(m, n.field, d.sep), n.tags, nil, d.dbLabel, d.r.DB, typ); err != nil {
		return err
	}
	if typ == series.TypeString {
		dst.AppendString(now, str)
	} else {
		dst.AppendRaw(now, raw)
	}
	return nil
}

// parseValue types v as a line protocol field value would be (1.5 float,
// 3i integer, 3u unsigned, t/true/... boolean, "quoted" string), with any
// other UTF-8 text a string; want forces a type instead.
func parseValue(v []byte, want series.ValueType) (series.ValueType, uint64, []byte, error) {
	if len(v) == 0 {
		return 0, 0, nil, fmt.Errorf("%w: empty value", ErrSyntax)
	}
	if !utf8.Valid(v) {
		return 0, 0, nil, fmt.Errorf("%w: value is not UTF-8", ErrSyntax)
	}
	s := string(v)
	switch want {
	case series.TypeFloat:
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return 0, 0, nil, fmt.Errorf("%w: %q is not a float", ErrSyntax, cut(s))
		}
		return series.TypeFloat, math.Float64bits(f), nil, nil
	case series.TypeInt:
		i, err := strconv.ParseInt(trimSuffix(s, 'i'), 10, 64)
		if err != nil {
			return 0, 0, nil, fmt.Errorf("%w: %q is not an integer", ErrSyntax, cut(s))
		}
		return series.TypeInt, uint64(i), nil, nil
	case series.TypeUint:
		u, err := strconv.ParseUint(trimSuffix(s, 'u'), 10, 64)
		if err != nil {
			return 0, 0, nil, fmt.Errorf("%w: %q is not an unsigned integer", ErrSyntax, cut(s))
		}
		return series.TypeUint, u, nil, nil
	case series.TypeBool:
		b, ok := parseBool(s)
		if !ok {
			return 0, 0, nil, fmt.Errorf("%w: %q is not a boolean", ErrSyntax, cut(s))
		}
		return series.TypeBool, series.BoolBits(b), nil, nil
	case series.TypeString:
		return series.TypeString, 0, v, nil
	}
	if b, ok := parseBool(s); ok {
		return series.TypeBool, series.BoolBits(b), nil, nil
	}
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		return series.TypeString, 0, v[1 : len(v)-1], nil
	}
	if last := s[len(s)-1]; last == 'i' || last == 'u' {
		if t, raw, _, err := parseValue(v, map[byte]series.ValueType{'i': series.TypeInt, 'u': series.TypeUint}[last]); err == nil {
			return t, raw, nil, nil
		}
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil && !math.IsNaN(f) && !math.IsInf(f, 0) && !isSpecialFloat(s) {
		return series.TypeFloat, math.Float64bits(f), nil, nil
	}
	return series.TypeString, 0, v, nil
}

// isSpecialFloat reports spellings strconv accepts that line protocol
// does not (hex floats, underscores): they stay strings.
func isSpecialFloat(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '_' || c == 'x' || c == 'X' || c == 'p' || c == 'P' {
			return true
		}
	}
	return false
}

func trimSuffix(s string, c byte) string {
	if len(s) > 1 && s[len(s)-1] == c {
		return s[:len(s)-1]
	}
	return s
}

// parseBool accepts line protocol's spellings of booleans.
func parseBool(s string) (bool, bool) {
	switch s {
	case "t", "T", "true", "True", "TRUE":
		return true, true
	case "f", "F", "false", "False", "FALSE":
		return false, true
	}
	return false, false
}

// cut shortens s for an error message.
func cut(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}
