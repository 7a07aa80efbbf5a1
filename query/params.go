package query

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/common/model"
)

// The bounds Prometheus uses for an absent start or end
// (web/api/v1/api.go MinTime, MaxTime).
var (
	minTime          = time.Unix(math.MinInt64/1000+62135596801, 0).UTC()
	maxTime          = time.Unix(math.MaxInt64/1000-62135596801, 999999999).UTC()
	minTimeFormatted = minTime.Format(time.RFC3339Nano)
	maxTimeFormatted = maxTime.Format(time.RFC3339Nano)
)

// ParseTime reads a time as Prometheus' HTTP API does: Unix seconds with
// an optional fraction (rounded to the millisecond) or RFC 3339. Seconds
// beyond the API's bounds (minTime, maxTime: about 292 million years
// either way) are clamped to them; NaN and infinities are refused.
func ParseTime(s string) (time.Time, error) {
	if t, err := strconv.ParseFloat(s, 64); err == nil {
		switch {
		case math.IsNaN(t) || math.IsInf(t, 0):
			return time.Time{}, fmt.Errorf("cannot parse %q to a valid timestamp", s)
		case t <= float64(minTime.Unix()):
			return minTime, nil
		case t >= float64(maxTime.Unix()):
			return maxTime, nil
		}
		sec, ns := math.Modf(t)
		ns = math.Round(ns*1000) / 1000
		return time.Unix(int64(sec), int64(ns*float64(time.Second))).UTC(), nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	switch s {
	case minTimeFormatted:
		return minTime, nil
	case maxTimeFormatted:
		return maxTime, nil
	}
	return time.Time{}, fmt.Errorf("cannot parse %q to a valid timestamp", s)
}

func parseTimeParam(r *http.Request, name string, def time.Time) (time.Time, *apiError) {
	v := r.FormValue(name)
	if v == "" {
		return def, nil
	}
	t, err := ParseTime(v)
	if err != nil {
		return time.Time{}, invalidParam(name, err)
	}
	return t, nil
}

// parseDuration reads float seconds or a Prometheus duration (5m).
func parseDuration(s string) (time.Duration, error) {
	// Whole seconds exactly: as float64 nanoseconds, counts past 2^53 ns
	// (104 days) would be rounded (7000000011 read as 512 ns more).
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n > math.MaxInt64/int64(time.Second) || n < math.MinInt64/int64(time.Second) {
			return 0, fmt.Errorf("cannot parse %q to a valid duration. It overflows int64", s)
		}
		return time.Duration(n) * time.Second, nil
	}
	if d, err := strconv.ParseFloat(s, 64); err == nil {
		ts := d * float64(time.Second)
		if math.IsNaN(ts) || ts >= float64(math.MaxInt64) || ts < float64(math.MinInt64) {
			return 0, fmt.Errorf("cannot parse %q to a valid duration. It overflows int64", s)
		}
		return time.Duration(ts), nil
	}
	if d, err := model.ParseDuration(s); err == nil {
		return time.Duration(d), nil
	}
	return 0, fmt.Errorf("cannot parse %q to a valid duration", s)
}

func parseLimit(r *http.Request) (int, *apiError) {
	n, err := parseLimitValue(r.FormValue("limit"))
	if err != nil {
		return 0, invalidParam("limit", err)
	}
	return n, nil
}

// parseLimitValue reads a non-negative limit; empty means 0 (none).
func parseLimitValue(s string) (int, error) {
	if s == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("cannot parse %q to a valid limit", s)
	}
	if n < 0 {
		return 0, errors.New("limit must be non-negative")
	}
	return n, nil
}

// timeRange reads start and end (defaults: all time) as ns bounds.
func timeRange(r *http.Request) (minT, maxT int64, e *apiError) {
	start, e := parseTimeParam(r, "start", minTime)
	if e != nil {
		return 0, 0, e
	}
	end, e := parseTimeParam(r, "end", maxTime)
	if e != nil {
		return 0, 0, e
	}
	return msToMinNs(start.UnixMilli()), msToMaxNs(end.UnixMilli()), nil
}
