package remote

import (
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/lightningdb/lightningdb/series"
)

// decodeV2 decodes an io.prometheus.write.v2.Request: symbols = 4,
// timeseries = 5 (1 to 3 are reserved so that a 1.0 decoder sees an empty
// message). Symbols are gathered first, as protobuf lets fields come in
// any order.
func (d *decoder) decodeV2(body []byte, b *series.Batch) error {
	var r fieldReader
	r.reset(body)
	for r.next() {
		if r.num == 4 {
			if err := r.want(protowire.BytesType, "Request"); err != nil {
				return err
			}
			d.syms = append(d.syms, r.bytes)
		}
	}
	if err := r.done("Request"); err != nil {
		return err
	}
	r.reset(body)
	for r.next() {
		if r.num != 5 {
			continue
		}
		if err := r.want(protowire.BytesType, "Request"); err != nil {
			return err
		}
		if err := d.seriesV2(r.bytes, b); err != nil {
			return err
		}
	}
	return nil
}

// seriesV2 decodes a TimeSeries: labels_refs = 1, samples = 2,
// histograms = 3, exemplars = 4, metadata = 5.
func (d *decoder) seriesV2(msg []byte, b *series.Batch) error {
	d.pairs, d.refs = d.pairs[:0], d.refs[:0]
	nSamples, nHist := 0, 0
	var meta []byte
	var r fieldReader
	r.reset(msg)
	for r.next() {
		var err error
		switch r.num {
		case 1:
			d.refs, err = appendRefs(d.refs, &r, "TimeSeries")
		case 2:
			err = r.want(protowire.BytesType, "TimeSeries")
			nSamples++
		case 3:
			err = r.want(protowire.BytesType, "TimeSeries")
			nHist++
		case 4:
			if err = r.want(protowire.BytesType, "TimeSeries"); err == nil {
				err = d.exemplarV2(r.bytes)
			}
		case 5:
			err = r.want(protowire.BytesType, "TimeSeries")
			meta = r.bytes
		}
		if err != nil {
			return err
		}
	}
	if err := r.done("TimeSeries"); err != nil {
		return err
	}
	labelsErr := d.resolveRefs(d.refs)
	if labelsErr == nil && meta != nil {
		if err := d.metadataV2(meta); err != nil {
			return err
		}
	}
	d.histograms(nHist)
	if nSamples == 0 {
		return nil
	}
	if labelsErr != nil {
		return d.skipSeries(msg, nSamples, labelsErr)
	}
	if err := d.openSeries(b); err != nil {
		return d.skipSeries(msg, nSamples, err)
	}
	added, rejected := 0, 0
	var firstErr error
	r.reset(msg)
	for r.next() {
		if r.num != 2 {
			continue
		}
		v, t, err := sampleFields(r.bytes)
		if err != nil {
			d.dropLast(b)
			return err
		}
		before := d.res.samples
		d.appendSample(b, v, t, &rejected, &firstErr)
		added += d.res.samples - before
	}
	d.closeSeries(b, added, rejected, firstErr)
	return nil
}

// appendRefs appends the uint32 references of a repeated field, packed
// (the proto3 default) or not.
func appendRefs(dst []uint32, r *fieldReader, msg string) ([]uint32, error) {
	switch r.typ {
	case protowire.VarintType:
		return append(dst, uint32(r.u64)), nil
	case protowire.BytesType:
		p := r.bytes
		for len(p) > 0 {
			v, n := protowire.ConsumeVarint(p)
			if n < 0 {
				return dst, fmt.Errorf("%w: %s: packed labels_refs: %v", ErrBadProtobuf, msg, protowire.ParseError(n))
			}
			dst = append(dst, uint32(v))
			p = p[n:]
		}
		return dst, nil
	}
	return dst, fmt.Errorf("%w: %s labels_refs has wire type %d", ErrBadProtobuf, msg, r.typ)
}

// resolveRefs fills d.pairs from label references into the symbols table.
func (d *decoder) resolveRefs(refs []uint32) error {
	d.pairs = d.pairs[:0]
	if len(refs)%2 != 0 {
		return fmt.Errorf("%w: odd number (%d) of label references", ErrBadSymbolRef, len(refs))
	}
	for i := 0; i < len(refs); i += 2 {
		n, v := refs[i], refs[i+1]
		if int(n) >= len(d.syms) || int(v) >= len(d.syms) {
			return fmt.Errorf("%w: label %d refers to symbol %d, table has %d", ErrBadSymbolRef, i/2, max(n, v), len(d.syms))
		}
		d.pairs = append(d.pairs, labelPair{d.syms[n], d.syms[v]})
	}
	return nil
}

// symbol returns symbol ref, or false when it is out of the table.
func (d *decoder) symbol(ref uint64) ([]byte, bool) {
	if ref >= uint64(len(d.syms)) {
		return nil, false
	}
	return d.syms[ref], true
}

// exemplarV2 checks an Exemplar (labels_refs = 1, value = 2,
// timestamp = 3). Exemplars are accepted and counted but not stored.
func (d *decoder) exemplarV2(msg []byte) error {
	var r fieldReader
	r.reset(msg)
	var refs [8]uint32
	ok, n := true, 0
	for r.next() {
		if r.num != 1 {
			continue
		}
		tmp, err := appendRefs(refs[:0], &r, "Exemplar")
		if err != nil {
			return err
		}
		for _, ref := range tmp {
			_, in := d.symbol(uint64(ref))
			ok = ok && in
		}
		n += len(tmp)
	}
	if err := r.done("Exemplar"); err != nil {
		return err
	}
	if ok && n%2 == 0 {
		d.res.exemplars++
	} else {
		d.res.rejectedExemplars++
	}
	return nil
}

// metadataV2 decodes a Metadata: type = 1, help_ref = 3, unit_ref = 4,
// for the metric named by the series' __name__.
func (d *decoder) metadataV2(msg []byte) error {
	var r fieldReader
	r.reset(msg)
	var typ, helpRef, unitRef uint64
	for r.next() {
		switch r.num {
		case 1, 3, 4:
			if err := r.want(protowire.VarintType, "Metadata"); err != nil {
				return err
			}
			switch r.num {
			case 1:
				typ = r.u64
			case 3:
				helpRef = r.u64
			default:
				unitRef = r.u64
			}
		}
	}
	if err := r.done("Metadata"); err != nil {
		return err
	}
	help, ok1 := d.symbol(helpRef)
	unit, ok2 := d.symbol(unitRef)
	name := d.metricName()
	if !ok1 || !ok2 || d.meta == nil || len(name) == 0 || (typ == 0 && len(help) == 0 && len(unit) == 0) {
		return nil
	}
	d.meta.set(name, metricTypeName(typ), help, unit)
	d.res.metadata++
	return nil
}
