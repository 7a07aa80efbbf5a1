package remote

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"net/http"
	"sync/atomic"
	"unsafe"

	"github.com/klauspost/compress/s2"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/lightningdb/lightningdb/series"
)

// A SAMPLES answer is one snappy ReadResponse: the protobuf needs every
// length before the bytes it covers, and the snappy block its decoded
// length first, so the answer is built whole before the first byte is
// sent (a limit is then still a 400 or 503). It is built as protobuf
// bytes, never as prompb structs (48 bytes a sample), in pages charged to
// the body budget as they are taken, and sent in snappy blocks of
// snappyBlock bytes, each page given back once sent.
const (
	firstPage   = 4 << 10  // bytes of the first page of a SAMPLES answer
	answerPage  = 64 << 10 // bytes of a page, the first ones doubling up to it
	snappyBlock = 64 << 10 // protobuf bytes per snappy block sent
	// maxSnappyLen is the largest decoded length a snappy block may
	// announce (golang/snappy refuses more).
	maxSnappyLen = math.MaxUint32
)

// answerPart is one length-delimited header of a SAMPLES answer: a
// ReadResponse.results field (a query: its content is the parts after
// it) or a QueryResult.timeseries field (a series: its content, labels
// and samples, is the next body bytes of the pages).
type answerPart struct {
	body int64 // bytes of the pages that follow the header
	n    uint8 // bytes of hdr in use
	hdr  [1 + binary.MaxVarintLen64]byte
}

const partBytes = int64(unsafe.Sizeof(answerPart{}))

// samplesAnswer is a SAMPLES answer being built. Everything it holds is
// charged to its lease first: the pages, the parts and the send buffers.
type samplesAnswer struct {
	l      *lease
	limit  int64
	size   int64 // protobuf bytes so far, headers included
	pages  [][]byte
	parts  []answerPart
	query  int   // index in parts of the open query's header
	qStart int64 // size when it opened
	sPart  int   // index in parts of the open series' header
	sStart int64 // size when it opened
	tmp    []byte
}

// answerBudget wraps the shared budget (nil: none) of the SAMPLES answers
// and keeps the bytes they hold in held, the remote_read_answer_bytes
// gauge.
type answerBudget struct {
	inner BodyBudget
	held  *atomic.Int64
}

func (b answerBudget) TryAcquire(held, n int64) bool {
	if b.inner != nil && !b.inner.TryAcquire(held, n) {
		return false
	}
	b.held.Add(n)
	return true
}

func (b answerBudget) Release(n int64) {
	if b.inner != nil {
		b.inner.Release(n)
	}
	b.held.Add(-n)
}

// take charges n more bytes to the answer's lease.
func (a *samplesAnswer) take(n int64) error {
	if a.l.Reserve(a.l.Held()+n) != nil {
		return fmt.Errorf("%w: a SAMPLES answer of %d bytes so far does not fit beside the requests in progress; retry later (or ask for STREAMED_XOR_CHUNKS)",
			ErrInflightLimit, a.size)
	}
	return nil
}

// add counts n more protobuf bytes, failing past the limit.
func (a *samplesAnswer) add(n int) error {
	if a.size+int64(n) > a.limit {
		return fmt.Errorf("%w: SAMPLES answer over %d bytes (read_max_bytes, read_samples_max_bytes; ask for STREAMED_XOR_CHUNKS, or narrow the matchers or the time range)",
			ErrReadLimit, a.limit)
	}
	a.size += int64(n)
	return nil
}

// write appends p to the pages.
func (a *samplesAnswer) write(p []byte) error {
	if err := a.add(len(p)); err != nil {
		return err
	}
	for len(p) > 0 {
		last := len(a.pages) - 1
		if last < 0 || len(a.pages[last]) == cap(a.pages[last]) {
			c := firstPage
			if last >= 0 {
				c = min(2*cap(a.pages[last]), answerPage)
			}
			if err := a.take(int64(c)); err != nil {
				return err
			}
			a.pages = append(a.pages, make([]byte, 0, c))
			last++
		}
		pg := a.pages[last]
		n := copy(pg[len(pg):cap(pg)], p)
		a.pages[last] = pg[:len(pg)+n]
		p = p[n:]
	}
	return nil
}

// newPart appends an empty header and returns its index.
func (a *samplesAnswer) newPart() (int, error) {
	if len(a.parts) == cap(a.parts) {
		// Charge the new array before it is made; the old one is given
		// back once copied.
		c := max(2*cap(a.parts), 16)
		if err := a.take(int64(c) * partBytes); err != nil {
			return 0, err
		}
		old := cap(a.parts)
		a.parts = append(make([]answerPart, 0, c), a.parts...)
		a.l.GiveBack(int64(old) * partBytes)
	}
	a.parts = append(a.parts, answerPart{})
	return len(a.parts) - 1, nil
}

// closePart sets part i's header: field 1, length delimited, of length
// size-start.
func (a *samplesAnswer) closePart(i int, start int64, body int64) error {
	p := &a.parts[i]
	h := protowire.AppendVarint(protowire.AppendTag(p.hdr[:0], 1, protowire.BytesType), uint64(a.size-start))
	p.n, p.body = uint8(len(h)), body
	return a.add(len(h))
}

func (a *samplesAnswer) beginQuery() error {
	i, err := a.newPart()
	a.query, a.qStart = i, a.size
	return err
}

func (a *samplesAnswer) endQuery() error { return a.closePart(a.query, a.qStart, 0) }

// beginSeries opens a TimeSeries and writes its labels, given in
// canonical form (valid: see validCanonical).
func (a *samplesAnswer) beginSeries(canon []byte) error {
	i, err := a.newPart()
	if err != nil {
		return err
	}
	a.sPart, a.sStart = i, a.size
	return series.ForEachCanonical(canon, func(name, value []byte) error {
		n := 0
		if len(name) > 0 {
			n += protowire.SizeTag(1) + protowire.SizeBytes(len(name))
		}
		if len(value) > 0 {
			n += protowire.SizeTag(2) + protowire.SizeBytes(len(value))
		}
		b := protowire.AppendVarint(protowire.AppendTag(a.tmp[:0], 1, protowire.BytesType), uint64(n))
		if len(name) > 0 {
			b = protowire.AppendBytes(protowire.AppendTag(b, 1, protowire.BytesType), name)
		}
		if len(value) > 0 {
			b = protowire.AppendBytes(protowire.AppendTag(b, 2, protowire.BytesType), value)
		}
		a.tmp = b
		return a.write(b)
	})
}

// appendSample writes one Sample of the open series. Zero fields are left
// out as proto3 does; a value of -0 is kept (its bits are not zero).
func (a *samplesAnswer) appendSample(s msSample) error {
	var buf [24]byte
	b := protowire.AppendTag(buf[:0], 2, protowire.BytesType)
	bits := math.Float64bits(s.v)
	n := 0
	if bits != 0 {
		n += 1 + 8
	}
	if s.t != 0 {
		n += 1 + protowire.SizeVarint(uint64(s.t))
	}
	b = protowire.AppendVarint(b, uint64(n))
	if bits != 0 {
		b = protowire.AppendFixed64(protowire.AppendTag(b, 1, protowire.Fixed64Type), bits)
	}
	if s.t != 0 {
		b = protowire.AppendVarint(protowire.AppendTag(b, 2, protowire.VarintType), uint64(s.t))
	}
	return a.write(b)
}

func (a *samplesAnswer) endSeries() error {
	return a.closePart(a.sPart, a.sStart, a.size-a.sStart)
}

// blockSize is the protobuf bytes of a snappy block when a is sent:
// snappyBlock, or the whole answer when it is smaller. sendSamples
// allocates it and its encoded bound; they are charged first.
func (a *samplesAnswer) blockSize() int { return int(max(min(a.size, snappyBlock), 1)) }

// release gives back everything the answer holds.
func (a *samplesAnswer) release() {
	a.pages, a.parts = nil, nil
	a.l.Release()
}

// buildSamples reads every query into a. It stops when ctx ends.
func (h *Handler) buildSamples(ctx context.Context, a *samplesAnswer, queries []readQuery) (nSeries, nSamples int, err error) {
	var it Iterator
	for _, q := range queries {
		if err := a.beginQuery(); err != nil {
			return 0, 0, err
		}
		for _, s := range q.series {
			if err := ctx.Err(); err != nil {
				return 0, 0, err
			}
			it = h.store.Select(s.id, q.minT, q.maxT, it)
			ms := newMsSamples(it)
			n := 0
			for smp, ok := ms.next(); ok; smp, ok = ms.next() {
				if n == 0 {
					if err := a.beginSeries(s.labels); err != nil {
						return 0, 0, err
					}
				}
				if err := a.appendSample(smp); err != nil {
					return 0, 0, err
				}
				n++
			}
			if err := it.Err(); err != nil {
				h.opts.Logger.Warn("remote read: damaged data skipped", "err", err)
			}
			if n == 0 {
				continue
			}
			if err := a.endSeries(); err != nil {
				return 0, 0, err
			}
			nSeries++
			nSamples += n
		}
		if err := a.endQuery(); err != nil {
			return 0, 0, err
		}
	}
	return nSeries, nSamples, nil
}

// serveSamples answers with one snappy ReadResponse. It is built whole
// first, so that a limit is reported (400, or 503 when it does not fit in
// the budget beside the requests in progress) before anything is sent.
func (h *Handler) serveSamples(ctx context.Context, w http.ResponseWriter, queries []readQuery) {
	a := &samplesAnswer{
		l:     &lease{Budget: answerBudget{inner: h.opts.Budget, held: &h.c.answerBytes}},
		limit: min(h.opts.ReadMaxBytes, h.opts.ReadSamplesMaxBytes),
	}
	defer a.release()
	nSeries, nSamples, err := h.buildSamples(ctx, a, queries)
	if err == nil {
		blk := a.blockSize()
		err = a.take(int64(blk + s2.MaxEncodedLen(blk)))
	}
	if err != nil {
		h.readFailed(w, err)
		return
	}
	h.c.readSeries.Add(int64(nSeries))
	h.c.readSamples.Add(int64(nSamples))
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.Header().Set("Content-Encoding", "snappy")
	if err := h.sendSamples(w, a); err != nil {
		h.c.readCut.Add(1)
		h.opts.Logger.Warn("remote read: answer not sent", "err", err)
	}
}

// sendSamples writes a as one snappy block: its decoded length, then the
// elements of each snappyBlock bytes compressed alone (a snappy block is
// any sequence of elements whose copies stay inside the output so far,
// so blocks compressed apart concatenate into one). The write deadline
// grows by ReadWriteTimeout per ReadMaxBytesInFrame bytes, the pace a
// streamed answer must keep.
func (h *Handler) sendSamples(w http.ResponseWriter, a *samplesAnswer) error {
	rc := http.NewResponseController(w)
	blk := a.blockSize()
	in := make([]byte, blk)
	out := make([]byte, s2.MaxEncodedLen(blk))
	pre := binary.AppendUvarint(nil, uint64(a.size))
	h.setWriteDeadline(rc, h.opts.ReadWriteTimeout)
	if _, err := w.Write(pre); err != nil {
		return err
	}
	r := answerReader{a: a}
	sinceDeadline := 0
	for {
		n := r.read(in)
		if n == 0 {
			return nil
		}
		enc := s2.EncodeSnappy(out, in[:n])
		_, k := binary.Uvarint(enc)
		if sinceDeadline += len(enc) - k; sinceDeadline >= h.opts.ReadMaxBytesInFrame {
			h.setWriteDeadline(rc, h.opts.ReadWriteTimeout)
			sinceDeadline = 0
		}
		if _, err := w.Write(enc[k:]); err != nil {
			return err
		}
	}
}

// answerReader reads a SAMPLES answer's protobuf in order, giving each
// page back to the budget once it is read.
type answerReader struct {
	a          *samplesAnswer
	part, hOff int
	body       int64
	page, pOff int
}

// read fills dst with the next bytes and returns how many (0 at the end).
func (r *answerReader) read(dst []byte) int {
	n := 0
	for n < len(dst) {
		switch {
		case r.body > 0:
			pg := r.a.pages[r.page][r.pOff:]
			if int64(len(pg)) > r.body {
				pg = pg[:r.body]
			}
			m := copy(dst[n:], pg)
			n, r.pOff, r.body = n+m, r.pOff+m, r.body-int64(m)
			if c := cap(r.a.pages[r.page]); r.pOff == c {
				r.a.pages[r.page] = nil
				r.a.l.GiveBack(int64(c))
				r.page, r.pOff = r.page+1, 0
			}
		case r.part < len(r.a.parts):
			p := &r.a.parts[r.part]
			m := copy(dst[n:], p.hdr[r.hOff:p.n])
			n, r.hOff = n+m, r.hOff+m
			if r.hOff == int(p.n) {
				r.body, r.part, r.hOff = p.body, r.part+1, 0
			}
		default:
			return n
		}
	}
	return n
}

// msSample is a sample as Prometheus has it: ms and float64.
type msSample struct {
	t int64
	v float64
}

// msSamples walks one series as Prometheus samples; string series and
// empty ranges give none. Samples that fall in the same millisecond
// (written with ns precision) keep the last. It holds one sample, so a
// series of any length costs nothing more than its iterator.
type msSamples struct {
	it      Iterator
	typ     series.ValueType
	pending msSample
	has     bool
}

func newMsSamples(it Iterator) msSamples {
	if it.Len() == 0 || it.Type() == series.TypeString || !it.Type().Valid() {
		return msSamples{}
	}
	return msSamples{it: it, typ: it.Type()}
}

// next returns the next sample, false at the end.
func (m *msSamples) next() (msSample, bool) {
	if m.it == nil {
		return msSample{}, false
	}
	for m.it.Next() {
		t, raw := m.it.At()
		s := msSample{t: nsToMs(t), v: series.AsFloat64(m.typ, raw)}
		if !m.has || s.t == m.pending.t {
			m.pending, m.has = s, true
			continue
		}
		out := m.pending
		m.pending = s
		return out, true
	}
	m.it = nil
	last, ok := m.pending, m.has
	m.has = false
	return last, ok
}
