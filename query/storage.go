package query

import (
	"github.com/lightningdb/lightningdb/engine"
	"github.com/lightningdb/lightningdb/series"
	"github.com/lightningdb/lightningdb/tagindex"
)

// Storage is what the query layer needs from the engine: the tag index, the
// series registry and a per-series read over [minT, maxT] (ns, inclusive)
// that reuses the iterator it is given. *engine.DB satisfies it.
//
// Pushdown hook: when the engine's multi-series Querier lands (segments,
// access-pattern hints, block-level aggregates), a second, optional
// interface will be asserted on Storage in Adapter.Select (see pushdown.go)
// so that the adapter can hand it a whole bitmap and the select hints.
type Storage interface {
	Index() *tagindex.Index
	Registry() *series.Registry
	Select(id series.ID, minT, maxT int64, it *engine.Iterator) *engine.Iterator
}
