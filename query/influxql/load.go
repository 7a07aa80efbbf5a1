package influxql

import (
	"cmp"
	"context"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"

	ql "github.com/influxdata/influxql"

	"github.com/lightningdb/lightningdb/engine"
	"github.com/lightningdb/lightningdb/series"
	"github.com/lightningdb/lightningdb/tagindex"
)

// col is the points of one field of one series key, in time order. raw
// holds the values as series.* raw bits; strings are in strs.
type col struct {
	typ  series.ValueType
	ts   []int64
	raw  []uint64
	strs []string
}

func (c *col) len() int { return len(c.ts) }

// value returns point i as an InfluxQL value: float64, int64, uint64,
// bool or string.
func (c *col) value(i int) any {
	switch c.typ {
	case series.TypeString:
		return c.strs[i]
	case series.TypeInt:
		return int64(c.raw[i])
	case series.TypeUint:
		return c.raw[i]
	case series.TypeBool:
		return c.raw[i] != 0
	}
	return series.AsFloat64(series.TypeFloat, c.raw[i])
}

// float returns point i as a float64 (0 for strings).
func (c *col) float(i int) float64 {
	if c.typ == series.TypeString {
		return 0
	}
	return series.AsFloat64(c.typ, c.raw[i])
}

// at returns the index of the point at t, or -1.
func (c *col) at(t int64) int {
	i := sort.Search(len(c.ts), func(i int) bool { return c.ts[i] >= t })
	if i < len(c.ts) && c.ts[i] == t {
		return i
	}
	return -1
}

func (c *col) push(t int64, v any) {
	c.ts = append(c.ts, t)
	switch x := v.(type) {
	case string:
		c.strs = append(c.strs, x)
		c.raw = append(c.raw, 0)
	case int64:
		c.raw = append(c.raw, uint64(x))
	case uint64:
		c.raw = append(c.raw, x)
	case bool:
		c.raw = append(c.raw, series.BoolBits(x))
	case float64:
		c.raw = append(c.raw, series.FloatBits(x))
	}
}

// typeOf is the column type of an InfluxQL value.
func typeOf(v any) series.ValueType {
	switch v.(type) {
	case string:
		return series.TypeString
	case int64:
		return series.TypeInt
	case uint64:
		return series.TypeUint
	case bool:
		return series.TypeBool
	}
	return series.TypeFloat
}

// seriesData is one InfluxDB series (measurement and tag set) with the
// points of its fields.
type seriesData struct {
	key  string // tag set, k=v,... (sorted)
	tags []tag
	cols map[string]*col
	// sums are whole blocks read as summaries instead of samples (the
	// samples of cols are outside them).
	sums map[string][]engine.BlockSummary
}

func (s *seriesData) tagValue(k string) string {
	v, _ := s.tag(k)
	return v
}

// tag returns the value of tag k; ok is false when the series lacks it.
func (s *seriesData) tag(k string) (string, bool) {
	for _, t := range s.tags {
		if t.key == k {
			return t.value, true
		}
	}
	return "", false
}

// input is a measurement (or subquery) with its series.
type input struct {
	name   string
	series []*seriesData // sorted by key
	sub    bool          // the rows of a subquery
}

// mapper answers influxql.FieldMapper for RewriteFields: the fields and
// tag keys of the measurements of a database.
type mapper struct {
	e   *Executor
	sc  *schema
	fd  map[string]mapperEntry
	ft  map[string]ql.DataType         // measurement \x00 field -> type (Unknown: no series)
	tk  map[string]map[string]struct{} // measurement -> tag keys
	err error                          // the first failure to list a measurement's series
}

type mapperEntry struct {
	fields map[string]ql.DataType
	dims   map[string]struct{}
}

func dataType(t series.ValueType) ql.DataType {
	switch t {
	case series.TypeInt:
		return ql.Integer
	case series.TypeUint:
		return ql.Unsigned
	case series.TypeBool:
		return ql.Boolean
	case series.TypeString:
		return ql.String
	}
	return ql.Float
}

// measurementInfo returns a measurement's field types (of the first
// series of each field) and tag keys, from the index without decoding
// every series' labels.
func (m *mapper) measurementInfo(name string) mapperEntry {
	if me, ok := m.fd[name]; ok {
		return me
	}
	me := mapperEntry{fields: map[string]ql.DataType{}, dims: map[string]struct{}{}}
	if ms := m.sc.meas[name]; ms != nil {
		for _, f := range ms.fieldNames {
			if t, ok := m.fieldType(ms, f); ok {
				me.fields[f] = t
			}
		}
		me.dims = m.tagKeys(ms)
	}
	m.fd[name] = me
	return me
}

// fieldType returns the type of field f of ms (of its first series); ok
// is false when no series holds it. Answers are kept for the statement.
func (m *mapper) fieldType(ms *measurement, f string) (ql.DataType, bool) {
	k := ms.name + "\x00" + f
	if t, ok := m.ft[k]; ok {
		return t, t != ql.Unknown
	}
	if m.ft == nil {
		m.ft = map[string]ql.DataType{}
	}
	t, err := m.e.fieldTypeOf(m.sc, ms, f)
	if err != nil && m.err == nil {
		m.err = err
	}
	m.ft[k] = t
	return t, t != ql.Unknown
}

// tagKeys returns the tag keys of ms, kept for the statement.
func (m *mapper) tagKeys(ms *measurement) map[string]struct{} {
	if d, ok := m.tk[ms.name]; ok {
		return d
	}
	if m.tk == nil {
		m.tk = map[string]map[string]struct{}{}
	}
	d, err := m.e.tagKeysOf(m.sc, ms)
	if err != nil && m.err == nil {
		m.err = err
	}
	m.tk[ms.name] = d
	return d
}

// fieldTypeOf looks up the type of field f of ms in the index: that of
// the first series, among those sc's caller may see, of its first metric
// holding one (Unknown: none).
func (e *Executor) fieldTypeOf(sc *schema, ms *measurement, f string) (ql.DataType, error) {
	ix, reg := e.st.Index(), e.st.Registry()
	for _, metric := range ms.fields[f] {
		nm, err := tagindex.NewMatcher(tagindex.MatchEqual, series.MetricName, metric)
		if err != nil {
			return ql.Unknown, err
		}
		ids, err := ix.Postings(minTime, maxTime, append([]*tagindex.Matcher{nm}, sc.match...)...)
		if err != nil {
			return ql.Unknown, fmt.Errorf("select series: %w", err)
		}
		if !ids.IsEmpty() {
			return dataType(reg.Type(series.ID(ids.Minimum()))), nil
		}
	}
	for _, metric := range ms.fields[f] { // series only a tier holds: floats
		nm, _ := tagindex.NewMatcher(tagindex.MatchEqual, series.MetricName, metric)
		if ok, err := e.tiersHave(append([]*tagindex.Matcher{nm}, sc.match...)...); ok || err != nil {
			return ql.Float, err
		}
	}
	return ql.Unknown, nil
}

// tagKeysOf lists the tag keys of the series of ms that sc's caller may
// see, from the index.
func (e *Executor) tagKeysOf(sc *schema, ms *measurement) (map[string]struct{}, error) {
	dims := map[string]struct{}{}
	var names []string
	for _, f := range ms.fieldNames {
		for _, metric := range ms.fields[f] {
			names = append(names, regexp.QuoteMeta(metric))
		}
	}
	nm, err := tagindex.NewMatcher(tagindex.MatchRegexp, series.MetricName, strings.Join(names, "|"))
	if err != nil {
		return dims, err
	}
	keys, err := e.st.Index().LabelNames(minTime, maxTime, 0, append([]*tagindex.Matcher{nm}, sc.match...)...)
	if err != nil {
		return dims, fmt.Errorf("list tag keys: %w", err)
	}
	for _, k := range keys {
		if k != series.MetricName && k != e.opts.DBLabel {
			dims[k] = struct{}{}
		}
	}
	return dims, e.tierTagKeys(dims, append([]*tagindex.Matcher{nm}, sc.match...))
}

// FieldDimensions returns the fields and tag keys of the measurements a
// source names.
func (m *mapper) FieldDimensions(src *ql.Measurement) (map[string]ql.DataType, map[string]struct{}, error) {
	fields, dims := map[string]ql.DataType{}, map[string]struct{}{}
	for _, ms := range m.sc.measurements(ql.Sources{src}) {
		me := m.measurementInfo(ms.name)
		for k, v := range me.fields {
			if fields[k] < v { // Float < Integer < String < Boolean: keep one
				fields[k] = v
			}
		}
		for k := range me.dims {
			dims[k] = struct{}{}
		}
	}
	return fields, dims, nil
}

// MapType returns the type of a field or tag of a measurement. It looks
// up only that field, or the tag keys: Grafana's and TSBS's statements
// name a field or two of a measurement with many.
func (m *mapper) MapType(src *ql.Measurement, field string) ql.DataType {
	for _, ms := range m.sc.measurements(ql.Sources{src}) {
		if ms.isField(field) {
			if t, ok := m.fieldType(ms, field); ok {
				return t
			}
		}
		if _, ok := m.tagKeys(ms)[field]; ok {
			return ql.Tag
		}
	}
	return ql.Unknown
}

// CallType returns the type a function call gives (for RewriteFields).
func (m *mapper) CallType(name string, args []ql.DataType) (ql.DataType, error) {
	switch name {
	case "count", "distinct":
		return ql.Integer, nil
	case "mean", "median", "integral", "stddev", "derivative", "non_negative_derivative", "moving_average":
		return ql.Float, nil
	}
	if len(args) > 0 {
		return args[0], nil
	}
	return ql.Unknown, nil
}

// budget counts what a statement reads against the limits.
type budget struct {
	samples, maxSamples int64
	decoded             int64 // samples decoded (not summaries)
}

func (b *budget) take(n int) error {
	b.samples += int64(n)
	if b.samples > b.maxSamples {
		return fmt.Errorf("%w: more than %d samples (query.max_samples)", ErrTooManySamples, b.maxSamples)
	}
	return nil
}

// load reads the given fields of measurement m over the plan's range for
// the series whose tags satisfy its condition. Where the plan allows it
// (summaryOK), whole blocks inside one window come as block summaries,
// not samples.
func (e *Executor) load(ctx context.Context, q *engine.Querier, sc *schema, m *measurement, fields []string, pl *plan, b *budget) (*input, error) {
	minT, maxT := pl.minT, pl.maxT
	refs, err := e.seriesOf(sc, m, fields, pl.cond, minT, maxT, pl.tiers())
	if err != nil {
		return nil, err
	}
	in := &input{name: m.name}
	tierOnlyTypes(refs)
	byKey := map[string]*seriesData{}
	ld := &loader{e: e, q: q, pl: pl, b: b, tail: pl.tailPoints()}
	condFields := pl.condFirst(refs)
	passes := map[*seriesData]bool{} // condFields: series decided
	for _, r := range refs {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		key := seriesKey("", r.tags)
		sd := byKey[key]
		if sd == nil {
			sd = &seriesData{key: key, tags: r.tags, cols: map[string]*col{}}
			byKey[key] = sd
			in.series = append(in.series, sd)
		}
		if condFields != nil && !condFields[r.field] {
			ok, decided := passes[sd]
			if !decided {
				ok = pl.condPasses(sd)
				passes[sd] = ok
			}
			if !ok {
				continue // no point passes: no other field is needed
			}
		}
		c := sd.cols[r.field]
		if c == nil {
			c = &col{typ: r.typ}
			sd.cols[r.field] = c
		}
		merge := c.len() > 0 || len(sd.sums[r.field]) > 0
		got, err := ld.readField(&r, c)
		if err != nil {
			return nil, err
		}
		if len(got) > 0 {
			if err := b.take(len(got)); err != nil {
				return nil, err
			}
			if sd.sums == nil {
				sd.sums = map[string][]engine.BlockSummary{}
			}
			slices.SortFunc(got, func(a, b engine.BlockSummary) int { return cmp.Compare(a.MinT, b.MinT) })
			sd.sums[r.field] = append(sd.sums[r.field], got...)
		}
		if merge {
			sortCol(c)
		}
	}
	for _, sd := range in.series {
		for f, c := range sd.cols {
			if c.len() == 0 && len(sd.sums[f]) == 0 {
				delete(sd.cols, f)
			}
		}
	}
	kept := in.series[:0]
	for _, sd := range in.series {
		if len(sd.cols) > 0 {
			kept = append(kept, sd)
		}
	}
	in.series = kept
	sort.Slice(in.series, func(i, j int) bool { return in.series[i].key < in.series[j].key })
	return in, nil
}

// loader reads the series of one load, reusing its buffers.
type loader struct {
	e             *Executor
	q             *engine.Querier
	pl            *plan
	b             *budget
	tail          int
	it            *engine.Iterator
	sums, tailBuf []engine.BlockSummary
	rb            rollBuf
}

// readField appends the samples of series r over the plan's range to c
// and returns the summaries (rollup records, whole blocks) that stand for
// the others.
func (ld *loader) readField(r *seriesRef, c *col) ([]engine.BlockSummary, error) {
	e, q, pl, b := ld.e, ld.q, ld.pl, ld.b
	minT, maxT := pl.minT, pl.maxT
	var err error
	summaries := pl.summaryOK(r.field, r.typ)
	reads := []span{{minT, maxT}}
	var got []engine.BlockSummary
	if summaries && pl.roll.t != nil {
		if got, reads, err = e.rollupRead(q, r, pl, &ld.rb); err != nil {
			return nil, err
		}
	}
	if r.id == 0 {
		reads = nil // only a tier holds this series
	}
	for _, rd := range reads {
		ld.sums = ld.sums[:0]
		if summaries {
			ld.sums = pl.wholeBlocks(q.Summaries(r.id, rd.lo, rd.hi, ld.sums), r.typ)
		}
		lo, hi, done := rd.lo, rd.hi, false
		if ld.tail > 0 && len(ld.sums) == 0 && len(reads) == 1 {
			if lo, hi, ld.it, done, err = e.tail(q, r.id, minT, maxT, pl, ld.it, c, b, &ld.tailBuf); err != nil {
				return nil, err
			}
		}
		for _, bs := range ld.sums {
			if ld.it, err = e.readRange(q, r.id, lo, bs.MinT-1, ld.it, c, b); err != nil {
				return nil, err
			}
			lo = bs.MaxT + 1
		}
		if done {
			continue
		}
		if ld.it, err = e.readRange(q, r.id, lo, hi, ld.it, c, b); err != nil {
			return nil, err
		}
		got = append(got, ld.sums...)
	}
	return got, nil
}

// tierOnlyTypes gives the series only a tier holds, whose type raw data
// no longer tells (id 0, read as floats), the type of the field's raw
// series, if any: one field, one aggregator type.
func tierOnlyTypes(refs []seriesRef) {
	types := map[string]series.ValueType{}
	for _, r := range refs {
		if _, ok := types[r.field]; !ok && r.id != 0 {
			types[r.field] = r.typ
		}
	}
	for i := range refs {
		if t, ok := types[refs[i].field]; ok && refs[i].id == 0 {
			refs[i].typ = t
		}
	}
}

// readRange appends the samples of series id in [lo, hi] to c.
func (e *Executor) readRange(q *engine.Querier, id series.ID, lo, hi int64, it *engine.Iterator, c *col, b *budget) (*engine.Iterator, error) {
	if lo > hi {
		return it, nil
	}
	it = q.Range(id, lo, hi, it)
	b.decoded += int64(it.Len())
	if err := b.take(it.Len()); err != nil {
		return it, err
	}
	appendIter(c, it)
	return it, nil
}

// appendIter appends the iterator's points to c.
func appendIter(c *col, it *engine.Iterator) {
	c.ts, c.raw = slices.Grow(c.ts, it.Len()), slices.Grow(c.raw, it.Len())
	for it.Next() {
		t, raw := it.At()
		c.ts = append(c.ts, t)
		if it.Type() == series.TypeString {
			_, s := it.AtString()
			c.strs = append(c.strs, string(s))
			c.raw = append(c.raw, 0)
			continue
		}
		if c.typ != it.Type() {
			raw = series.FloatBits(series.AsFloat64(it.Type(), raw))
		}
		c.raw = append(c.raw, raw)
	}
}

// sortCol sorts a column's points by time.
func sortCol(c *col) {
	idx := make([]int, len(c.ts))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return c.ts[idx[a]] < c.ts[idx[b]] })
	ts, raw := make([]int64, len(idx)), make([]uint64, len(idx))
	var strs []string
	if c.strs != nil {
		strs = make([]string, len(idx))
	}
	for i, j := range idx {
		ts[i], raw[i] = c.ts[j], c.raw[j]
		if strs != nil {
			strs[i] = c.strs[j]
		}
	}
	c.ts, c.raw, c.strs = ts, raw, strs
}

// fromRows turns the rows of a subquery into an input: each row's tags are
// a series, each column but time a field.
func fromRows(rows []*Row) []*input {
	var out []*input
	byName := map[string]*input{}
	for _, r := range rows {
		in := byName[r.Name]
		if in == nil {
			in = &input{name: r.Name, sub: true}
			byName[r.Name] = in
			out = append(out, in)
		}
		var tags []tag
		for k, v := range r.Tags {
			tags = append(tags, tag{k, v})
		}
		sort.Slice(tags, func(i, j int) bool { return tags[i].key < tags[j].key })
		sd := &seriesData{key: seriesKey("", tags), tags: tags, cols: map[string]*col{}}
		for _, row := range r.Values {
			t, _ := row[0].(Time)
			for i, name := range r.Columns[1:] {
				v := row[i+1]
				if v == nil {
					continue
				}
				c := sd.cols[name]
				if c == nil {
					c = &col{typ: typeOf(v)}
					sd.cols[name] = c
				}
				if typeOf(v) != c.typ {
					continue
				}
				c.push(int64(t), v)
			}
		}
		in.series = append(in.series, sd)
	}
	for _, in := range out {
		sort.SliceStable(in.series, func(i, j int) bool { return in.series[i].key < in.series[j].key })
	}
	return out
}

// fieldRefs returns the names of the fields (not tags, not time) that
// exprs refer to.
func fieldRefs(exprs ...ql.Expr) []string {
	seen := map[string]bool{}
	var out []string
	for _, ex := range exprs {
		if ex == nil {
			continue
		}
		ql.WalkFunc(ex, func(n ql.Node) {
			ref, ok := n.(*ql.VarRef)
			if !ok || ref.Type == ql.Tag || strings.EqualFold(ref.Val, "time") || seen[ref.Val] {
				return
			}
			seen[ref.Val] = true
			out = append(out, ref.Val)
		})
	}
	sort.Strings(out)
	return out
}
