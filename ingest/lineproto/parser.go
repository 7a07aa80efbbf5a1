package lineproto

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/lightningdb/lightningdb/series"
)

// Options configures the mapping of lines to series.
type Options struct {
	// Separator joins measurement and field into the metric name.
	// Default (and zero) "_", VictoriaMetrics' default.
	Separator string
	// DBLabel is the label that carries the database or bucket. Default
	// "db". A line with a tag of that name keeps its tag.
	DBLabel string
	// SkipSingleField names the series of a line with one field after the
	// measurement alone, as VictoriaMetrics' -influxSkipSingleField does.
	// Default false.
	SkipSingleField bool
	// MaxLineBytes rejects longer lines. Default 256 KiB (VictoriaMetrics'
	// -influx.maxLineSize); negative means no limit.
	MaxLineBytes int
	// MaxErrors is how many LineErrors a Parse keeps with their text; the
	// rest are only counted. Default 100.
	MaxErrors int
	// SeriesKeyCache is how many series keys (measurement and tags as sent,
	// with the database) the Parser remembers with their canonical labels
	// and series ID hints (keycache.go). 0 (the default) or negative: no
	// cache. About 0.3 KB per key of 10 tags and 10 fields.
	SeriesKeyCache int
	// Observer, when set, is told the database, metric name, measurement
	// and field key of each series the Parser adds from a series key it
	// has not cached, or from a field new to a cached key: with the cache
	// on, a steady stream of known series never calls it. Default none.
	Observer FieldObserver
}

// FieldObserver learns how line protocol fields map to metric names (the
// InfluxQL measurement catalog, query/influxql.Catalog). Its method must
// be safe for concurrent use and must not retain the slices.
type FieldObserver interface {
	ObserveField(db, metric, measurement, field []byte)
}

// DefaultOptions returns the defaults described on Options.
func DefaultOptions() Options {
	return Options{Separator: "_", DBLabel: "db", MaxLineBytes: 256 << 10, MaxErrors: 100}
}

// Parser turns line protocol bodies into series. It keeps its buffers
// between calls, so a Parser reused for body after body allocates nothing
// in steady state. A Parser is not safe for concurrent use.
type Parser struct {
	opts      Options
	dbLabel   []byte
	nameLabel []byte
	s         scanner
	b         series.Builder
	name      []byte  // metric name being built
	db        []byte  // the database label value of the current Parse
	lines     []int32 // line number of each series added by the last Parse
	base      int     // batch length when the last Parse started
	gen       uint64  // counts Parse calls: which batch entries are this Parse's
	errs      []*LineError
	nerrs     int
	keys      keyCache
}

// NewParser returns a parser with opts; zero fields of opts take their
// defaults, except SkipSingleField.
func NewParser(opts Options) *Parser {
	def := DefaultOptions()
	if opts.Separator == "" {
		opts.Separator = def.Separator
	}
	if opts.DBLabel == "" {
		opts.DBLabel = def.DBLabel
	}
	if opts.MaxLineBytes == 0 {
		opts.MaxLineBytes = def.MaxLineBytes
	}
	if opts.MaxErrors <= 0 {
		opts.MaxErrors = def.MaxErrors
	}
	p := &Parser{opts: opts, dbLabel: []byte(opts.DBLabel), nameLabel: []byte(series.MetricName)}
	p.keys.max = opts.SeriesKeyCache
	return p
}

// Result sums up one Parse.
type Result struct {
	Lines    int // lines that were not blank or comments
	Accepted int // lines whose series were added to the batch
	Rejected int // lines rejected; see Parser.Errors
}

// Parse appends one series per field of every valid line of body to dst
// and returns how many lines it took and rejected. Lines without a
// timestamp get now (ns) rounded down to prec. db, when not empty, becomes
// the DBLabel label. A bad line adds nothing. body is not retained: dst
// copies what it keeps.
func (p *Parser) Parse(dst *series.Batch, body []byte, db string, now int64, prec Precision) Result {
	p.lines, p.errs = p.lines[:0], p.errs[:0]
	p.keys.slots = p.keys.slots[:0]
	p.base = dst.Len()
	p.gen++
	p.db = append(p.db[:0], db...)
	p.s.reset(body, now, prec)
	var r Result
	for {
		more, err := p.s.next()
		if !more {
			break
		}
		r.Lines++
		if err == nil {
			err = p.add(dst)
		}
		if err != nil {
			r.Rejected++
			p.reject(err)
			continue
		}
		r.Accepted++
	}
	p.s.buf = nil // do not pin the body
	return r
}

// Line returns the 1-based line number that series i of the batch passed to
// the last Parse came from.
func (p *Parser) Line(i int) int { return int(p.lines[i-p.base]) }

// Errors returns the rejected lines of the last Parse, at most
// Options.MaxErrors of them; Result.Rejected has the full count. The slice
// is valid until the next Parse.
func (p *Parser) Errors() []*LineError { return p.errs }

func (p *Parser) reject(err error) {
	if len(p.errs) >= p.opts.MaxErrors {
		return
	}
	e := &p.s.e
	text := p.s.buf[e.start:e.end]
	if len(text) > maxQuoted {
		text = text[:maxQuoted]
	}
	p.errs = append(p.errs, &LineError{Line: e.line, Text: strings.ToValidUTF8(string(text), "\uFFFD"), Reason: err.Error()})
}

// add appends the series of the entry just scanned to dst. On error dst is
// left as it was.
func (p *Parser) add(dst *series.Batch) error {
	e := &p.s.e
	if max := p.opts.MaxLineBytes; max > 0 && e.end-e.start > max {
		return fmt.Errorf("%w (%d bytes, at most %d allowed)", errLineTooLong, e.end-e.start, max)
	}
	if err := p.checkNames(e); err != nil {
		return err
	}
	k := p.keys.get(p.db, p.s.buf[e.start:e.keyEnd])
	if k != nil {
		p.addCached(dst, e, k)
		return nil
	}
	b := &p.b
	b.Reset()
	// __name__ sorts before lower-case tag keys, and Telegraf sends tags
	// sorted, so adding it first leaves Builder's insertion sort little to do.
	b.Add(p.nameLabel, p.metricName(e, 0))
	dbValue := p.db
	hasDB := false
	for _, t := range e.tags {
		b.Add(t.key, t.value)
		if bytes.Equal(t.key, p.dbLabel) {
			hasDB, dbValue = true, t.value
		}
	}
	if !hasDB {
		b.Add(p.dbLabel, p.db)
	}
	buf := dst.LabelBuf()
	start := len(buf)
	buf, err := b.AppendCanonical(buf)
	if err != nil {
		return err
	}
	end := len(buf)
	// Every series of the line has the labels of the first but for
	// __name__, and the canonical form sorts by name only, so the first
	// form is split around its __name__ pair and both halves are reused.
	// The offsets are absolute: the label buffer only grows.
	at, n, ok := findLabel(buf[start:end], p.nameLabel)
	if !ok {
		return fmt.Errorf("canonical labels lack %s", series.MetricName)
	}
	nameAt, nameEnd := start+at, start+at+n
	dst.SetLabelBuf(buf)
	k = p.keys.put(p.db, p.s.buf[e.start:e.keyEnd], buf[start:nameAt], buf[nameEnd:end])
	p.addSeries(dst, start, &e.fields[0])
	p.observe(dbValue, e, 0)
	p.keys.note(k, 0, p.name)
	p.keys.inBatch(k, 0, p.gen, dst.Len()-1)
	for i := 1; i < len(e.fields); i++ {
		buf = dst.LabelBuf()
		s := len(buf)
		buf = append(buf, buf[start:nameAt]...)
		buf = appendLabel(buf, p.nameLabel, p.metricName(e, i))
		buf = append(buf, buf[nameEnd:end]...)
		dst.SetLabelBuf(buf)
		p.addSeries(dst, s, &e.fields[i])
		p.observe(dbValue, e, i)
		p.keys.note(k, i, p.name)
		p.keys.inBatch(k, i, p.gen, dst.Len()-1)
	}
	return nil
}

// addCached adds the series of e from a cached key: its canonical labels
// around __name__, checked when the key was first seen, and the series ID
// hints of its fields.
//
// A series this Parse already added (the same key and field name on an
// earlier line) shares that entry's labels (series.Batch.AddSame): a
// request of many timestamps of the same series carries its labels once.
func (p *Parser) addCached(dst *series.Batch, e *entry, k *keyEntry) {
	for i := range e.fields {
		name := p.metricName(e, i)
		if j, ok := p.keys.sameAs(k, i, name, p.gen); ok && j < dst.Len() {
			p.addSame(dst, j, &e.fields[i])
		} else {
			buf := dst.LabelBuf()
			s := len(buf)
			buf = append(buf, k.prefix...)
			buf = appendLabel(buf, p.nameLabel, name)
			buf = append(buf, k.suffix...)
			dst.SetLabelBuf(buf)
			p.addSeries(dst, s, &e.fields[i])
		}
		id, changed := p.keys.note(k, i, p.name)
		if id != 0 {
			dst.SetRef(dst.Len()-1, id)
		}
		if changed {
			p.observe(p.cachedDB(k), e, i)
		}
		p.keys.inBatch(k, i, p.gen, dst.Len()-1)
	}
}

// LearnRefs keeps the series ID hints an appender stored in dst (see
// series.Batch.SetRef) for the series the last Parse added, so later lines
// with the same series key and field carry them. dst must be the batch of
// the last Parse.
func (p *Parser) LearnRefs(dst *series.Batch) {
	for j, sl := range p.keys.slots {
		if sl.k == nil || p.base+j >= dst.Len() {
			continue
		}
		if f := &sl.k.fields[sl.i]; f.gen == sl.gen {
			f.id = dst.Ref(p.base + j)
		}
	}
}

// observe tells the Observer of field i of e, whose metric name is in
// p.name.
func (p *Parser) observe(db []byte, e *entry, i int) {
	if p.opts.Observer != nil {
		p.opts.Observer.ObserveField(db, p.name, e.measurement, e.fields[i].key)
	}
}

// cachedDB returns the database label value of a cached key: the value
// of its DBLabel pair (the request's database or the line's own tag).
func (p *Parser) cachedDB(k *keyEntry) []byte {
	for _, half := range [2][]byte{k.prefix, k.suffix} {
		if at, n, ok := findLabel(half, p.dbLabel); ok {
			return labelValue(half[at : at+n])
		}
	}
	return p.db
}

// checkNames rejects a line whose longest metric name would be too long,
// before any of its series is added.
func (p *Parser) checkNames(e *entry) error {
	longest := 0
	for i := range e.fields {
		longest = max(longest, len(e.fields[i].key))
	}
	n := len(e.measurement) + len(p.opts.Separator) + longest
	if n > series.MaxLabelValueLen {
		return fmt.Errorf("%w (%d bytes, at most %d allowed)", errNameTooLong, n, series.MaxLabelValueLen)
	}
	return nil
}

// metricName builds the name of field i of e in p.name.
func (p *Parser) metricName(e *entry, i int) []byte {
	p.name = append(p.name[:0], e.measurement...)
	if p.opts.SkipSingleField && len(e.fields) == 1 {
		return p.name
	}
	p.name = append(p.name, p.opts.Separator...)
	p.name = append(p.name, e.fields[i].key...)
	return p.name
}

// addSeries opens the series whose labels start at offset start of dst's
// label buffer and adds the field's sample.
func (p *Parser) addSeries(dst *series.Batch, start int, f *field) {
	dst.AddBuilt(start, f.typ)
	p.addSample(dst, f)
}

// addSame opens a series with the labels of series j of dst and adds the
// field's sample.
func (p *Parser) addSame(dst *series.Batch, j int, f *field) {
	dst.AddSame(j, f.typ)
	p.addSample(dst, f)
}

// addSample adds the field's sample to the series dst opened last.
func (p *Parser) addSample(dst *series.Batch, f *field) {
	if f.typ == series.TypeString {
		dst.AppendString(p.s.e.ts, f.str)
	} else {
		dst.AppendRaw(p.s.e.ts, f.raw)
	}
	p.lines = append(p.lines, int32(p.s.e.line))
}

// findLabel returns the offset and length of the pair named name in a
// canonical label form (see series.Labels.AppendCanonical).
func findLabel(canon, name []byte) (at, n int, ok bool) {
	for off := 0; off < len(canon); {
		k, kl := binary.Uvarint(canon[off:])
		if kl <= 0 || uint64(len(canon)-off-kl) < k {
			return 0, 0, false
		}
		keyStart := off + kl
		keyEnd := keyStart + int(k)
		v, vl := binary.Uvarint(canon[keyEnd:])
		if vl <= 0 || uint64(len(canon)-keyEnd-vl) < v {
			return 0, 0, false
		}
		next := keyEnd + vl + int(v)
		if bytes.Equal(canon[keyStart:keyEnd], name) {
			return off, next - off, true
		}
		off = next
	}
	return 0, 0, false
}

// appendLabel appends one pair in canonical form.
func appendLabel(dst, name, value []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(name)))
	dst = append(dst, name...)
	dst = binary.AppendUvarint(dst, uint64(len(value)))
	return append(dst, value...)
}

// labelValue returns the value of one canonical pair (as findLabel finds
// it).
func labelValue(pair []byte) []byte {
	k, kl := binary.Uvarint(pair)
	rest := pair[kl+int(k):]
	_, vl := binary.Uvarint(rest)
	return rest[vl:]
}
