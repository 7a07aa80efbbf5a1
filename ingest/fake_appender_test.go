package ingest

import (
	"context"
	"fmt"
	"math"
	"sort"
	"sync"

	"github.com/lightningdb/lightningdb/series"
)

// fakeAppender stores samples in memory and keeps each series' first type,
// rejecting later samples of another type with series.ErrTypeConflict, as
// the engine does. err, when set, fails whole batches.
type fakeAppender struct {
	mu      sync.Mutex
	types   map[string]series.ValueType
	stored  []string
	batches int
	err     error
}

func newFakeAppender() *fakeAppender {
	return &fakeAppender{types: make(map[string]series.ValueType)}
}

func (f *fakeAppender) Append(ctx context.Context, b *series.Batch) (series.AppendResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.batches++
	if f.err != nil {
		return series.AppendResult{}, f.err
	}
	if err := ctx.Err(); err != nil {
		return series.AppendResult{}, err
	}
	var res series.AppendResult
	var ls series.Labels
	for i := 0; i < b.Len(); i++ {
		canon, typ, ts, vals := b.Series(i)
		if t, ok := f.types[string(canon)]; ok && t != typ {
			res.Rejected = append(res.Rejected, series.Rejection{Index: i,
				Err: fmt.Errorf("%w: sample is %s, series is %s", series.ErrTypeConflict, typ, t)})
			continue
		}
		f.types[string(canon)] = typ
		var err error
		if ls, err = series.UnmarshalLabels(ls, canon); err != nil {
			return series.AppendResult{}, err
		}
		for j := range ts {
			f.stored = append(f.stored, fmt.Sprintf("%s %s@%d", ls, renderValue(b, typ, vals[j]), ts[j]))
			res.Accepted++
		}
	}
	return res, nil
}

func renderValue(b *series.Batch, typ series.ValueType, raw uint64) string {
	switch typ {
	case series.TypeString:
		return fmt.Sprintf("%q", b.Str(raw))
	case series.TypeFloat:
		return fmt.Sprint(math.Float64frombits(raw))
	case series.TypeInt:
		return fmt.Sprint(int64(raw)) + "i"
	case series.TypeUint:
		return fmt.Sprint(raw) + "u"
	}
	return fmt.Sprint(raw == 1)
}

func (f *fakeAppender) samples() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := append([]string(nil), f.stored...)
	sort.Strings(out)
	return out
}
