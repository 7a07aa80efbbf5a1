package query

import (
	"github.com/lightningdb/lightningdb/engine"
	"github.com/lightningdb/lightningdb/series"
	"github.com/lightningdb/lightningdb/tagindex"
)

// Storage is what the query layer needs from the engine: the tag index, the
// series registry and a multi-series Querier over [minT, maxT] (ns,
// inclusive) holding one consistent view of memtables and segments until
// it is closed. *engine.DB satisfies it.
//
// Each select opens one Querier and reads its series through
// Querier.SelectSorted with an access-pattern hint (choosePattern);
// aggregation pushdown (pushdown.go) also reads block summaries through
// it.
type Storage interface {
	Index() *tagindex.Index
	Registry() *series.Registry
	Querier(minT, maxT int64) (*engine.Querier, error)
}
