package query

import (
	"math"

	"github.com/lightningdb/lightningdb/engine"
	"github.com/lightningdb/lightningdb/series"
)

// rate and increase pushdown (docs/query.md, "Pushdown").
//
// Prometheus' extrapolatedRate (promql/functions.go; float samples, no
// start timestamps, neither anchored nor smoothed) needs, of a window's
// samples in time order: the first and last timestamps and values, their
// count, and the values before each counter reset (a value lower than the
// one before it), which it adds one by one to last - first, in time
// order. A segment block whose aggregates say it holds no reset
// (engine.BlockReset clear) contributes its first and last samples and
// count; the comparison across its edges is made with its First and Last
// as Prometheus makes it with those samples. The flag is set when a value
// is below the last non-NaN value before it, a superset of Prometheus'
// resets (it compares with the previous value, NaN included, and nothing
// is below NaN), so a clear flag means Prometheus sees no reset inside.
// Blocks with resets are decoded: a per-block sum of reset values would
// not add up to Prometheus' sequence of additions bit for bit. The rest is
// the same arithmetic, in the same order, on the same inputs.

// rateFold accumulates what extrapolatedRate reads of one window.
type rateFold struct {
	n              int
	firstT, lastT  int64 // ms
	firstV, lastV  float64
	resets         []float64 // the value before each reset, in time order
	blocks, inside int64     // blocks taken whole and their samples
	// combined: a rollup record added several resets' values as one
	// addend, exact only if every addend is an integer (inexact).
	combined bool
}

// inexact reports whether a combined addend may have changed the bits:
// unless the first and last values and every addend are integers whose
// magnitudes add up below 2^53, the order of the additions matters.
func (f *rateFold) inexact() bool {
	if !f.combined {
		return false
	}
	bound := math.Abs(f.firstV) + math.Abs(f.lastV)
	ints := f.firstV == math.Trunc(f.firstV) && f.lastV == math.Trunc(f.lastV)
	for _, r := range f.resets {
		ints = ints && r == math.Trunc(r)
		bound += math.Abs(r)
	}
	return !ints || !(bound < 1<<53)
}

func (f *rateFold) addAll(ts []int64, vs []float64) {
	for i, v := range vs {
		if f.n == 0 {
			f.firstT, f.firstV = ts[i], v
		} else if v < f.lastV {
			f.resets = append(f.resets, f.lastV)
		}
		f.lastT, f.lastV = ts[i], v
		f.n++
	}
}

// block folds in a summary piece without resets inside.
func (f *rateFold) block(pc *piece) {
	s := pc.sum
	if f.n == 0 {
		f.firstT, f.firstV = pc.minMs, s.First
	} else if s.First < f.lastV {
		f.resets = append(f.resets, f.lastV)
	}
	f.lastT, f.lastV = pc.maxMs, s.Last
	f.n += s.Count
	f.blocks++
	f.inside += int64(s.Count)
}

// blockReset folds in a rollup record with resets inside: the resets'
// values, summed in time order, as one addend after the reset at its
// start, if any.
func (f *rateFold) blockReset(pc *piece) {
	f.block(pc)
	f.resets = append(f.resets, pc.rec.ResetSum)
}

// result is extrapolatedRate's, for the window (lo, hi] of plan p: nothing
// (ok false) below two samples.
func (f *rateFold) result(p *pushdownPlan, lo, hi int64) (float64, bool) {
	if f.n < 2 {
		return 0, false
	}
	counter := p.fn != "delta"
	rangeStart, rangeEnd := lo, hi
	resultFloat := f.lastV - f.firstV
	for _, r := range f.resets {
		if !counter {
			break
		}
		resultFloat += r
	}
	durationToStart := float64(f.firstT-rangeStart) / 1000
	durationToEnd := float64(rangeEnd-f.lastT) / 1000
	sampledInterval := float64(f.lastT-f.firstT) / 1000
	averageDurationBetweenSamples := sampledInterval / float64(f.n-1)
	extrapolationThreshold := averageDurationBetweenSamples * 1.1
	if durationToStart >= extrapolationThreshold {
		durationToStart = averageDurationBetweenSamples / 2
	}
	// A counter cannot be negative: extrapolate to its zero point at most.
	durationToZero := durationToStart
	if counter && resultFloat > 0 && f.firstV >= 0 {
		durationToZero = sampledInterval * (f.firstV / resultFloat)
	}
	if durationToZero < durationToStart {
		durationToStart = durationToZero
	}
	if durationToEnd >= extrapolationThreshold {
		durationToEnd = averageDurationBetweenSamples / 2
	}
	factor := 1.0
	if sampledInterval != 0 {
		factor = (sampledInterval + durationToStart + durationToEnd) / sampledInterval
	}
	if p.fn == "rate" {
		factor /= p.rng.Seconds()
	}
	resultFloat *= factor
	return resultFloat, true
}

// rateWindow evaluates rate or increase over (lo, hi] ms from piece first
// on, taking blocks without resets from their aggregates.
func (w *pdWorker) rateWindow(id series.ID, first int, lo, hi int64) (float64, bool, error) {
	f := rateFold{resets: w.resets[:0]}
	delta := w.p.fn == "delta"
	for i := first; i < len(w.pieces) && w.pieces[i].minMs <= hi; i++ {
		pc := &w.pieces[i]
		whole := pc.sum != nil && pc.minMs > lo && pc.maxMs <= hi
		if whole && (pc.sum.Flags&engine.BlockReset == 0 || delta) {
			f.block(pc)
			continue
		}
		if whole && pc.rec != nil && (pc.rec.Resets == 1 || pc.rec.SumExact) {
			// One reset: the same addition. Several of integers: exact
			// sums, if the rest is too (checked in result).
			f.blockReset(pc)
			f.combined = f.combined || pc.rec.Resets > 1
			continue
		}
		if pc.sum != nil {
			if err := w.expand(id, pc); err != nil {
				return 0, false, err
			}
			if pc.rec != nil && !pc.isExpanded {
				f.blockReset(pc) // no raw samples left: the resets' sum as one addend
				continue
			}
		}
		f.addAll(w.samplesTsIn(pc, lo, hi))
	}
	w.resets = f.resets
	if f.inexact() {
		w.acct.approx.Add(1)
	}
	if f.blocks > 0 {
		w.blocks += f.blocks
		w.skipped += f.inside
	}
	v, ok := f.result(w.p, lo, hi)
	return v, ok, nil
}
