package encoding

import "unsafe"

// asUint64s views an int64 slice as uint64s, so timestamps decode in place
// without a scratch copy. Both types have the same size and alignment.
func asUint64s(s []int64) []uint64 {
	if len(s) == 0 {
		return nil
	}
	return unsafe.Slice((*uint64)(unsafe.Pointer(&s[0])), len(s))
}
