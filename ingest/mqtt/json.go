package mqtt

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/lightningdb/lightningdb/series"
)

// JSONMapping says how a JSON payload becomes points. Nested objects are
// flattened, their keys joined with Separator ({"a":{"b":1}} is key
// "a_b"); arrays of scalars get the index as a key level. The payload (or
// the value at Path) is one point when it is an object and one point per
// element when it is an array of objects.
type JSONMapping struct {
	// Path is a dot-separated path of object keys to the point or array of
	// points; empty means the whole payload.
	Path string `yaml:"path"`
	// MeasurementKey names the (flattened) key whose string value is the
	// measurement; else the template's +measurement, else Rule.Name, else
	// no measurement (the series is named after the field alone).
	MeasurementKey string `yaml:"measurement_key"`
	// TagKeys are the flattened keys that become labels (values of any
	// scalar type, written as text).
	TagKeys []string `yaml:"tag_keys"`
	// FieldKeys are the flattened keys that become series, each named
	// <measurement>_<key>. Empty: every number and boolean that is not a
	// tag, the time or the measurement; strings are taken only when listed.
	FieldKeys []string `yaml:"field_keys"`
	// TimeKey is the flattened key holding the timestamp; empty or absent
	// from a point means the time of receipt.
	TimeKey string `yaml:"time_key"`
	// TimeFormat is unix, unix_ms, unix_us, unix_ns, auto (the default:
	// the unit is guessed from the magnitude as InfluxDB 3 does), or a Go
	// time layout such as 2006-01-02T15:04:05Z07:00 for string times.
	TimeFormat string `yaml:"time_format"`
	// Separator joins the keys of nested objects; default "_".
	Separator string `yaml:"separator"`
	// Types forces the type of fields by key: float (the default for
	// numbers), integer, unsigned, boolean or string.
	Types map[string]string `yaml:"types"`
}

type jsonDecoder struct {
	r       *rule
	m       JSONMapping
	sep     string // metric name separator
	dbLabel string
	path    []string
	tags    map[string]bool
	fields  map[string]bool
	types   map[string]series.ValueType
}

func newJSONDecoder(r *rule, o *Options) (*jsonDecoder, error) {
	m := r.JSON
	if m.Separator == "" {
		m.Separator = "_"
	}
	d := &jsonDecoder{r: r, m: m, sep: o.Lines.Separator, dbLabel: o.Lines.DBLabel,
		tags: map[string]bool{}, fields: map[string]bool{}, types: map[string]series.ValueType{}}
	if m.Path != "" {
		d.path = strings.Split(m.Path, ".")
	}
	for _, k := range m.TagKeys {
		d.tags[k] = true
	}
	for _, k := range m.FieldKeys {
		d.fields[k] = true
	}
	for k, t := range m.Types {
		typ, err := parseType(t)
		if err != nil || typ == 0 {
			return nil, fmt.Errorf("json types %q: %q: want float, integer, unsigned, boolean or string", k, t)
		}
		d.types[k] = typ
	}
	switch m.TimeFormat {
	case "", "auto", "unix", "unix_ms", "unix_us", "unix_ns":
	default:
		if !strings.ContainsAny(m.TimeFormat, "0123456789") {
			return nil, fmt.Errorf("json time_format %q: want unix, unix_ms, unix_us, unix_ns, auto or a Go layout", m.TimeFormat)
		}
	}
	return d, nil
}

// kv is one flattened scalar of a point.
type kv struct {
	key string
	val any // json.Number, string, bool or nil
}

func (d *jsonDecoder) decode(dst *series.Batch, topic string, payload []byte, now int64) error {
	var n nameBuilder
	if err := n.fromTopic(d.r, topic); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return fmt.Errorf("%w: json: %v", ErrSyntax, err)
	}
	if dec.More() {
		return fmt.Errorf("%w: json: data after the first value", ErrSyntax)
	}
	for i, k := range d.path {
		obj, ok := v.(map[string]any)
		if !ok {
			return fmt.Errorf("%w: json path %q: %q is not an object", ErrMapping, d.m.Path, strings.Join(d.path[:i], "."))
		}
		if v, ok = obj[k]; !ok {
			return fmt.Errorf("%w: json path %q: no key %q", ErrMapping, d.m.Path, k)
		}
	}
	var points []map[string]any
	switch x := v.(type) {
	case map[string]any:
		points = []map[string]any{x}
	case []any:
		for i, e := range x {
			obj, ok := e.(map[string]any)
			if !ok {
				return fmt.Errorf("%w: json: element %d of the array is not an object", ErrMapping, i)
			}
			points = append(points, obj)
		}
	default:
		return fmt.Errorf("%w: json: want an object or an array of objects", ErrMapping)
	}
	var firstErr error
	added := 0
	for i, p := range points {
		k, err := d.point(dst, &n, p, now)
		added += k
		if err != nil && firstErr == nil {
			firstErr = fmt.Errorf("point %d: %w", i, err)
		}
	}
	if firstErr == nil && added == 0 {
		return fmt.Errorf("%w: json: no field in payload", ErrMapping)
	}
	return firstErr
}

// point adds the series of one JSON object and returns how many it added.
func (d *jsonDecoder) point(dst *series.Batch, n *nameBuilder, p map[string]any, now int64) (int, error) {
	var flat []kv
	flat = flatten(flat, "", p, d.m.Separator)
	slices.SortFunc(flat, func(a, b kv) int { return strings.Compare(a.key, b.key) })
	ts := now
	measurement := n.measurement
	if measurement == "" {
		measurement = d.r.Name
	}
	var tags []string
	for _, e := range flat {
		switch {
		case e.key == d.m.TimeKey:
			t, err := d.parseTime(e.val)
			if err != nil {
				return 0, err
			}
			ts = t
		case e.key == d.m.MeasurementKey:
			s, ok := e.val.(string)
			if !ok || s == "" {
				return 0, fmt.Errorf("%w: json: measurement key %q is not a non-empty string", ErrMapping, e.key)
			}
			measurement = s
		case d.tags[e.key]:
			if s := scalarText(e.val); s != "" {
				tags = append(tags, e.key, s)
			}
		}
	}
	added := 0
	var b series.Builder
	for _, e := range flat {
		if e.key == d.m.TimeKey || e.key == d.m.MeasurementKey || d.tags[e.key] {
			continue
		}
		listed := d.fields[e.key]
		if len(d.fields) > 0 && !listed {
			continue
		}
		typ, raw, str, ok, err := d.fieldValue(e, listed)
		if err != nil {
			return added, err
		}
		if !ok {
			continue
		}
		if err := addSeries(dst, &b, metricName(measurement, e.key, d.sep), n.tags, tags, d.dbLabel, d.r.DB, typ); err != nil {
			return added, err
		}
		if typ == series.TypeString {
			dst.AppendString(ts, str)
		} else {
			dst.AppendRaw(ts, raw)
		}
		added++
	}
	return added, nil
}

// fieldValue types one flattened value. ok is false for values that are
// skipped (strings and nulls not asked for).
func (d *jsonDecoder) fieldValue(e kv, listed bool) (typ series.ValueType, raw uint64, str []byte, ok bool, err error) {
	want := d.types[e.key]
	switch v := e.val.(type) {
	case json.Number:
		if want == 0 {
			want = series.TypeFloat
		}
		typ, raw, str, err = parseValue([]byte(v.String()), want)
	case bool:
		if want == 0 || want == series.TypeBool {
			return series.TypeBool, series.BoolBits(v), nil, true, nil
		}
		typ, raw, str, err = parseValue([]byte(strconv.FormatBool(v)), want)
	case string:
		if want == 0 && !listed {
			return 0, 0, nil, false, nil
		}
		if want == 0 {
			want = series.TypeString
		}
		if want == series.TypeString {
			return series.TypeString, 0, []byte(v), true, nil
		}
		typ, raw, str, err = parseValue([]byte(v), want)
	default: // null
		if listed {
			return 0, 0, nil, false, fmt.Errorf("%w: json: field %q is null", ErrMapping, e.key)
		}
		return 0, 0, nil, false, nil
	}
	if err != nil {
		return 0, 0, nil, false, fmt.Errorf("field %q: %w", e.key, err)
	}
	return typ, raw, str, true, nil
}

// flatten appends the scalars of v under prefix.
func flatten(dst []kv, prefix string, v any, sep string) []kv {
	join := func(k string) string {
		if prefix == "" {
			return k
		}
		return prefix + sep + k
	}
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			dst = flatten(dst, join(k), e, sep)
		}
	case []any:
		for i, e := range x {
			dst = flatten(dst, join(strconv.Itoa(i)), e, sep)
		}
	default:
		dst = append(dst, kv{prefix, v})
	}
	return dst
}

// scalarText writes a scalar as a label value.
func scalarText(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case json.Number:
		return x.String()
	case bool:
		return strconv.FormatBool(x)
	}
	return ""
}

// parseTime reads a timestamp in the mapping's format, in ns, and
// rejects one outside series.MinTime..MaxTime.
func (d *jsonDecoder) parseTime(v any) (int64, error) {
	ns, err := d.parseTimeAny(v)
	if err != nil {
		return 0, err
	}
	if err := series.CheckTime(ns); err != nil {
		return 0, fmt.Errorf("%w: json: time %v: %w", ErrTimestamp, v, err)
	}
	return ns, nil
}

func (d *jsonDecoder) parseTimeAny(v any) (int64, error) {
	f := d.m.TimeFormat
	switch f {
	case "", "auto", "unix", "unix_ms", "unix_us", "unix_ns":
		var s string
		switch x := v.(type) {
		case json.Number:
			s = x.String()
		case string:
			s = x
		default:
			return 0, fmt.Errorf("%w: json: time %v is not a number", ErrTimestamp, v)
		}
		return unixNanos(s, f)
	}
	s, ok := v.(string)
	if !ok {
		return 0, fmt.Errorf("%w: json: time %v is not a string for layout %q", ErrTimestamp, v, f)
	}
	t, err := time.Parse(f, s)
	if err != nil {
		return 0, fmt.Errorf("%w: json: %v", ErrTimestamp, err)
	}
	if y := t.Year(); y < 1678 || y > 2261 {
		return 0, fmt.Errorf("%w: json: time %q out of range", ErrTimestamp, cut(s))
	}
	return t.UnixNano(), nil
}

// unixNanos converts a number of seconds, ms, us or ns (auto: guessed from
// the magnitude) to ns, rejecting what overflows int64.
func unixNanos(s, format string) (int64, error) {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("%w: json: time %q is not a number", ErrTimestamp, cut(s))
	}
	var mult int64
	switch format {
	case "unix":
		mult = 1e9
	case "unix_ms":
		mult = 1e6
	case "unix_us":
		mult = 1e3
	case "unix_ns":
		mult = 1
	default:
		switch a := math.Abs(f); {
		case a < 5e9:
			mult = 1e9
		case a < 5e12:
			mult = 1e6
		case a < 5e15:
			mult = 1e3
		default:
			mult = 1
		}
	}
	if i, err := strconv.ParseInt(s, 10, 64); err == nil {
		if i > math.MaxInt64/mult || i < math.MinInt64/mult {
			return 0, fmt.Errorf("%w: json: time %s out of range", ErrTimestamp, s)
		}
		return i * mult, nil
	}
	ns := f * float64(mult)
	if ns >= math.MaxInt64 || ns <= math.MinInt64 {
		return 0, fmt.Errorf("%w: json: time %s out of range", ErrTimestamp, cut(s))
	}
	return int64(math.Round(ns)), nil
}
