package query

import (
	"slices"
	"sync"
	"sync/atomic"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/lightningdb/lightningdb/tagindex"
)

// Trace is one query's account: the series and samples it used (checked
// against the limits) and, for explain=1, what each select did. Its JSON
// form is the explain output (docs/query.md).
type Trace struct {
	// Explain asks for the matcher plan of each select (extra index work).
	Explain bool `json:"-"`

	Optimizer bool           `json:"optimizer"`
	Series    int64          `json:"series"`
	Samples   int64          `json:"samplesDecoded"`
	Selects   []*SelectTrace `json:"selects"`
	// Stages are the PromQL engine's timings plus the storage's, seconds.
	Stages map[string]float64 `json:"stages,omitempty"`

	mu      sync.Mutex // mu protects Selects
	series  atomic.Int64
	samples atomic.Int64
}

// SelectTrace is what one selector cost.
type SelectTrace struct {
	Selector string `json:"selector"`
	Func     string `json:"func,omitempty"`
	StartMs  int64  `json:"startMs"`
	EndMs    int64  `json:"endMs"`
	RangeMs  int64  `json:"rangeMs,omitempty"`
	StepMs   int64  `json:"stepMs,omitempty"`
	// MatcherPlan is the order the tag index applies the matchers in.
	MatcherPlan     []MatcherStep    `json:"matcherPlan,omitempty"`
	PartitionsTotal int              `json:"partitionsTotal"`
	Partitions      []PartitionTrace `json:"partitions"`
	Series          int              `json:"series"`
	Samples         int64            `json:"samplesDecoded"`
	Workers         int              `json:"decodeWorkers"`
	// Pattern is the access-pattern hint given to the engine.
	Pattern       string  `json:"pattern,omitempty"`
	IndexSeconds  float64 `json:"indexSeconds"`
	DecodeSeconds float64 `json:"decodeSeconds"`
	// Pushdown describes a select the storage evaluated itself
	// (pushdown.go); BlocksAggregated blocks were taken from their
	// aggregates, SamplesSkipped samples not decoded.
	Pushdown         string `json:"pushdown,omitempty"`
	BlocksAggregated int64  `json:"blocksAggregated,omitempty"`
	SamplesSkipped   int64  `json:"samplesSkipped,omitempty"`
	// WindowsCached windows were read from the window cache (rcache.go).
	WindowsCached int64 `json:"windowsCached,omitempty"`
	// Projected: the series carry only the labels their aggregation
	// groups by (projection.go).
	Projected bool `json:"projected,omitempty"`
	// Rollup names the rollup tier a pushed-down select read and why, or
	// why it read raw data (rollup.go); RollupRecords records were read,
	// decoding RollupSamples samples of their field series;
	// TierOnlySeries series had only rollups left.
	Rollup         string `json:"rollup,omitempty"`
	RollupRecords  int64  `json:"rollupRecords,omitempty"`
	RollupSamples  int64  `json:"rollupSamplesDecoded,omitempty"`
	TierOnlySeries int    `json:"tierOnlySeries,omitempty"`
}

// PartitionTrace is one index partition a select read.
type PartitionTrace struct {
	Start  string `json:"start"`
	End    string `json:"end"`
	Series uint64 `json:"series"`
	Cached bool   `json:"cached"`
}

// MatcherStep is one matcher of the plan: "intersect" for those that
// select by value (smallest first), "subtract" for those that accept a
// missing label (!=, !~, ="", regexes matching ""), applied last.
type MatcherStep struct {
	Matcher string `json:"matcher"`
	Op      string `json:"op"`
	// Series is how many series the matcher alone keeps in the range.
	Series uint64 `json:"series"`
}

func (t *Trace) addSelect(st *SelectTrace) {
	t.mu.Lock()
	t.Selects = append(t.Selects, st)
	t.mu.Unlock()
}

// Finish copies the counters into the exported fields.
func (t *Trace) Finish() {
	t.Series, t.Samples = t.series.Load(), t.samples.Load()
}

// planMatchers reproduces the tag index's plan (tagindex/resolve.go:
// positive matchers by ascending cardinality, then the subtractive ones),
// with each matcher's cardinality over the range, for explain.
func planMatchers(ix *tagindex.Index, minT, maxT int64, ms []*labels.Matcher, tms []*tagindex.Matcher) []MatcherStep {
	var pos, neg []MatcherStep
	for i, m := range tms {
		bm, err := ix.Postings(minT, maxT, m)
		if err != nil {
			continue
		}
		s := MatcherStep{Matcher: ms[i].String(), Series: bm.GetCardinality()}
		if m.Matches("") {
			s.Op = "subtract"
			neg = append(neg, s)
		} else {
			s.Op = "intersect"
			pos = append(pos, s)
		}
	}
	slices.SortStableFunc(pos, func(a, b MatcherStep) int {
		switch {
		case a.Series < b.Series:
			return -1
		case a.Series > b.Series:
			return 1
		}
		return 0
	})
	return append(pos, neg...)
}
