package retention

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Forever is the duration meaning "keep for ever" (InfluxDB's INF, and 0).
const Forever time.Duration = 0

var units = []struct {
	suffix string
	d      time.Duration
}{ // longest suffix first: "ms" before "m" and "s"
	{"ns", time.Nanosecond}, {"us", time.Microsecond}, {"µs", time.Microsecond},
	{"ms", time.Millisecond}, {"s", time.Second}, {"m", time.Minute}, {"h", time.Hour},
	{"d", 24 * time.Hour}, {"w", 7 * 24 * time.Hour}, {"y", 365 * 24 * time.Hour},
}

// ParseDuration parses a retention duration as Prometheus and InfluxDB
// write them: one or more number-unit pairs such as "30d", "1w", "12h30m"
// or "1y" (units ns, us, µs, ms, s, m, h, d, w, y; y is 365 days), or
// "INF", "inf", "none" or "0" for Forever. Negative and overflowing
// durations are errors.
func ParseDuration(s string) (time.Duration, error) {
	t := strings.TrimSpace(s)
	switch strings.ToLower(t) {
	case "inf", "none", "0", "forever":
		return Forever, nil
	case "":
		return 0, fmt.Errorf("%w: empty", ErrInvalidDuration)
	}
	var total time.Duration
	for rest := t; rest != ""; {
		i := 0
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			i++
		}
		if i == 0 {
			return 0, fmt.Errorf("%w %q: want a number and a unit (30d, 1w, 12h, INF)", ErrInvalidDuration, s)
		}
		n, err := strconv.ParseInt(rest[:i], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%w %q: number too large", ErrInvalidDuration, s)
		}
		rest = rest[i:]
		u, ok := unitPrefix(rest)
		if !ok {
			return 0, fmt.Errorf("%w %q: unknown or missing unit (use ns, us, ms, s, m, h, d, w, y)", ErrInvalidDuration, s)
		}
		rest = rest[len(u.suffix):]
		if n > int64(math.MaxInt64/u.d) || total > math.MaxInt64-time.Duration(n)*u.d {
			return 0, fmt.Errorf("%w %q: too long", ErrInvalidDuration, s)
		}
		total += time.Duration(n) * u.d
	}
	return total, nil
}

func unitPrefix(s string) (u struct {
	suffix string
	d      time.Duration
}, ok bool) {
	best := -1
	for i, c := range units {
		if strings.HasPrefix(s, c.suffix) && (best < 0 || len(c.suffix) > len(units[best].suffix)) {
			best = i
		}
	}
	if best < 0 {
		return u, false
	}
	return units[best], true
}

// FormatDuration writes d in the shortest whole unit ("30d", "1w",
// "36h"), or "INF" for Forever.
func FormatDuration(d time.Duration) string {
	if d <= 0 {
		return "INF"
	}
	for i := len(units) - 1; i >= 0; i-- {
		if units[i].suffix == "µs" || units[i].suffix == "y" {
			continue
		}
		if d%units[i].d == 0 {
			return strconv.FormatInt(int64(d/units[i].d), 10) + units[i].suffix
		}
	}
	return d.String()
}
