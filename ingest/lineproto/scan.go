package lineproto

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/lightningdb/lightningdb/series"
)

// byteClass tells the scanner what a byte means inside a token.
type byteClass [256]bool

func classOf(stop string, nonPrintable bool) *byteClass {
	var c byteClass
	for i := 0; i < len(stop); i++ {
		c[stop[i]] = true
	}
	if nonPrintable {
		for i := 0; i < 32; i++ {
			c[i] = true
		}
		c[0x7f] = true
	}
	return &c
}

// unescapeTable maps the byte after a backslash to the byte it stands for,
// or 0 when the backslash stays literal.
type unescapeTable [256]byte

func unescapes(pairs string) *unescapeTable {
	var t unescapeTable
	for i := 0; i+1 < len(pairs); i += 2 {
		t[pairs[i]] = pairs[i+1]
	}
	return &t
}

// The token classes and escapes of the reference decoder. These tables are
// read-only after package initialisation.
var (
	measurementStop = classOf(", ", true)
	keyStop         = classOf(",= \r\n", true) // tag keys, tag values, field keys
	fieldValueStop  = classOf(", \r\n", false)
	measurementEsc  = unescapes(",,  ")
	keyEsc          = unescapes(",,==  ")
	stringEsc       = unescapes(`\\""n` + "\n" + "r\r" + "t\t")
)

// kv is a tag as it appears in the line, unescaped.
type kv struct{ key, value []byte }

// field is a parsed field. str holds a string value; raw the bits of any
// other value (see series.FloatBits).
type field struct {
	key []byte
	typ series.ValueType
	raw uint64
	str []byte
}

// entry is one parsed line. Its slices alias the body or the scanner's
// escape buffer and are valid until the next call of next.
type entry struct {
	start, end  int // byte range of the line in the body, newline excluded
	keyEnd      int // end of the measurement and tags as sent (the series key)
	line        int // 1-based line number of the first byte
	measurement []byte
	tags        []kv
	fields      []field
	ts          int64 // ns
}

// scanner splits a body into entries. It follows the state machine of the
// reference decoder (line-protocol/v2 Decoder) over a complete buffer.
type scanner struct {
	buf  []byte
	pos  int
	line int // line number at buf[pos]
	esc  []byte
	prec Precision
	now  int64 // default timestamp, already truncated to prec
	// noSkip tells next not to skip to the next newline after an error:
	// the reference decoder does not when the line end is already consumed
	// or the timestamp is empty.
	noSkip bool
	e      entry
}

func (s *scanner) reset(buf []byte, now int64, prec Precision) {
	s.buf, s.pos, s.line = buf, 0, 1
	s.prec, s.now = prec, prec.truncate(now)
}

// next parses the next entry into s.e. It returns false at the end of the
// body. On a bad line it returns true and the reason, and it has already
// skipped the rest of the line, as the reference decoder does.
func (s *scanner) next() (bool, error) {
	s.skipEmptyLines()
	if s.pos >= len(s.buf) {
		return false, nil
	}
	s.esc = s.esc[:0]
	e := &s.e
	e.start, e.line = s.pos, s.line
	e.tags, e.fields = e.tags[:0], e.fields[:0]
	s.noSkip = false
	err := s.parseEntry()
	if err != nil && !s.noSkip {
		s.skipLine()
	}
	return true, err
}

func (s *scanner) parseEntry() error {
	if err := s.parseMeasurement(); err != nil {
		return err
	}
	if err := s.parseTags(); err != nil {
		return err
	}
	s.e.keyEnd = s.pos
	hasTime, err := s.parseFields()
	if err != nil || !hasTime {
		s.e.ts = s.now
		s.e.end = s.lineEnd()
		return err
	}
	return s.parseTime()
}

// lineEnd returns the end of the entry that just ended at s.pos, without
// its line terminator.
func (s *scanner) lineEnd() int {
	end := s.pos
	if end > s.e.start && s.buf[end-1] == '\n' {
		end--
	}
	if end > s.e.start && s.buf[end-1] == '\r' {
		end--
	}
	return end
}

func (s *scanner) skipEmptyLines() {
	buf := s.buf
	for {
		lineStart := s.pos
		for s.pos < len(buf) && buf[s.pos] == ' ' {
			s.pos++
		}
		if s.pos >= len(buf) {
			return
		}
		switch buf[s.pos] {
		case '#':
			for s.pos < len(buf) && isCommentChar(buf[s.pos]) {
				s.pos++
			}
			if !s.takeEOL() {
				// A comment with a control byte in it: leave it to
				// parseMeasurement to reject.
				s.pos = lineStart
				return
			}
		case '\n':
			s.pos++
			s.line++
		case '\r':
			if !s.takeEOL() {
				return
			}
		default:
			return
		}
	}
}

func isCommentChar(c byte) bool { return c >= 32 && c != 0x7f }

// takeEOL consumes "\n", "\r\n", or a "\r" that ends the body.
func (s *scanner) takeEOL() bool {
	buf := s.buf
	if s.pos >= len(buf) {
		return true
	}
	switch buf[s.pos] {
	case '\n':
		s.pos++
		s.line++
		return true
	case '\r':
		if s.pos+1 >= len(buf) {
			s.pos++
			return true
		}
		if buf[s.pos+1] == '\n' {
			s.pos += 2
			s.line++
			return true
		}
	}
	return false
}

// skipLine moves past the next newline, recovering from a bad line.
func (s *scanner) skipLine() {
	buf := s.buf
	for s.pos < len(buf) && buf[s.pos] != '\n' {
		s.pos++
	}
	s.e.end = s.pos
	if s.e.end > s.e.start && buf[s.e.end-1] == '\r' {
		s.e.end--
	}
	if s.pos < len(buf) {
		s.pos++
		s.line++
	}
}

func (s *scanner) skipSpaces() {
	for s.pos < len(s.buf) && s.buf[s.pos] == ' ' {
		s.pos++
	}
}

func isWhitespace(c byte) bool { return c == ' ' || c == '\r' || c == '\n' }

// tokenClass classifies every byte for the token loop in one lookup.
type tokenClass [256]uint8

const (
	clsPlain uint8 = iota
	clsStop
	clsBackslash
	clsHigh // a byte of a multi-byte UTF-8 sequence
)

func tokenClassOf(stop *byteClass) *tokenClass {
	var t tokenClass
	for c := range t {
		switch {
		case c == '\\':
			t[c] = clsBackslash
		case stop[c]:
			t[c] = clsStop
		case c >= utf8.RuneSelf:
			t[c] = clsHigh
		}
	}
	return &t
}

var (
	measurementClass = tokenClassOf(measurementStop)
	keyClass         = tokenClassOf(keyStop)
)

// token scans bytes up to the first stop byte, unescaping as it goes, and
// checks that the result is valid UTF-8. A backslash never stops a token.
func (s *scanner) token(cls *tokenClass, esc *unescapeTable) ([]byte, error) {
	buf := s.buf
	start, seg, escStart := s.pos, s.pos, -1
	high := false
	i := s.pos
loop:
	for i < len(buf) {
		switch cls[buf[i]] {
		case clsPlain:
			i++
			continue
		case clsStop:
			break loop
		case clsHigh:
			high = true
			i++
			continue
		}
		if i+1 >= len(buf) {
			i++
			break
		}
		r := esc[buf[i+1]]
		if r == 0 {
			i++
			continue
		}
		if escStart < 0 {
			escStart = len(s.esc)
		}
		s.esc = append(s.esc, buf[seg:i]...)
		s.esc = append(s.esc, r)
		i += 2
		seg = i
	}
	s.pos = i
	tok := buf[start:i]
	if escStart >= 0 {
		s.esc = append(s.esc, buf[seg:i]...)
		tok = s.esc[escStart:]
	}
	if high && !utf8.Valid(tok) {
		return tok, errInvalidUTF8
	}
	return tok, nil
}

// stringValue scans a string field value after its opening quote, up to but
// not including the closing quote. Raw newlines are allowed and counted.
func (s *scanner) stringValue() ([]byte, error) {
	buf := s.buf
	start, seg, escStart := s.pos, s.pos, -1
	high := false
	i := s.pos
	for i < len(buf) {
		c := buf[i]
		switch {
		case c == '"':
			goto done
		case c == '\\':
			if i+1 >= len(buf) {
				i++
				goto done
			}
			r := stringEsc[buf[i+1]]
			if r == 0 {
				i++
				continue
			}
			if escStart < 0 {
				escStart = len(s.esc)
			}
			s.esc = append(s.esc, buf[seg:i]...)
			s.esc = append(s.esc, r)
			i += 2
			seg = i
			continue
		case c == '\n':
			s.line++
		case c >= utf8.RuneSelf:
			high = true
		}
		i++
	}
done:
	s.pos = i
	tok := buf[start:i]
	if escStart >= 0 {
		s.esc = append(s.esc, buf[seg:i]...)
		tok = s.esc[escStart:]
	}
	if high && !utf8.Valid(tok) {
		return tok, errInvalidUTF8
	}
	return tok, nil
}

func (s *scanner) parseMeasurement() error {
	m, err := s.token(measurementClass, measurementEsc)
	if err != nil {
		return err
	}
	if len(m) == 0 {
		return errMissingMeasurement
	}
	if m[0] == '#' {
		return errCommentChars
	}
	s.e.measurement = m
	return s.tagComma()
}

// tagComma consumes the comma after a measurement or tag value and checks
// that a tag key follows it.
func (s *scanner) tagComma() error {
	if s.pos >= len(s.buf) || s.buf[s.pos] != ',' {
		return nil
	}
	s.pos++
	if s.pos >= len(s.buf) || isWhitespace(s.buf[s.pos]) {
		return errTagAfterComma
	}
	return nil
}

func (s *scanner) parseTags() error {
	for {
		if s.pos < len(s.buf) && s.buf[s.pos] == ' ' {
			s.skipSpaces()
			return nil
		}
		key, err := s.token(keyClass, keyEsc)
		if err != nil {
			return err
		}
		if s.pos >= len(s.buf) || s.buf[s.pos] != '=' {
			if len(key) == 0 && s.pos < len(s.buf) {
				return errMissingFields
			}
			return errMissingTagKey
		}
		if len(key) == 0 {
			return errMissingTagKey
		}
		s.pos++
		val, err := s.token(keyClass, keyEsc)
		if err != nil {
			return err
		}
		if len(val) == 0 {
			return errMissingTagValue
		}
		s.e.tags = append(s.e.tags, kv{key, val})
		if s.pos >= len(s.buf) {
			return errMissingFields
		}
		if err := s.tagComma(); err != nil {
			return err
		}
	}
}

// parseFields reads the field set and reports whether a timestamp follows.
func (s *scanner) parseFields() (hasTime bool, err error) {
	buf := s.buf
	for {
		key, err := s.token(keyClass, keyEsc)
		if err != nil {
			return false, err
		}
		if len(key) == 0 {
			if len(s.e.fields) == 0 {
				return false, errMissingFields
			}
			return false, errMissingFieldKey
		}
		if s.pos >= len(buf) || buf[s.pos] != '=' {
			return false, errMissingFieldValue
		}
		s.pos++
		if s.pos >= len(buf) {
			return false, errMissingFieldValue
		}
		if err := s.fieldValue(key); err != nil {
			return false, err
		}
		if s.pos >= len(buf) {
			return false, nil
		}
		switch c := buf[s.pos]; {
		case c == ',':
			s.pos++
			continue
		case !isWhitespace(c):
			return false, errAfterField
		}
		s.skipSpaces()
		if s.takeEOL() {
			return false, nil
		}
		return true, nil
	}
}

func (s *scanner) fieldValue(key []byte) error {
	f := field{key: key}
	switch c := s.buf[s.pos]; c {
	case '"':
		s.pos++
		str, err := s.stringValue()
		if err != nil {
			return err
		}
		if s.pos >= len(s.buf) {
			return errUnbalancedQuotes
		}
		s.pos++
		f.typ, f.str = series.TypeString, str
	case 't', 'T', 'f', 'F':
		v, ok := parseBool(s.take(fieldValueStop))
		if !ok {
			return errInvalidBool
		}
		f.typ, f.raw = series.TypeBool, series.BoolBits(v)
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', '.':
		if err := parseNumber(&f, s.take(fieldValueStop)); err != nil {
			return err
		}
	case ',', ' ', '\r', '\n':
		return errMissingFieldValue
	default:
		return errInvalidField
	}
	s.e.fields = append(s.e.fields, f)
	return nil
}

// take scans bytes up to the first stop byte, with no escapes.
func (s *scanner) take(stop *byteClass) []byte {
	start := s.pos
	for s.pos < len(s.buf) && !stop[s.buf[s.pos]] {
		s.pos++
	}
	return s.buf[start:s.pos]
}

func parseBool(b []byte) (bool, bool) {
	switch string(b) {
	case "t", "T", "true", "True", "TRUE":
		return true, true
	case "f", "F", "false", "False", "FALSE":
		return false, true
	}
	return false, false
}

// parseNumber parses a numeric field value (never empty) by its suffix.
func parseNumber(f *field, b []byte) error {
	switch b[len(b)-1] {
	case 'i':
		v, err := strconv.ParseInt(str(b[:len(b)-1]), 10, 64)
		if err != nil {
			return numError(err, errInvalidInteger, errIntegerRange)
		}
		f.typ, f.raw = series.TypeInt, series.IntBits(v)
	case 'u':
		v, err := strconv.ParseUint(str(b[:len(b)-1]), 10, 64)
		if err != nil {
			return numError(err, errInvalidUnsigned, errUnsignedRange)
		}
		f.typ, f.raw = series.TypeUint, v
	default:
		v, err := strconv.ParseFloat(str(b), 64)
		if err != nil {
			return numError(err, errInvalidNumber, errFloatRange)
		}
		if math.IsInf(v, 0) || math.IsNaN(v) {
			return errNonNumber
		}
		f.typ, f.raw = series.TypeFloat, series.FloatBits(v)
	}
	return nil
}

func numError(err error, syntax, rng reason) error {
	if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
		return rng
	}
	return syntax
}

// str views b as a string without copying; the string must not outlive b.
func str(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

func (s *scanner) parseTime() error {
	buf := s.buf
	start := s.pos
	for s.pos < len(buf) && (buf[s.pos] == '-' || buf[s.pos]-'0' < 10) {
		s.pos++
	}
	digits := buf[start:s.pos]
	if s.pos < len(buf) && !isWhitespace(buf[s.pos]) {
		s.abandonTime(len(digits) == 0)
		return errBadTimestamp
	}
	s.e.end = s.pos
	s.skipSpaces()
	if !s.takeEOL() {
		s.abandonTime(len(digits) == 0)
		return errTextAfterTime
	}
	// The line is consumed: a bad value below must not skip the next one.
	s.noSkip = true
	if len(digits) == 0 {
		s.e.ts = s.now
		return nil
	}
	t, err := strconv.ParseInt(str(digits), 10, 64)
	if err != nil {
		if errors.Is(err, strconv.ErrRange) {
			return timeRangeError(digits, s.prec)
		}
		return errBadTimestamp
	}
	ns, ok := s.prec.toNanos(t)
	if !ok || !series.InRange(ns) {
		return timeRangeError(digits, s.prec)
	}
	s.e.ts = ns
	return nil
}

// timeRangeError is the error of a timestamp that overflows int64 or,
// once scaled to ns by the precision, falls outside the range Lightning
// DB stores (series.MinTime..MaxTime, InfluxDB's): it names the
// timestamp as written and its precision.
func timeRangeError(digits []byte, prec Precision) error {
	return fmt.Errorf("%s: %s at precision %s is outside %s..%s", errTimestampRange, digits, prec,
		time.Unix(0, series.MinTime).UTC().Format(time.RFC3339Nano), time.Unix(0, series.MaxTime).UTC().Format(time.RFC3339Nano))
}

// abandonTime consumes the rest of a line with a bad timestamp up to a CR or
// LF. The reference decoder then skips no further when the timestamp was
// empty, so a lone CR left here starts a new (bad) entry.
func (s *scanner) abandonTime(empty bool) {
	for s.pos < len(s.buf) && s.buf[s.pos] != '\r' && s.buf[s.pos] != '\n' {
		s.pos++
	}
	s.e.end = s.pos
	s.noSkip = empty
}
