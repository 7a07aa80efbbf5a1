package engine

import "math"

// Partition arithmetic. Partition boundaries are the multiples of the
// partition duration d since the Unix epoch. Every function here is exact
// over the whole int64 range, so that no timestamp, however far from now,
// can make two computations of one partition disagree (a sample at
// math.MinInt64 once gave a partition start that wrapped to a positive
// number, and every flush after it failed):
//
//   - the partition holding the oldest timestamps would start below
//     math.MinInt64; its start is clamped to math.MinInt64 (it is shorter
//     than d);
//   - the partition holding the newest would end above math.MaxInt64; its
//     end is clamped to math.MaxInt64.
//
// The engine stores only timestamps of series.MinTime..series.MaxTime, but
// the arithmetic does not rely on it.

// partitionStart returns the start of the partition holding t.
func (db *DB) partitionStart(t int64) int64 {
	return partitionStartOf(t, db.opts.PartitionDuration)
}

// partitionStartOf returns the start of the partition of duration d
// holding t: the largest multiple of d at or below t, or math.MinInt64
// when that multiple is below it.
func partitionStartOf(t, d int64) int64 {
	p := t / d * d // toward zero: at or below t for t >= 0, at or above it for t < 0
	if p > t {
		if p < math.MinInt64+d {
			return math.MinInt64 // p - d would wrap
		}
		p -= d
	}
	return p
}

// partitionEnd returns the last nanosecond of the partition of duration
// dur that starts at start (as partitionStartOf returns it).
func partitionEnd(start, dur int64) int64 {
	next := start / dur * dur // the boundary at or above start
	if next <= start {
		if next > math.MaxInt64-dur {
			return math.MaxInt64 // next + dur would wrap
		}
		next += dur
	}
	return next - 1
}

// subSat returns a - b (b >= 0), or math.MinInt64 when that would wrap.
func subSat(a, b int64) int64 {
	if a < math.MinInt64+b {
		return math.MinInt64
	}
	return a - b
}
