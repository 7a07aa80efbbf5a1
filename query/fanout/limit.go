package fanout

import "sync/atomic"

// limit is a count shared by goroutines; a nil *limit has no limit.
type limit struct{ left atomic.Int64 }

func newLimit(n int64) *limit {
	if n <= 0 {
		return nil
	}
	l := &limit{}
	l.left.Store(n)
	return l
}

// take reports whether n more fit.
func (l *limit) take(n int64) bool {
	return l == nil || l.left.Add(-n) >= 0
}
