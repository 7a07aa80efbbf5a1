package remote

import (
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/lightningdb/lightningdb/series"
)

// decodeV1 decodes a prometheus.WriteRequest (remote write 1.0):
// timeseries = 1, metadata = 3. It returns an error only for a malformed
// message; series that break the rules are recorded in d.res.
func (d *decoder) decodeV1(body []byte, b *series.Batch) error {
	var r fieldReader
	r.reset(body)
	for r.next() {
		var err error
		switch r.num {
		case 1:
			if err = r.want(protowire.BytesType, "WriteRequest"); err == nil {
				err = d.seriesV1(r.bytes, b)
			}
		case 3:
			if err = r.want(protowire.BytesType, "WriteRequest"); err == nil {
				err = d.metadataV1(r.bytes)
			}
		}
		if err != nil {
			return err
		}
	}
	return r.done("WriteRequest")
}

// seriesV1 decodes a TimeSeries: labels = 1, samples = 2, exemplars = 3,
// histograms = 4. Fields may come in any order, so labels are gathered in
// a first pass and samples appended in a second. When the labels are the
// message's first fields (as Prometheus sends them) and d.cache knows those
// bytes, the labels are neither decoded nor checked again (seriesCache).
func (d *decoder) seriesV1(msg []byte, b *series.Batch) error {
	d.pairs, d.rawLabels = d.pairs[:0], nil
	prefix, nPrefix := labelPrefix(msg)
	var hit *cacheEntry
	var h uint64
	if d.cache != nil && nPrefix > 0 {
		h = hashRaw(msg[:prefix])
		if hit = d.cache.get(msg[:prefix], h); hit != nil {
			d.rawLabels = msg[:prefix]
		}
	}
	nSamples, nHist, nLabels := 0, 0, 0
	var r fieldReader
	if hit != nil {
		r.reset(msg[prefix:])
		nLabels = nPrefix
	} else {
		r.reset(msg)
	}
	for r.next() {
		if err := r.want(protowire.BytesType, "TimeSeries"); err != nil && r.num <= 4 {
			return err
		}
		switch r.num {
		case 1:
			if hit != nil { // more labels after the cached run: another set
				d.pairs, d.rawLabels, hit = appendLabelsV1(d.pairs, msg[:prefix]), nil, nil
			}
			name, value, err := labelV1(r.bytes)
			if err != nil {
				return err
			}
			d.pairs = append(d.pairs, labelPair{name, value})
			nLabels++
		case 2:
			nSamples++
		case 3:
			if err := d.exemplarV1(r.bytes); err != nil {
				return err
			}
		case 4:
			nHist++
		}
	}
	if err := r.done("TimeSeries"); err != nil {
		return err
	}
	d.histograms(nHist)
	if nSamples == 0 {
		return nil
	}
	if hit != nil {
		d.openCached(b, hit)
	} else {
		if err := d.openSeries(b); err != nil {
			return d.skipSeries(msg, nSamples, err)
		}
		if d.cache != nil && nPrefix > 0 && nLabels == nPrefix {
			canon, _, _, _ := b.Series(b.Len() - 1)
			d.ents[len(d.ents)-1] = d.cache.put(msg[:prefix], canon, h)
		}
	}
	added, rejected := 0, 0
	var firstErr error
	r.reset(msg[prefix:]) // the leading run holds only labels
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

// skipSeries records a series refused for its labels, after checking that
// its samples are at least well-formed protobuf.
func (d *decoder) skipSeries(msg []byte, nSamples int, err error) error {
	var r fieldReader
	r.reset(msg)
	for r.next() {
		if r.num == 2 {
			if _, _, perr := sampleFields(r.bytes); perr != nil {
				return perr
			}
		}
	}
	d.res.rejectedSamples += nSamples
	d.res.rejectedSeries++
	d.problem(err)
	return nil
}

// histograms records native histogram samples, which are refused.
func (d *decoder) histograms(n int) {
	if n == 0 {
		return
	}
	d.res.histograms += n
	d.res.rejectedSeries++
	d.problem(fmt.Errorf("%w: %d histogram samples dropped", ErrHistogramUnsupported, n))
}

// labelV1 decodes a Label: name = 1, value = 2.
func labelV1(msg []byte) (name, value []byte, err error) {
	var r fieldReader
	r.reset(msg)
	for r.next() {
		if r.num != 1 && r.num != 2 {
			continue
		}
		if err := r.want(protowire.BytesType, "Label"); err != nil {
			return nil, nil, err
		}
		if r.num == 1 {
			name = r.bytes
		} else {
			value = r.bytes
		}
	}
	return name, value, r.done("Label")
}

// appendLabelsV1 appends the pairs of a run of label fields that were
// decoded without error before (a cache entry's), for messages.
func appendLabelsV1(dst []labelPair, run []byte) []labelPair {
	var r fieldReader
	r.reset(run)
	for r.next() {
		if name, value, err := labelV1(r.bytes); err == nil {
			dst = append(dst, labelPair{name, value})
		}
	}
	return dst
}

// exemplarV1 checks an Exemplar (labels = 1, value = 2, timestamp = 3).
// Exemplars are accepted and counted but not stored (docs/remote.md).
func (d *decoder) exemplarV1(msg []byte) error {
	var r fieldReader
	r.reset(msg)
	ok := true
	for r.next() {
		if r.num == 1 {
			if err := r.want(protowire.BytesType, "Exemplar"); err != nil {
				return err
			}
			name, _, err := labelV1(r.bytes)
			if err != nil {
				return err
			}
			ok = ok && len(name) > 0
		}
	}
	if err := r.done("Exemplar"); err != nil {
		return err
	}
	if ok {
		d.res.exemplars++
	} else {
		d.res.rejectedExemplars++
	}
	return nil
}

// metadataV1 decodes a MetricMetadata: type = 1, metric_family_name = 2,
// help = 4, unit = 5.
func (d *decoder) metadataV1(msg []byte) error {
	var r fieldReader
	r.reset(msg)
	var typ uint64
	var name, help, unit []byte
	for r.next() {
		switch r.num {
		case 1:
			if err := r.want(protowire.VarintType, "MetricMetadata"); err != nil {
				return err
			}
			typ = r.u64
		case 2, 4, 5:
			if err := r.want(protowire.BytesType, "MetricMetadata"); err != nil {
				return err
			}
			switch r.num {
			case 2:
				name = r.bytes
			case 4:
				help = r.bytes
			default:
				unit = r.bytes
			}
		}
	}
	if err := r.done("MetricMetadata"); err != nil {
		return err
	}
	if d.meta != nil && len(name) > 0 {
		d.meta.set(name, metricTypeName(typ), help, unit)
		d.res.metadata++
	}
	return nil
}
