package ingest

import (
	"context"
	"errors"

	"github.com/lightningdb/lightningdb/series"
)

// Appender stores batches durably. The engine satisfies it; cmd wires it.
//
// Append returns after the batch is durable (WAL group commit). It stores
// every series of the batch except those it lists in AppendResult.Rejected
// (for instance with series.ErrTypeConflict when a sample's type differs
// from the type its series was created with, including a series created by
// an earlier entry of the same batch). A returned error means nothing of
// the batch was stored: ErrOverloaded (or whatever IsOverloaded recognises),
// a context error, or an I/O error.
//
// Append must not retain b after it returns.
type Appender interface {
	Append(ctx context.Context, b *series.Batch) (series.AppendResult, error)
}

// ErrOverloaded is the error an Appender returns (wrapped) when it cannot
// take more data now; the client is told to retry later (503 with
// Retry-After). An engine with its own sentinel is mapped to it with
// InfluxOptions.IsOverloaded.
var ErrOverloaded = errors.New("overloaded")
