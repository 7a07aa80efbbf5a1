package ingest

import (
	"encoding/binary"

	"github.com/lightningdb/lightningdb/ingest/lineproto"
)

// maxObservedPerRequest bounds the fields one write request tells the
// catalog of; past it the rest are dropped and the request's parser is
// replaced afterwards (newParser), so that their keys, no longer cached,
// are observed again when next written. A flood of new series thus costs
// the catalog nothing it cannot bound.
const maxObservedPerRequest = 10000

// fieldObs buffers what the parser observes during one request
// (lineproto.FieldObserver): the catalog learns it only once the write is
// appended, so rejected requests teach it nothing.
type fieldObs struct {
	cat      FieldCatalog
	buf      []byte // per field: four uvarint-prefixed strings
	n        int
	overflow bool
	renew    bool // replace the parser after the request (learn)
}

func (o *fieldObs) reset() { o.buf, o.n, o.overflow = o.buf[:0], 0, false }

// ObserveField records one field the catalog does not know yet.
func (o *fieldObs) ObserveField(db, metric, measurement, field []byte) {
	if o.cat.KnowsField(db, metric, measurement, field) {
		return
	}
	if o.n >= maxObservedPerRequest {
		o.overflow = true
		return
	}
	o.n++
	for _, s := range [4][]byte{db, metric, measurement, field} {
		o.buf = binary.AppendUvarint(o.buf, uint64(len(s)))
		o.buf = append(o.buf, s...)
	}
}

// commit tells c of every buffered field.
func (o *fieldObs) commit(c lineproto.FieldObserver) {
	b := o.buf
	var parts [4][]byte
	for len(b) > 0 {
		for i := range parts {
			n, k := binary.Uvarint(b)
			parts[i], b = b[k:k+int(n)], b[k+int(n):]
		}
		c.ObserveField(parts[0], parts[1], parts[2], parts[3])
	}
}

// newParser returns a parser for a write state: with the catalog on, it
// reports fields to the state's buffer.
func (h *InfluxHandler) newParser(st *writeState) *lineproto.Parser {
	lo := h.opts.Lines
	if h.opts.Catalog != nil {
		st.obs.cat = h.opts.Catalog
		lo.Observer = &st.obs
	}
	return lineproto.NewParser(lo)
}

// learn hands the fields a written request taught to the catalog and
// syncs it (the catalog bounds how often it writes). When the buffer
// overflowed or the write failed, the parser is to be replaced once the
// request is answered (renewParser): the keys it cached unobserved or
// unstored are then observed again when next written.
func (h *InfluxHandler) learn(st *writeState, appended bool) {
	if h.opts.Catalog == nil {
		return
	}
	if appended {
		st.obs.commit(h.opts.Catalog)
		if err := h.opts.Catalog.Sync(); err != nil {
			h.opts.Logger.Error("influx catalog sync failed", "err", err)
		}
	}
	st.obs.renew = !appended || st.obs.overflow
}

// renewParser replaces the state's parser when learn asked for it; the
// request's answer, which reads the parser, must be written first.
func (h *InfluxHandler) renewParser(st *writeState) {
	if st.obs.renew {
		st.parser = h.newParser(st)
		st.obs.renew = false
	}
}
