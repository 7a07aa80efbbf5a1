package lineproto

import (
	"fmt"
	"math"
)

// Precision is the unit of the timestamps of a body.
type Precision uint8

// The precisions. The zero value is nanoseconds.
const (
	Nanosecond Precision = iota
	Microsecond
	Millisecond
	Second
	Minute
	Hour
)

// ParsePrecision reads the precision parameter of /write (n, ns, u, us, µ,
// µs, ms, s, m, h) and /api/v2/write (ns, us, ms, s). The empty string means
// nanoseconds. InfluxDB 1.x accepts n, u, ms, s, m and h, 2.x accepts ns,
// us, ms and s; we accept the union on both endpoints.
func ParsePrecision(s string) (Precision, error) {
	switch s {
	case "", "n", "ns":
		return Nanosecond, nil
	case "u", "us", "µ", "µs":
		return Microsecond, nil
	case "ms":
		return Millisecond, nil
	case "s":
		return Second, nil
	case "m":
		return Minute, nil
	case "h":
		return Hour, nil
	}
	return 0, fmt.Errorf("invalid precision %q (use ns, us, ms, s, m or h)", s)
}

// String returns the precision's name as the precision parameter spells
// it (ns, us, ms, s, m, h).
func (p Precision) String() string {
	switch p {
	case Microsecond:
		return "us"
	case Millisecond:
		return "ms"
	case Second:
		return "s"
	case Minute:
		return "m"
	case Hour:
		return "h"
	}
	return "ns"
}

// Nanoseconds returns the length of one unit in nanoseconds.
func (p Precision) Nanoseconds() int64 {
	switch p {
	case Microsecond:
		return 1e3
	case Millisecond:
		return 1e6
	case Second:
		return 1e9
	case Minute:
		return 60e9
	case Hour:
		return 3600e9
	}
	return 1
}

// toNanos converts a timestamp in unit p to nanoseconds and reports false
// on overflow.
func (p Precision) toNanos(t int64) (int64, bool) {
	d := p.Nanoseconds()
	if d == 1 {
		return t, true
	}
	if t > math.MaxInt64/d || t < math.MinInt64/d {
		return 0, false
	}
	return t * d, true
}

// truncate rounds a server time down to a multiple of the precision, as the
// reference decoder does for lines without a timestamp.
func (p Precision) truncate(now int64) int64 {
	d := p.Nanoseconds()
	m := now % d
	if m < 0 {
		m += d
	}
	return now - m
}
