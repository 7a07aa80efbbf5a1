package engine

import (
	"slices"
	"testing"

	"github.com/lightningdb/lightningdb/series"
)

// TestMergeDisjointRuns: runs in time order are taken as they are; runs
// that overlap or share a timestamp are merged, the newest run winning.
func TestMergeDisjointRuns(t *testing.T) {
	for _, tc := range []struct {
		ts, vals []int64
		runs     []int
		disjoint bool
		wantTs   []int64
		wantVals []uint64
	}{
		{[]int64{1, 2, 3, 4}, []int64{1, 2, 3, 4}, []int{2, 4}, true, []int64{1, 2, 3, 4}, []uint64{1, 2, 3, 4}},
		{[]int64{1, 2, 3, 5, 7}, []int64{1, 2, 3, 5, 7}, []int{1, 3, 5}, true, []int64{1, 2, 3, 5, 7}, []uint64{1, 2, 3, 5, 7}},
		{[]int64{1, 3, 3, 4}, []int64{10, 30, 31, 40}, []int{2, 4}, false, []int64{1, 3, 4}, []uint64{10, 31, 40}},
		{[]int64{1, 5, 2, 6}, []int64{1, 5, 2, 6}, []int{2, 4}, false, []int64{1, 2, 5, 6}, []uint64{1, 2, 5, 6}},
		{[]int64{5, 6, 1, 2}, []int64{5, 6, 1, 2}, []int{2, 4}, false, []int64{1, 2, 5, 6}, []uint64{1, 2, 5, 6}},
	} {
		if got := runsDisjoint(tc.ts, tc.runs); got != tc.disjoint {
			t.Fatalf("runsDisjoint(%v, %v) = %v", tc.ts, tc.runs, got)
		}
		it := &Iterator{}
		it.scratch.typ = series.TypeInt
		it.scratch.ts = slices.Clone(tc.ts)
		for _, v := range tc.vals {
			it.scratch.vals = append(it.scratch.vals, uint64(v))
		}
		it.runs = tc.runs
		if tc.disjoint {
			it.sampleBuf, it.scratch = it.scratch, it.sampleBuf
		} else {
			it.merge()
		}
		if !slices.Equal(it.ts, tc.wantTs) || !slices.Equal(it.vals, tc.wantVals) {
			t.Fatalf("%v runs %v: got %v %v, want %v %v", tc.ts, tc.runs, it.ts, it.vals, tc.wantTs, tc.wantVals)
		}
	}
}
