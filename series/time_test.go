package series

import (
	"errors"
	"math"
	"testing"
)

func TestTimeRange(t *testing.T) {
	for _, tc := range []struct {
		t  int64
		ok bool
	}{
		{0, true}, {MinTime, true}, {MaxTime, true},
		{math.MinInt64, false}, {math.MinInt64 + 1, false}, {math.MaxInt64, false},
	} {
		err := CheckTime(tc.t)
		if (err == nil) != tc.ok || InRange(tc.t) != tc.ok {
			t.Errorf("CheckTime(%d) = %v, want ok=%v", tc.t, err, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrTimestampRange) {
			t.Errorf("CheckTime(%d) = %v, not ErrTimestampRange", tc.t, err)
		}
	}
	// (MinTimeMs-1)*1e6 and (MaxTimeMs+1)*1e6 overflow int64: the compiler refuses them as constants.
	if !InRange(MinTimeMs*1e6) || !InRange(MaxTimeMs*1e6) {
		t.Errorf("ms range %d..%d does not map inside the ns range", MinTimeMs, MaxTimeMs)
	}
	if err := CheckTime(math.MinInt64); err.Error() != "timestamp out of range: -9223372036854775808 ns is outside 1677-09-21T00:12:43.145224194Z..2262-04-11T23:47:16.854775806Z" {
		t.Errorf("message: %v", err)
	}
}
