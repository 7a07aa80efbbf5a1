package series

import (
	"fmt"
	"math"
	"time"
)

// The range of timestamps Lightning DB stores, in ns since the Unix epoch:
// InfluxDB's, 1677-09-21T00:12:43.145224194Z to 2262-04-11T23:47:16.854775806Z
// (math.MinInt64+2 and math.MaxInt64-1; InfluxDB keeps the two extremes as
// sentinels, and so do we: nothing in the engine needs to add to or
// subtract from a timestamp without checking). Every front end rejects a
// sample outside it with ErrTimestampRange, naming the timestamp, and keeps
// the rest of the request; the engine rejects a series of a batch that
// holds one, so nothing acknowledged can be unstorable.
const (
	MinTime int64 = math.MinInt64 + 2
	MaxTime int64 = math.MaxInt64 - 1
)

// MinTimeMs and MaxTimeMs are the same range in milliseconds (Prometheus
// remote write and remote read), rounded toward zero so that ms*1e6
// stays within MinTime..MaxTime.
const (
	MinTimeMs int64 = MinTime / 1e6
	MaxTimeMs int64 = MaxTime / 1e6
)

// InRange reports whether t (ns) is a timestamp Lightning DB stores.
func InRange(t int64) bool { return t >= MinTime && t <= MaxTime }

// CheckTime returns nil if t (ns) is in range, or an error wrapping
// ErrTimestampRange that names t and the range.
func CheckTime(t int64) error {
	if InRange(t) {
		return nil
	}
	return fmt.Errorf("%w: %d ns is outside %s..%s", ErrTimestampRange, t,
		time.Unix(0, MinTime).UTC().Format(time.RFC3339Nano), time.Unix(0, MaxTime).UTC().Format(time.RFC3339Nano))
}

// FloorDiv is a / b rounded towards minus infinity: the bucket of a
// timestamp a (negative before 1970) for a bucket width b (b > 0).
func FloorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}
