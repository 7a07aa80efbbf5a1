package series

import (
	"fmt"
	"math"
)

// Batch holds many series, each with one or more samples, in flat column
// buffers: one append per sample writes into preallocated slices, so a batch
// that is Reset and refilled allocates nothing in steady state.
//
// A series is opened with AddSeries or AddCanonical; the Append methods add
// samples to the series opened last. Every sample of a series must match the
// type it was added with. A batch is not safe for concurrent mutation; once
// handed to an appender it must not change until the append returns.
type Batch struct {
	entries []batchEntry
	labels  []byte  // canonical label forms, back to back
	ts      []int64 // timestamps, ns
	vals    []uint64
	strs    []byte // string payloads; a string value is off<<32 | len
}

type batchEntry struct {
	lblStart, lblEnd uint32
	start, end       uint32 // sample range in ts/vals
	typ              ValueType
	shared           bool   // labels are another entry's (AddSame)
	ref              uint32 // series ID hint filled by an appender, 0 if unknown
}

// Reset empties the batch and keeps its capacity.
func (b *Batch) Reset() {
	b.entries = b.entries[:0]
	b.labels = b.labels[:0]
	b.ts = b.ts[:0]
	b.vals = b.vals[:0]
	b.strs = b.strs[:0]
}

// Len returns the number of series in the batch.
func (b *Batch) Len() int { return len(b.entries) }

// Samples returns the number of samples in the batch.
func (b *Batch) Samples() int { return len(b.ts) }

// AddSeries opens a series with the given labels and type and returns its
// index in the batch. The labels are not validated here: the engine validates
// a label set the first time it sees it.
func (b *Batch) AddSeries(ls Labels, typ ValueType) int {
	start := len(b.labels)
	b.labels = ls.AppendCanonical(b.labels)
	return b.open(start, typ)
}

// AddCanonical opens a series from its canonical label form (see
// Labels.AppendCanonical) and returns its index. The bytes are copied.
func (b *Batch) AddCanonical(canonical []byte, typ ValueType) int {
	start := len(b.labels)
	b.labels = append(b.labels, canonical...)
	return b.open(start, typ)
}

// AddBuilt opens a series whose canonical form the caller has just appended
// to the slice returned by LabelBuf, from offset start on. It lets parsers
// build labels in place without a copy.
func (b *Batch) AddBuilt(start int, typ ValueType) int { return b.open(start, typ) }

// LabelBuf returns the batch's label buffer for in-place building; pass the
// extended slice to SetLabelBuf, then call AddBuilt with the old length.
func (b *Batch) LabelBuf() []byte { return b.labels }

// SetLabelBuf stores the label buffer extended by an in-place builder.
func (b *Batch) SetLabelBuf(buf []byte) { b.labels = buf }

func (b *Batch) open(lblStart int, typ ValueType) int {
	n := uint32(len(b.ts))
	b.entries = append(b.entries, batchEntry{
		lblStart: uint32(lblStart), lblEnd: uint32(len(b.labels)),
		start: n, end: n, typ: typ,
	})
	return len(b.entries) - 1
}

// AddSame opens a new series with the labels of series i of the batch,
// without copying them: a request that writes the same series at many
// timestamps, each in its own line, carries its labels once. The series
// is a separate entry (its own samples, type and ID hint).
func (b *Batch) AddSame(i int, typ ValueType) int {
	src := b.entries[i]
	n := uint32(len(b.ts))
	b.entries = append(b.entries, batchEntry{
		lblStart: src.lblStart, lblEnd: src.lblEnd, shared: true,
		start: n, end: n, typ: typ,
	})
	return len(b.entries) - 1
}

// DropLast removes the series opened last and its samples. Parsers use it to
// take back a series when a later part of its line turns out to be invalid.
func (b *Batch) DropLast() {
	e := b.entries[len(b.entries)-1]
	b.entries = b.entries[:len(b.entries)-1]
	if !e.shared {
		b.labels = b.labels[:e.lblStart]
	}
	b.ts = b.ts[:e.start]
	b.vals = b.vals[:e.start]
}

func (b *Batch) push(t int64, raw uint64) {
	b.ts = append(b.ts, t)
	b.vals = append(b.vals, raw)
	b.entries[len(b.entries)-1].end++
}

// AppendFloat adds a float sample to the last series.
func (b *Batch) AppendFloat(t int64, v float64) { b.push(t, math.Float64bits(v)) }

// AppendInt adds an integer sample to the last series.
func (b *Batch) AppendInt(t int64, v int64) { b.push(t, uint64(v)) }

// AppendUint adds an unsigned sample to the last series.
func (b *Batch) AppendUint(t int64, v uint64) { b.push(t, v) }

// AppendBool adds a boolean sample to the last series.
func (b *Batch) AppendBool(t int64, v bool) { b.push(t, BoolBits(v)) }

// AppendString adds a string sample to the last series. The bytes are copied.
func (b *Batch) AppendString(t int64, v []byte) {
	off := len(b.strs)
	b.strs = append(b.strs, v...)
	b.push(t, uint64(off)<<32|uint64(len(v)))
}

// AppendRaw adds a sample in raw form (see FloatBits); for string series raw
// must come from this batch's own string buffer.
func (b *Batch) AppendRaw(t int64, raw uint64) { b.push(t, raw) }

// Series returns series i: its canonical labels, type and samples. The slices
// alias the batch and are valid until it is Reset.
func (b *Batch) Series(i int) (canonical []byte, typ ValueType, ts []int64, vals []uint64) {
	e := &b.entries[i]
	return b.labels[e.lblStart:e.lblEnd], e.typ, b.ts[e.start:e.end], b.vals[e.start:e.end]
}

// Str returns the bytes of a string value of this batch; they alias the batch.
func (b *Batch) Str(raw uint64) []byte {
	off, n := raw>>32, raw&math.MaxUint32
	return b.strs[off : off+n]
}

// Ref returns the series ID hint stored for series i (0 if none).
func (b *Batch) Ref(i int) uint32 { return b.entries[i].ref }

// SetRef stores a series ID hint for series i so a caller that reuses the
// batch shape (same series, new samples) can skip the registry lookup.
func (b *Batch) SetRef(i int, ref uint32) { b.entries[i].ref = ref }

// Validate checks that every series has at least one sample and a valid type.
func (b *Batch) Validate() error {
	for i := range b.entries {
		e := &b.entries[i]
		if !e.typ.Valid() {
			return fmt.Errorf("series %d of batch: invalid value type %d", i, e.typ)
		}
		if e.end == e.start {
			return fmt.Errorf("series %d of batch: no samples", i)
		}
	}
	return nil
}

// Rejection names a series of a batch that was not stored, and why. Index
// is the series' index in the batch.
type Rejection struct {
	Index int
	Err   error
}

// AppendResult reports a partial write: how many samples were stored, and
// which series of the batch were rejected. Rejected series store nothing;
// every other series of the batch is stored.
type AppendResult struct {
	Accepted int
	Rejected []Rejection
}

// StrBuf returns the buffer that string values of this batch point into
// (raw = off<<32 | len). It aliases the batch.
func (b *Batch) StrBuf() []byte { return b.strs }
