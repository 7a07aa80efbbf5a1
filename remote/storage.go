package remote

import (
	"context"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/lightningdb/lightningdb/series"
	"github.com/lightningdb/lightningdb/tagindex"
)

// Storage is what remote read needs from the database; cmd adapts the
// engine to it. Its methods must be safe for concurrent use.
type Storage interface {
	// Postings returns the IDs of the series matching every matcher that
	// ctx's caller may see (cmd adds the auth scope it carries) and that
	// may have samples in [minT, maxT] (ns, inclusive).
	Postings(ctx context.Context, minT, maxT int64, ms ...*tagindex.Matcher) (*roaring.Bitmap, error)
	// Labels returns the canonical labels of a series (nil if unknown).
	// The bytes must not be modified.
	Labels(id series.ID) []byte
	// Select reads one series over [minT, maxT], reusing reuse when it is
	// an iterator this Storage returned.
	Select(id series.ID, minT, maxT int64, reuse Iterator) Iterator
}

// Iterator walks the samples of one series in time order.
type Iterator interface {
	Next() bool
	// At returns the timestamp (ns) and raw value (see series.AsFloat64).
	At() (int64, uint64)
	// AtString returns the timestamp (ns) and value of a string series;
	// the bytes are valid until the iterator moves or is reused.
	AtString() (int64, []byte)
	// Type is the series' value type (0 when the range held no samples).
	Type() series.ValueType
	// Len is the number of samples in all.
	Len() int
	// Err is the error met while reading, if any.
	Err() error
}
