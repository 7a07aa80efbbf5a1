package remote

import (
	"bytes"
	"fmt"
	"math"
	"strings"

	"github.com/lightningdb/lightningdb/series"
)

// maxProblems bounds the reasons kept for one request's answer.
const maxProblems = 20

// decoder turns a decoded remote write body into a series.Batch. It keeps
// its scratch space across requests; it is not safe for concurrent use.
type decoder struct {
	b     series.Builder
	pairs []labelPair // the current series' labels, aliasing the body
	syms  [][]byte    // 2.0 symbols table, aliasing the body
	refs  []uint32    // 2.0 label references of the current series
	meta  *Metadata
	res   decodeResult

	cache     *seriesCache  // nil: no cache
	ents      []*cacheEntry // per series of the batch: its cache entry, or nil
	rawLabels []byte        // a cache hit's label fields, for messages (d.pairs is then empty)
}

type labelPair struct{ name, value []byte }

// decodeResult counts what one request held and what the decoder refused.
// Samples the decoder put in the batch may still be refused by the
// appender; the handler adds those.
type decodeResult struct {
	samples            int // samples put in the batch
	rejectedSamples    int // samples left out (bad labels, bad timestamps)
	rejectedSeries     int // series with at least one sample left out
	histograms         int // native histogram samples received (all refused)
	exemplars          int // exemplars accepted
	rejectedExemplars  int
	metadata           int // metadata entries accepted
	problems           []string
	problemsNotShown   int
	histogramSeriesErr bool
}

func (d *decoder) reset(meta *Metadata) {
	d.meta = meta
	d.syms = d.syms[:0]
	clear(d.ents)
	d.ents = d.ents[:0]
	d.rawLabels = nil
	problems := d.res.problems[:0]
	d.res = decodeResult{problems: problems}
}

// problem records why (part of) a series was left out.
func (d *decoder) problem(err error) {
	if len(d.pairs) == 0 && d.rawLabels != nil {
		d.pairs = appendLabelsV1(d.pairs, d.rawLabels)
	}
	if len(d.res.problems) < maxProblems {
		d.res.problems = append(d.res.problems, fmt.Sprintf("series %s: %v", d.seriesName(), err))
		return
	}
	d.res.problemsNotShown++
}

// seriesName formats the current series' labels for an error message.
func (d *decoder) seriesName() string {
	var sb strings.Builder
	sb.WriteByte('{')
	for i, p := range d.pairs {
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, "%s=%q", p.name, p.value)
	}
	sb.WriteByte('}')
	return sb.String()
}

// checkLabels applies the spec's rules to d.pairs: names not empty, sorted,
// not repeated.
func (d *decoder) checkLabels() error {
	for i, p := range d.pairs {
		if len(p.name) == 0 {
			return fmt.Errorf("%w (label %d)", ErrEmptyLabelName, i)
		}
		if i == 0 {
			continue
		}
		switch c := bytes.Compare(d.pairs[i-1].name, p.name); {
		case c == 0:
			return fmt.Errorf("%w %q", ErrDuplicateLabel, p.name)
		case c > 0:
			return fmt.Errorf("%w: %q after %q", ErrUnsortedLabels, p.name, d.pairs[i-1].name)
		}
	}
	return nil
}

// openSeries checks d.pairs and opens a float series with them in b.
func (d *decoder) openSeries(b *series.Batch) error {
	if err := d.checkLabels(); err != nil {
		return err
	}
	d.b.Reset()
	for _, p := range d.pairs {
		d.b.Add(p.name, p.value)
	}
	buf := b.LabelBuf()
	start := len(buf)
	buf, err := d.b.AppendCanonical(buf)
	if err != nil {
		return err
	}
	b.SetLabelBuf(buf)
	b.AddBuilt(start, series.TypeFloat)
	d.ents = append(d.ents, nil)
	return nil
}

// openCached opens a float series in b with the canonical labels of a
// cache entry, and its series ID hint when known.
func (d *decoder) openCached(b *series.Batch, e *cacheEntry) {
	i := b.AddCanonical(e.canon(), series.TypeFloat)
	if id := e.id.Load(); id != 0 {
		b.SetRef(i, id)
	}
	d.ents = append(d.ents, e)
}

// dropLast removes the series opened last from b and from d.ents.
func (d *decoder) dropLast(b *series.Batch) {
	b.DropLast()
	d.ents = d.ents[:b.Len()]
}

// metricName returns the __name__ value of the current series.
func (d *decoder) metricName() []byte {
	for _, p := range d.pairs {
		if string(p.name) == series.MetricName {
			return p.value
		}
	}
	return nil
}

// msToNs converts a Prometheus millisecond timestamp to nanoseconds; it
// reports false outside series.MinTimeMs..series.MaxTimeMs.
func msToNs(ms int64) (int64, bool) {
	if ms < series.MinTimeMs || ms > series.MaxTimeMs {
		return 0, false
	}
	return ms * 1e6, true
}

// appendSample adds one sample to the series opened last.
func (d *decoder) appendSample(b *series.Batch, v float64, tMs int64, rejected *int, firstErr *error) {
	t, ok := msToNs(tMs)
	if !ok {
		*rejected++
		if *firstErr == nil {
			*firstErr = fmt.Errorf("%w: %d ms is outside %d..%d ms", ErrTimestampRange, tMs, series.MinTimeMs, series.MaxTimeMs)
		}
		return
	}
	b.AppendFloat(t, v)
	d.res.samples++
}

// closeSeries drops the series opened last when none of its samples was
// valid, and records the samples left out.
func (d *decoder) closeSeries(b *series.Batch, added, rejected int, err error) {
	if added == 0 {
		d.dropLast(b)
	}
	if rejected > 0 {
		d.res.rejectedSamples += rejected
		d.res.rejectedSeries++
		d.problem(err)
	}
}

func float64frombits(b uint64) float64 { return math.Float64frombits(b) }
