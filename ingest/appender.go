package ingest

import (
	"context"

	"github.com/lightningdb/lightningdb/series"
)

// Appender stores batches durably. The engine satisfies it; cmd wires it.
//
// Append returns after the batch is durable (WAL group commit). It stores
// every series of the batch except those it lists in AppendResult.Rejected
// (for instance with series.ErrTypeConflict when a sample's type differs
// from the type its series was created with, including a series created by
// an earlier entry of the same batch). A returned error means nothing of
// the batch was stored: series.ErrOverloaded, wrapped (retry later; 503
// with Retry-After), a context error, or an I/O error.
//
// Append must not retain b after it returns.
type Appender interface {
	Append(ctx context.Context, b *series.Batch) (series.AppendResult, error)
}
