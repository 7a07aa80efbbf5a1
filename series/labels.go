package series

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/cespare/xxhash/v2"
)

// MetricName is the label that holds a series' name, as in Prometheus.
const MetricName = "__name__"

// Limits on a label set. They bound memory per series and keep the canonical
// form cheap to decode; they match what Prometheus-compatible stores accept.
const (
	MaxLabelNameLen  = 256
	MaxLabelValueLen = 16 << 10
	MaxLabels        = 64
)

// Label is one name/value pair of a series.
type Label struct {
	Name, Value string
}

// Labels is a label set sorted by name, __name__ included. The zero value is
// an empty set. Use FromStrings or Sort to build a valid one.
type Labels []Label

// FromStrings builds a sorted Labels from name, value pairs. It panics on an
// odd count; it is meant for tests and literals.
func FromStrings(nv ...string) Labels {
	if len(nv)%2 != 0 {
		panic("series.FromStrings: odd number of strings")
	}
	ls := make(Labels, 0, len(nv)/2)
	for i := 0; i < len(nv); i += 2 {
		ls = append(ls, Label{nv[i], nv[i+1]})
	}
	ls.Sort()
	return ls
}

// Sort sorts the labels by name in place.
func (ls Labels) Sort() {
	slices.SortFunc(ls, func(a, b Label) int { return strings.Compare(a.Name, b.Name) })
}

// Get returns the value of name, or "" when the set has no such label.
func (ls Labels) Get(name string) string {
	for _, l := range ls {
		if l.Name == name {
			return l.Value
		}
	}
	return ""
}

// String renders the set as Prometheus does: name{a="1", b="2"}.
func (ls Labels) String() string {
	var b strings.Builder
	b.WriteString(ls.Get(MetricName))
	b.WriteByte('{')
	first := true
	for _, l := range ls {
		if l.Name == MetricName {
			continue
		}
		if !first {
			b.WriteString(", ")
		}
		first = false
		fmt.Fprintf(&b, "%s=%q", l.Name, l.Value)
	}
	b.WriteByte('}')
	return b.String()
}

// Validate reports the first problem of the set: a missing metric name, an
// empty, too long or non-UTF-8 name or value, a duplicate or unsorted name,
// or too many labels. Labels with an empty value are not allowed: as in
// Prometheus, an empty value means the label is absent.
func (ls Labels) Validate() error {
	if len(ls) > MaxLabels {
		return fmt.Errorf("%w: %d labels, at most %d allowed", ErrInvalidLabels, len(ls), MaxLabels)
	}
	hasName := false
	for i, l := range ls {
		if err := validateLabel(l.Name, l.Value); err != nil {
			return err
		}
		if l.Name == MetricName {
			hasName = true
		}
		if i > 0 {
			switch c := strings.Compare(ls[i-1].Name, l.Name); {
			case c == 0:
				return fmt.Errorf("%w: duplicate label name %q", ErrInvalidLabels, l.Name)
			case c > 0:
				return fmt.Errorf("%w: labels not sorted (%q before %q)", ErrInvalidLabels, ls[i-1].Name, l.Name)
			}
		}
	}
	if !hasName {
		return fmt.Errorf("%w: missing metric name (%s)", ErrInvalidLabels, MetricName)
	}
	return nil
}

func validateLabel(name, value string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: empty label name", ErrInvalidLabels)
	case len(name) > MaxLabelNameLen:
		return fmt.Errorf("%w: label name %.32q... is %d bytes, at most %d allowed", ErrInvalidLabels, name, len(name), MaxLabelNameLen)
	case !utf8.ValidString(name):
		return fmt.Errorf("%w: label name %q is not valid UTF-8", ErrInvalidLabels, name)
	case value == "":
		return fmt.Errorf("%w: label %q has an empty value", ErrInvalidLabels, name)
	case len(value) > MaxLabelValueLen:
		return fmt.Errorf("%w: value of label %q is %d bytes, at most %d allowed", ErrInvalidLabels, name, len(value), MaxLabelValueLen)
	case !utf8.ValidString(value):
		return fmt.Errorf("%w: value of label %q is not valid UTF-8", ErrInvalidLabels, name)
	}
	return nil
}

// AppendCanonical appends the canonical byte form of the set to dst and
// returns the extended buffer. The form is, for each label in sorted order,
// uvarint(len(name)) name uvarint(len(value)) value. Two equal sets have
// equal forms, so the form is the key of the series registry.
func (ls Labels) AppendCanonical(dst []byte) []byte {
	for _, l := range ls {
		dst = appendString(dst, l.Name)
		dst = appendString(dst, l.Value)
	}
	return dst
}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

// Hash returns a fast 64-bit hash of the canonical form. It is stable across
// processes and versions of this package (xxhash64 of AppendCanonical).
func (ls Labels) Hash() uint64 {
	var buf [256]byte
	return xxhash.Sum64(ls.AppendCanonical(buf[:0]))
}

// HashCanonical returns the hash of a canonical form, equal to Hash of the
// labels it encodes.
func HashCanonical(b []byte) uint64 { return xxhash.Sum64(b) }

// UnmarshalLabels decodes a canonical form into dst (reusing its capacity)
// and validates it. The returned strings are copies: they do not alias src.
func UnmarshalLabels(dst Labels, src []byte) (Labels, error) {
	dst = dst[:0]
	for len(src) > 0 {
		name, rest, err := readString(src)
		if err != nil {
			return dst, fmt.Errorf("%w: label name: %w", ErrInvalidLabels, err)
		}
		value, rest, err := readString(rest)
		if err != nil {
			return dst, fmt.Errorf("%w: value of label %q: %w", ErrInvalidLabels, name, err)
		}
		dst = append(dst, Label{Name: string(name), Value: string(value)})
		src = rest
	}
	return dst, dst.Validate()
}

// ForEachCanonical calls fn for every name/value pair of a canonical form
// without allocating. The slices alias src. It stops at the first error.
func ForEachCanonical(src []byte, fn func(name, value []byte) error) error {
	for len(src) > 0 {
		name, rest, err := readString(src)
		if err != nil {
			return err
		}
		value, rest, err := readString(rest)
		if err != nil {
			return err
		}
		if err := fn(name, value); err != nil {
			return err
		}
		src = rest
	}
	return nil
}

func readString(src []byte) (s, rest []byte, err error) {
	n, k := binary.Uvarint(src)
	if k <= 0 {
		return nil, nil, fmt.Errorf("bad length prefix")
	}
	src = src[k:]
	if n > uint64(len(src)) {
		return nil, nil, fmt.Errorf("length %d exceeds the %d bytes left", n, len(src))
	}
	return src[:n], src[n:], nil
}

// CanonicalName returns the metric name stored in a canonical form, or nil.
func CanonicalName(src []byte) []byte {
	var out []byte
	_ = ForEachCanonical(src, func(name, value []byte) error {
		if bytes.Equal(name, []byte(MetricName)) {
			out = value
		}
		return nil
	})
	return out
}

// CanonicalString renders canonical labels for messages, as
// Labels.String does; labels that do not decode are quoted raw.
func CanonicalString(canon []byte) string {
	ls, err := UnmarshalLabels(nil, canon)
	if err != nil {
		return fmt.Sprintf("%q", canon)
	}
	return ls.String()
}
