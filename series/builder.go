package series

import (
	"bytes"
	"fmt"
	"unicode/utf8"
)

// Builder collects name/value pairs in any order and appends their canonical
// form. It keeps its capacity across Reset, so a parser that reuses one
// Builder builds labels without allocating. The byte slices it is given must
// stay valid until AppendCanonical returns; Builder does not copy them.
type Builder struct {
	pairs []pair
}

type pair struct{ name, value []byte }

// Reset forgets all pairs.
func (b *Builder) Reset() { b.pairs = b.pairs[:0] }

// Add adds a pair. A pair with an empty value is skipped, as Prometheus
// treats an empty value as an absent label.
func (b *Builder) Add(name, value []byte) {
	if len(value) == 0 {
		return
	}
	b.pairs = append(b.pairs, pair{name, value})
}

// Len returns the number of pairs added.
func (b *Builder) Len() int { return len(b.pairs) }

// Truncate keeps only the first n pairs, so a parser can add a varying
// suffix (such as the metric name) to a fixed prefix of tags.
func (b *Builder) Truncate(n int) { b.pairs = b.pairs[:n] }

// AppendCanonical sorts the pairs, validates them as Labels.Validate does,
// and appends the canonical form to dst. On error dst is returned unchanged.
func (b *Builder) AppendCanonical(dst []byte) ([]byte, error) {
	ps := b.pairs
	// Insertion sort: label sets are small and it does not allocate.
	for i := 1; i < len(ps); i++ {
		for j := i; j > 0 && bytes.Compare(ps[j-1].name, ps[j].name) > 0; j-- {
			ps[j-1], ps[j] = ps[j], ps[j-1]
		}
	}
	if err := b.validate(); err != nil {
		return dst, err
	}
	for _, p := range ps {
		dst = appendBytes(dst, p.name)
		dst = appendBytes(dst, p.value)
	}
	return dst, nil
}

func (b *Builder) validate() error {
	ps := b.pairs
	if len(ps) > MaxLabels {
		return fmt.Errorf("%w: %d labels, at most %d allowed", ErrInvalidLabels, len(ps), MaxLabels)
	}
	hasName := false
	for i, p := range ps {
		if len(p.name) == 0 || len(p.name) > MaxLabelNameLen || len(p.value) > MaxLabelValueLen ||
			!utf8.Valid(p.name) || !utf8.Valid(p.value) {
			return validateLabel(string(p.name), string(p.value)) // slow path builds the message
		}
		if i > 0 && bytes.Equal(ps[i-1].name, p.name) {
			return fmt.Errorf("%w: duplicate label name %q", ErrInvalidLabels, p.name)
		}
		if string(p.name) == MetricName {
			hasName = true
		}
	}
	if !hasName {
		return fmt.Errorf("%w: missing metric name (%s)", ErrInvalidLabels, MetricName)
	}
	return nil
}

func appendBytes(dst, s []byte) []byte {
	n := uint64(len(s))
	for n >= 0x80 {
		dst = append(dst, byte(n)|0x80)
		n >>= 7
	}
	dst = append(dst, byte(n))
	return append(dst, s...)
}
