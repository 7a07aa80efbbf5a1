package downsample

import (
	"context"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/lightningdb/lightningdb/series"
)

func TestCompileErrorsNameTheKey(t *testing.T) {
	_, err := Config{Rules: []RuleConfig{
		{Match: `{db="a"`, Tiers: []TierConfig{{After: "7d", Interval: "5m"}}},
		{Match: `{db="b"}`, Tiers: []TierConfig{{After: "x", Interval: "7m"}, {After: "1d", Interval: "1h", Retention: "12h"}}},
		{Match: `{db="c"}`},
		{Match: `{db="d"}`, Tiers: []TierConfig{{After: "1d", Interval: "1h"}, {After: "2d", Interval: "60m"}}},
	}}.Compile()
	require.Error(t, err)
	for _, want := range []string{
		"downsample.rules[0].match", "downsample.rules[1].tiers[0].after", "downsample.rules[1].tiers[0].interval \"7m\": want whole seconds that divide a day",
		"downsample.rules[1].tiers[1]: retention 12h must be longer than after 1d", "downsample.rules[2].tiers: want 1 to 8 tiers, got 0",
		"downsample.rules[3].tiers[1]: interval 60m appears twice",
	} {
		require.Contains(t, err.Error(), want)
	}
}

func TestRulesFirstMatchAndTiers(t *testing.T) {
	r, err := Config{Rules: []RuleConfig{
		{Match: `{db="factory", sensor=~"vib.*"}`, Tiers: []TierConfig{{After: "1d", Interval: "1m", Retention: "30d"}}},
		{Match: `{db="factory"}`, Tiers: []TierConfig{{After: "7d", Interval: "5m", Retention: "1y"}, {After: "30d", Interval: "1h"}}},
	}}.Compile()
	require.NoError(t, err)
	require.Equal(t, []time.Duration{time.Minute, 5 * time.Minute, time.Hour}, r.Intervals())
	vib := series.FromStrings("db", "factory", "sensor", "vib1")
	temp := series.FromStrings("db", "factory", "sensor", "temp")
	require.Equal(t, 0, r.Match(vib))
	require.Equal(t, 1, r.Match(temp))
	require.Equal(t, -1, r.Match(series.FromStrings("db", "other")))
	_, ok := r.TierOf(vib, 5*time.Minute)
	require.False(t, ok, "the first matching rule alone governs a series")
	tier, ok := r.TierOf(temp, 5*time.Minute)
	require.True(t, ok)
	require.Equal(t, Tier{After: 7 * 24 * time.Hour, Interval: 5 * time.Minute, Retention: 365 * 24 * time.Hour}, tier)
	rr := r.RetentionRules(5 * time.Minute)
	require.Equal(t, 365*24*time.Hour, rr.For(temp, "db", nil))
	require.Equal(t, time.Duration(0), r.RetentionRules(time.Hour).For(temp, "db", nil))
	require.Equal(t, "5m", TierName(5*time.Minute))
	for d, want := range map[time.Duration]time.Duration{time.Minute: 1, 5 * time.Minute: 7, time.Hour: 30, 24 * time.Hour: 30, time.Second: 1} {
		require.Equal(t, want*24*time.Hour, PartitionDuration(d, 0), "%s", d)
	}
	require.Equal(t, 7*24*time.Hour, PartitionDuration(5*time.Minute, 365*24*time.Hour))
	require.Equal(t, 3*24*time.Hour, PartitionDuration(time.Hour, 30*24*time.Hour), "an eighth of the retention")
	require.Equal(t, 24*time.Hour, PartitionDuration(5*time.Minute, 26*time.Hour))
	require.Equal(t, 365*24*time.Hour, r.MinRetention(5*time.Minute))
	require.Equal(t, time.Duration(0), r.MinRetention(time.Hour))
}

// TestAggregateMatchesFold: each record equals a fold of its interval's
// samples one by one, as PromQL's functions fold them.
func TestAggregateMatchesFold(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	var ts []int64
	var vs []float64
	tm := int64(-3000)
	for range 5000 {
		tm += 1 + rng.Int64N(700)
		ts = append(ts, tm)
		v := float64(rng.IntN(20))
		switch rng.IntN(30) {
		case 0:
			v = math.NaN()
		case 1:
			v = 0.1 * v
		}
		vs = append(vs, v)
	}
	recs := Aggregate(nil, ts, vs, 1000)
	i := 0
	for _, r := range recs {
		require.Zero(t, r.End%1000)
		var n, resets int
		var sum, rsum float64
		exact := true
		mx, mn := math.NaN(), math.NaN()
		for ; i < len(ts) && ts[i] <= r.End; i++ {
			require.Greater(t, ts[i], r.End-1000)
			v := vs[i]
			if n == 0 || v > mx || math.IsNaN(mx) {
				mx = v
			}
			if n == 0 || v < mn || math.IsNaN(mn) {
				mn = v
			}
			if n > 0 && v < vs[i-1] {
				resets++
				rsum += vs[i-1]
			}
			exact = exact && v == math.Trunc(v)
			sum += v
			n++
		}
		require.Equal(t, n, r.Count)
		require.Equal(t, math.Float64bits(mx), math.Float64bits(r.Max))
		require.Equal(t, math.Float64bits(mn), math.Float64bits(r.Min))
		require.Equal(t, math.Float64bits(sum), math.Float64bits(r.Sum))
		require.Equal(t, exact, r.SumExact)
		require.Equal(t, resets, r.Resets)
		require.Equal(t, math.Float64bits(rsum), math.Float64bits(r.ResetSum))
	}
	require.Equal(t, len(ts), i)
}

func TestRecordsRoundTrip(t *testing.T) {
	recs := Aggregate(nil, []int64{1, 2, 999, 1000, 1001, 5000}, []float64{3, 1, math.Inf(1), -0.5, 7, 2}, 1000)
	require.Len(t, recs, 3)
	var b series.Batch
	raw := series.FromStrings("__name__", "m", "a", "b", "Z", "z").AppendCanonical(nil)
	AppendBatch(&b, raw, recs, 1000)
	require.Equal(t, int(NumFields), b.Len())
	var got []Record
	for i := range b.Len() {
		canon, _, ts, raws := b.Series(i)
		back, f, ok := RawSeries(nil, canon)
		require.True(t, ok)
		require.Equal(t, Field(i), f)
		require.Equal(t, raw, back)
		require.Equal(t, canon, FieldSeries(nil, raw, f))
		_, err := series.UnmarshalLabels(nil, canon)
		require.NoError(t, err, "sorted, valid labels")
		var err2 error
		got, err2 = DecodeField(got, f, ts, raws, 1000)
		require.NoError(t, err2)
	}
	require.Equal(t, len(recs), len(got))
	for i := range recs {
		require.Equal(t, math.Float64bits(recs[i].Max), math.Float64bits(got[i].Max))
		require.Equal(t, recs[i], got[i])
	}
	// A field of other intervals, or off the interval's end, is refused.
	_, _, ts, raws := b.Series(int(FieldMax))
	_, err := DecodeField(got[:2], FieldMax, ts, raws, 1000)
	require.ErrorIs(t, err, ErrCorruptRecord)
	bad := append([]int64(nil), ts...)
	bad[1]--
	_, err = DecodeField(got[:0], FieldMeta, bad, raws, 1000)
	require.ErrorIs(t, err, ErrCorruptRecord)
	_, err = DecodeField(nil, FieldMeta, ts, raws, 1000) // max values are no meta
	require.ErrorIs(t, err, ErrCorruptRecord)
}

// memSource is raw data in memory.
type memSource struct {
	ls []series.Labels
	ts [][]int64 // ms
	vs [][]float64
}

func (m *memSource) MinTime() (int64, bool) { return m.ts[0][0] * 1e6, true }

func (m *memSource) Scan(_ context.Context, minT, maxT int64, fn func([]byte, []int64, []float64) error) error {
	for i := range m.ls {
		var ts []int64
		var vs []float64
		for k, t := range m.ts[i] {
			if t*1e6 >= minT && t*1e6 <= maxT {
				ts, vs = append(ts, t), append(vs, m.vs[i][k])
			}
		}
		if len(ts) > 0 {
			if err := fn(m.ls[i].AppendCanonical(nil), ts, vs); err != nil {
				return err
			}
		}
	}
	return nil
}

// memTier stores what a builder appends, keyed by series and timestamp
// (one sample per timestamp, as the engine keeps).
type memTier struct {
	samples map[string]map[int64]uint64
	appends int
	failAt  int // fail the append with this number (from 1); 0: never
}

func (m *memTier) Append(_ context.Context, b *series.Batch) (series.AppendResult, error) {
	m.appends++
	if m.appends == m.failAt {
		return series.AppendResult{}, os.ErrDeadlineExceeded
	}
	for i := range b.Len() {
		canon, _, ts, raws := b.Series(i)
		s := m.samples[string(canon)]
		if s == nil {
			s = map[int64]uint64{}
			m.samples[string(canon)] = s
		}
		for k, t := range ts {
			s[t] = raws[k]
		}
	}
	return series.AppendResult{Accepted: b.Samples()}, nil
}

// TestBuilderResumes: a build that fails half way resumes from the saved
// state in a new builder, and the tier ends with one record per interval
// holding samples, for the governed series only, built through the
// intervals that ended `after` ago.
func TestBuilderResumes(t *testing.T) {
	rules, err := Config{Rules: []RuleConfig{{Match: `{db="f"}`, Tiers: []TierConfig{{After: "1h", Interval: "1m"}}}}}.Compile()
	require.NoError(t, err)
	src := &memSource{}
	t0 := int64(1_700_006_400_000)
	for i, db := range []string{"f", "f", "g"} {
		src.ls = append(src.ls, series.FromStrings("__name__", "m", "db", db, "i", strings.Repeat("x", i+1)))
		var ts []int64
		var vs []float64
		for k := range 3 * 24 * 60 * 4 { // 3 days at 15 s
			ts, vs = append(ts, t0+int64(k)*15000+int64(i)), append(vs, float64(k%17))
		}
		src.ts, src.vs = append(src.ts, ts), append(src.vs, vs)
	}
	dir := t.TempDir()
	tier := &memTier{samples: map[string]map[int64]uint64{}, failAt: 3}
	now := func() time.Time { return time.UnixMilli(t0).Add(3*24*time.Hour + time.Hour + 30*time.Second) }
	opts := BuilderOptions{Dir: dir, Now: now, Chunk: 12 * time.Hour, BatchSamples: 10_000}
	b, err := NewBuilder(rules, src, map[time.Duration]Appender{time.Minute: tier}, opts)
	require.NoError(t, err)
	_, err = b.Build(context.Background())
	require.ErrorIs(t, err, os.ErrDeadlineExceeded)
	half := b.BuiltThrough(time.Minute)
	require.Greater(t, half, int64(math.MinInt64))
	require.Less(t, half, t0+3*24*3600_000)

	b, err = NewBuilder(rules, src, map[time.Duration]Appender{time.Minute: tier}, opts)
	require.NoError(t, err)
	require.Equal(t, half, b.BuiltThrough(time.Minute), "the state file survives")
	_, err = b.Build(context.Background())
	require.NoError(t, err)
	require.Equal(t, t0+3*24*3600_000, b.BuiltThrough(time.Minute))
	require.Len(t, tier.samples, 2*int(NumFields), "db=g is not governed")
	for i := range 2 {
		ends := map[int64]bool{}
		for _, ts := range src.ts[i] {
			if e := IntervalEnd(ts, 60_000); e <= t0+3*24*3600_000 {
				ends[e] = true
			}
		}
		for f := range NumFields {
			s := tier.samples[string(FieldSeries(nil, src.ls[i].AppendCanonical(nil), f))]
			require.Equal(t, len(ends), len(s), "one %s sample per interval with samples", f)
		}
	}
	_, err = os.Stat(filepath.Join(dir, stateFile))
	require.NoError(t, err)
}

// TestRecordsHolding: the records a deletion of [minT, maxT] (ns) removes
// from a tier. A deletion starting at an interval's end (a round time)
// left that interval's record, which holds the sample at minT, built from
// deleted data (the server deleted the tier's [minT, maxT+I-1]).
func TestRecordsHolding(t *testing.T) {
	const m = int64(time.Minute)
	for _, c := range []struct{ minT, maxT, lo, hi int64 }{
		{10 * m, 20*m - 1, 10*m - 1, 20*m - 1},       // minT ends the interval (9m, 10m]
		{10*m + 1, 20 * m, 10*m - 1, 20*m - 1},       // minT's millisecond is still 10m
		{10*m + 1e6, 20*m + 1e6, 11*m - 1, 21*m - 1}, // both milliseconds past an interval's end
		{10*m - 999_999, 10 * m, 10*m - 1, 10*m - 1}, // one interval
		{math.MinInt64, math.MaxInt64, math.MinInt64, math.MaxInt64},
		{-3 * m, -m, -3*m - 1, -m - 1},
	} {
		lo, hi := RecordsHolding(c.minT, c.maxT, time.Minute)
		require.Equal(t, [2]int64{c.lo, c.hi}, [2]int64{lo, hi}, "[%d, %d]", c.minT, c.maxT)
		// Every sample in the range has its record in [lo, hi].
		for _, ts := range []int64{c.minT, c.maxT} {
			if ts > math.MinInt64/2 && ts < math.MaxInt64/2 {
				rt := RecordTime(IntervalEnd(series.FloorDiv(ts, 1e6), 60_000))
				require.True(t, rt >= lo && rt <= hi, "record %d of sample %d outside [%d, %d]", rt, ts, lo, hi)
			}
		}
	}
}
