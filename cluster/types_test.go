package cluster

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/lightningdb/lightningdb/series"
)

// TestTypeMemo: a type is remembered once recorded (its write published),
// a conflict is named, a correction replaces the type, and a series not
// written for two generations is forgotten (a storage node forgets it
// after retention or a delete and takes a new type).
func TestTypeMemo(t *testing.T) {
	now := time.Unix(0, 0)
	tm := typeMemo{now: func() time.Time { return now }}
	batch := func(typ series.ValueType) *series.Batch {
		var b series.Batch
		b.AddSeries(series.Labels{{Name: "__name__", Value: "m"}}, typ)
		if typ == series.TypeInt {
			b.AppendInt(1, 1)
		} else {
			b.AppendFloat(1, 1)
		}
		return &b
	}
	ib, fb := batch(series.TypeInt), batch(series.TypeFloat)
	hs := hashes(ib)
	require.Empty(t, tm.check(fb, hs), "nothing recorded: a write that was not published fixes no type")
	tm.record(ib, hs, nil)
	rej := tm.check(fb, hs)
	require.Len(t, rej, 1)
	var tc *series.TypeConflictError
	require.True(t, errors.As(rej[0].Err, &tc))
	require.Equal(t, series.TypeInt, tc.Have)
	require.ErrorContains(t, rej[0].Err, `value type conflict: series m{} holds integer values, got float`)

	tm.set(hs[0], series.TypeFloat) // a storage node's correction
	require.Empty(t, tm.check(fb, hs))
	require.Len(t, tm.check(ib, hs), 1)

	now = now.Add(typeMemoAge) // one generation on: still known
	require.Len(t, tm.check(ib, hs), 1)
	now = now.Add(typeMemoAge) // two: forgotten
	require.Empty(t, tm.check(ib, hs))
}
