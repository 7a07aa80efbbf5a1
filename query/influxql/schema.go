package influxql

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/RoaringBitmap/roaring/v2"
	ql "github.com/influxdata/influxql"

	"github.com/lightningdb/lightningdb/auth"
	"github.com/lightningdb/lightningdb/query"
	"github.com/lightningdb/lightningdb/series"
	"github.com/lightningdb/lightningdb/tagindex"
)

// fallbackField is the field of a series the catalog does not know
// (written by remote write, MQTT, ...): InfluxDB's own Prometheus
// remote-write mapping, measurement = metric name, field "value".
const fallbackField = "value"

// schema is what one database holds: measurements, their fields and the
// metric names those fields are stored as.
type schema struct {
	db string
	// match selects the database's series that the caller may see: the
	// database matcher and the caller's scope (auth), for every lookup.
	match []*tagindex.Matcher
	meas  map[string]*measurement
	names []string // sorted measurement names
}

type measurement struct {
	name       string
	fields     map[string][]string // field key -> metric names
	fieldNames []string            // sorted
}

// dbMatcher selects the series of database db: db label = db, or, for
// Options.UnlabelledDB, also no db label.
func (e *Executor) dbMatcher(db string) *tagindex.Matcher {
	if db == e.opts.UnlabelledDB {
		m, _ := tagindex.NewMatcher(tagindex.MatchRegexp, e.opts.DBLabel, regexp.QuoteMeta(db)+"|")
		return m
	}
	m, _ := tagindex.NewMatcher(tagindex.MatchEqual, e.opts.DBLabel, db)
	return m
}

// schema lists the measurements and fields of db from the index and the
// catalog.
func (e *Executor) schema(ctx context.Context, db string) (*schema, error) {
	if db == "" {
		return nil, ErrDatabaseRequired
	}
	scope, err := query.ToIndexMatchers(auth.FromContext(ctx).Scope)
	if err != nil {
		return nil, fmt.Errorf("caller's scope: %w", err)
	}
	match := append([]*tagindex.Matcher{e.dbMatcher(db)}, scope...)
	metrics, err := e.st.Index().LabelValues(series.MetricName, minTime, maxTime, 0, match...)
	if err != nil {
		return nil, fmt.Errorf("list metric names: %w", err)
	}
	if len(e.opts.Rollups) > 0 { // series only a tier holds (tiers.go)
		more, err := e.tierMetrics(match)
		if err != nil {
			return nil, err
		}
		metrics = append(metrics, more...)
		slices.Sort(metrics)
		metrics = slices.Compact(metrics)
	}
	s := &schema{db: db, match: match, meas: make(map[string]*measurement)}
	for _, metric := range metrics {
		fs := e.opts.Catalog.Lookup(db, metric)
		if len(fs) == 0 && db == e.opts.UnlabelledDB {
			fs = e.opts.Catalog.Lookup("", metric) // lines written without a database
		}
		if len(fs) == 0 {
			s.add(metric, fallbackField, metric)
		}
		for _, f := range fs {
			s.add(f.Measurement, f.Field, metric)
		}
	}
	for _, m := range s.meas {
		sort.Strings(m.fieldNames)
		s.names = append(s.names, m.name)
	}
	sort.Strings(s.names)
	return s, nil
}

func (s *schema) add(meas, field, metric string) {
	m := s.meas[meas]
	if m == nil {
		m = &measurement{name: meas, fields: make(map[string][]string)}
		s.meas[meas] = m
	}
	if _, ok := m.fields[field]; !ok {
		m.fieldNames = append(m.fieldNames, field)
	}
	m.fields[field] = append(m.fields[field], metric)
}

// measurements returns the measurements that sources name, sorted; an
// empty sources means all of them. Subqueries are not sources here.
func (s *schema) measurements(sources ql.Sources) []*measurement {
	if len(sources) == 0 {
		out := make([]*measurement, 0, len(s.names))
		for _, n := range s.names {
			out = append(out, s.meas[n])
		}
		return out
	}
	seen := map[string]bool{}
	for _, src := range sources {
		m, ok := src.(*ql.Measurement)
		if !ok {
			continue
		}
		if m.Regex != nil {
			for _, n := range s.names {
				if m.Regex.Val.MatchString(n) {
					seen[n] = true
				}
			}
		} else if _, ok := s.meas[m.Name]; ok {
			seen[m.Name] = true
		}
	}
	out := make([]*measurement, 0, len(seen))
	for _, n := range s.names {
		if seen[n] {
			out = append(out, s.meas[n])
		}
	}
	return out
}

func (m *measurement) isField(name string) bool { _, ok := m.fields[name]; return ok }

// tag is one tag of a series.
type tag struct{ key, value string }

// seriesRef is one stored series of a measurement's field.
type seriesRef struct {
	id    series.ID // 0: only a tier holds the series
	canon []byte    // the raw series' canonical labels
	field string
	typ   series.ValueType
	tags  []tag // sorted by key; without __name__ and the db label
}

// tagValue returns the value of key ("" when absent).
func (r *seriesRef) tagValue(key string) string {
	for _, t := range r.tags {
		if t.key == key {
			return t.value
		}
	}
	return ""
}

// seriesKey is InfluxDB's series key: measurement,k=v,...
func seriesKey(meas string, tags []tag) string {
	var b strings.Builder
	b.WriteString(meas)
	for _, t := range tags {
		b.WriteByte(',')
		b.WriteString(t.key)
		b.WriteByte('=')
		b.WriteString(t.value)
	}
	return b.String()
}

// seriesOf returns the series of the given fields of m (all fields when
// fields is nil) indexed over [minT, maxT] whose tags satisfy cond (field
// comparisons in cond count as true), ordered by field then ID. It fails
// when more than MaxSeries match.
//
// With tiers it also returns the series that only a tier holds over the
// range (their raw data expired): their id is 0 when the raw registry has
// forgotten them, and their type float when it does not know it.
func (e *Executor) seriesOf(sc *schema, m *measurement, fields []string, cond ql.Expr, minT, maxT int64, tiers []query.RollupTier) ([]seriesRef, error) {
	if fields == nil {
		fields = m.fieldNames
	}
	ix, reg := e.st.Index(), e.st.Registry()
	var out []seriesRef
	dnf, narrow := e.tagMatchers(cond, m.isField)
	if !narrow {
		dnf = [][]*tagindex.Matcher{nil}
	}
	for _, f := range fields {
		for _, metric := range m.fields[f] {
			nm, err := tagindex.NewMatcher(tagindex.MatchEqual, series.MetricName, metric)
			if err != nil {
				return nil, err
			}
			var ids *roaring.Bitmap
			for _, conj := range dnf {
				bm, err := ix.Postings(minT, maxT, append(append([]*tagindex.Matcher{nm}, sc.match...), conj...)...)
				if err != nil {
					return nil, fmt.Errorf("select series: %w", err)
				}
				if ids == nil {
					ids = bm
				} else {
					ids.Or(bm)
				}
			}
			it := ids.Iterator()
			for it.HasNext() {
				id := series.ID(it.Next())
				canon := reg.Labels(id)
				if canon == nil {
					continue // removed meanwhile
				}
				r := seriesRef{id: id, canon: canon, field: f, typ: reg.Type(id), tags: e.tagsOf(canon)}
				if out, err = e.addRef(out, r, cond, m); err != nil {
					return nil, err
				}
			}
			seen := map[string]bool{}
			for i := range tiers {
				if out, err = e.tierSeries(out, &tiers[i], sc, m, nm, dnf, ids, seen, f, cond, minT, maxT); err != nil {
					return nil, err
				}
			}
		}
	}
	return out, nil
}

// addRef appends r to out if its tags satisfy cond, within MaxSeries.
func (e *Executor) addRef(out []seriesRef, r seriesRef, cond ql.Expr, m *measurement) ([]seriesRef, error) {
	if cond != nil && !tagCond(cond, r.tagValue, m.isField) {
		return out, nil
	}
	if len(out) >= e.opts.MaxSeries {
		return nil, fmt.Errorf("%w: more than %d series (query.max_series)", ErrTooManySeries, e.opts.MaxSeries)
	}
	return append(out, r), nil
}

// tagsOf decodes canonical labels into tags, without __name__ and the db
// label.
func (e *Executor) tagsOf(canon []byte) []tag {
	var tags []tag
	_ = series.ForEachCanonical(canon, func(name, value []byte) error {
		if n := string(name); n != series.MetricName && n != e.opts.DBLabel {
			tags = append(tags, tag{n, string(value)})
		}
		return nil
	})
	slices.SortFunc(tags, func(a, b tag) int { return strings.Compare(a.key, b.key) })
	return tags
}

// tagCond evaluates a condition on a series' tags. Comparisons that are
// not on a tag (fields, time) are true: the series may hold matching
// points.
func tagCond(expr ql.Expr, tagValue func(string) string, isField func(string) bool) bool {
	switch x := expr.(type) {
	case *ql.ParenExpr:
		return tagCond(x.Expr, tagValue, isField)
	case *ql.BooleanLiteral:
		return x.Val
	case *ql.BinaryExpr:
		switch x.Op {
		case ql.AND:
			return tagCond(x.LHS, tagValue, isField) && tagCond(x.RHS, tagValue, isField)
		case ql.OR:
			return tagCond(x.LHS, tagValue, isField) || tagCond(x.RHS, tagValue, isField)
		}
		ref, lit := x.LHS, x.RHS
		if _, ok := ref.(*ql.VarRef); !ok {
			ref, lit = lit, ref
		}
		v, ok := ref.(*ql.VarRef)
		if !ok || v.Type == ql.Float || v.Type == ql.Integer || v.Type == ql.Boolean || strings.EqualFold(v.Val, "time") ||
			v.Type != ql.Tag && isField(v.Val) {
			return true
		}
		return tagCompare(x.Op, tagValue(v.Val), lit)
	}
	return true
}

// tagCompare compares a tag value with a string or regex literal. Other
// literals (numbers) compare as a field would: true at the series level.
func tagCompare(op ql.Token, val string, lit ql.Expr) bool {
	switch l := lit.(type) {
	case *ql.StringLiteral:
		switch op {
		case ql.EQ:
			return val == l.Val
		case ql.NEQ:
			return val != l.Val
		case ql.LT:
			return val < l.Val
		case ql.LTE:
			return val <= l.Val
		case ql.GT:
			return val > l.Val
		case ql.GTE:
			return val >= l.Val
		}
	case *ql.RegexLiteral:
		switch op {
		case ql.EQREGEX:
			return l.Val.MatchString(val)
		case ql.NEQREGEX:
			return !l.Val.MatchString(val)
		}
	}
	return true
}
