package query

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"
)

// The HTTP API's parameter parsers under fuzzing: none panics, and what
// one accepts reads back the same from its canonical form.

func FuzzParseTime(f *testing.F) {
	for _, s := range []string{"0", "1700000000", "1700000000.123", "-1.5", "1e300", "-1e300", "NaN", "+Inf",
		"9223372036854775807", "18446744073709551616", "2023-11-14T22:13:20Z", "2023-11-14T22:13:20.123456789+02:00",
		minTimeFormatted, maxTimeFormatted, "", "x", "0x10", "1_0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tm, err := ParseTime(s)
		if err != nil {
			return
		}
		require.False(t, tm.Before(minTime) || tm.After(maxTime), "%q -> %v outside the API's bounds", s, tm)
		ms := tm.UnixMilli()
		if ms > -1<<53 && ms < 1<<53 { // exact as float64 seconds
			back, err := ParseTime(strconv.FormatFloat(float64(ms)/1000, 'f', 3, 64))
			require.NoError(t, err)
			require.Equal(t, ms, back.UnixMilli(), "%q", s)
		}
	})
}

func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"0", "15", "0.5", "-1", "1e300", "NaN", "-Inf", "5m", "1h30m", "1y", "292y", "100000000y", "", "5", "1.5e-9", "0x1p-2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := parseDuration(s)
		if err != nil {
			return
		}
		if d >= 0 && d%time.Millisecond == 0 {
			back, err := parseDuration(model.Duration(d).String())
			require.NoError(t, err, "%q -> %v", s, d)
			require.Equal(t, d, back, "%q", s)
		}
		back, err := parseDuration(strconv.FormatInt(int64(d/time.Second), 10))
		require.NoError(t, err, "%q -> %v", s, d)
		require.Equal(t, d/time.Second*time.Second, back, "%q", s)
	})
}

func FuzzParseLimit(f *testing.F) {
	for _, s := range []string{"", "0", "10", "-1", "9223372036854775807", "99999999999999999999", "1e3", " 1", "+5"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := parseLimitValue(s)
		if err != nil {
			return
		}
		require.GreaterOrEqual(t, n, 0)
		back, err := parseLimitValue(strconv.Itoa(n))
		require.NoError(t, err)
		require.Equal(t, n, back)
	})
}

func FuzzParseMatchers(f *testing.F) {
	for _, s := range []string{`up`, `{}`, `{a=""}`, `{a=~".*"}`, `{a!=""}`, `up{job="x",i=~"a|b"}`, `{__name__=~".+"}`,
		`{"utf8.name"="v"}`, `{a=~"(a+)+$"}`, `{a=~"` + strings.Repeat("(", 100) + `"}`, `{a="\xff"}`, `{a="` + strings.Repeat("x", 20000) + `"}`} {
		f.Add(s)
	}
	a, err := NewAdapter(openDB(f, 0), Options{})
	require.NoError(f, err)
	api := NewAPI(a, APIOptions{})
	f.Fuzz(func(t *testing.T, s string) {
		sets, err := api.parseMatchers([]string{s})
		// A query node's export parses without an API, the same way.
		alone, errAlone := ParseMatchSelectors([]string{s}, a.opts.MaxQueryLength)
		require.Equal(t, err == nil, errAlone == nil, "%q: API %v, alone %v", s, err, errAlone)
		if err != nil {
			return
		}
		require.Equal(t, matcherStrings(sets[0]), matcherStrings(alone[0]))
		require.Len(t, sets, 1)
		require.LessOrEqual(t, len(s), a.opts.MaxQueryLength)
		require.NoError(t, checkMatchers(sets[0]))
		// The canonical form reads back as the same matchers.
		parts := make([]string, len(sets[0]))
		for i, m := range sets[0] {
			parts[i] = m.String()
		}
		canon := "{" + strings.Join(parts, ",") + "}"
		back, err := api.parser.ParseMetricSelector(canon)
		require.NoError(t, err, "%q -> %q", s, canon)
		require.Equal(t, matcherStrings(sets[0]), matcherStrings(back), "%q -> %q", s, canon)
	})
}

func matcherStrings(ms []*labels.Matcher) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.String()
	}
	return out
}
