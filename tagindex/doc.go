// Package tagindex is Lightning DB's inverted index: it maps label pairs to
// the series that carry them and resolves PromQL label matchers to sets of
// series IDs.
//
// # Model
//
// An Index holds one Partition per time partition of the engine, keyed by
// the partition's start (int64 ns). A Partition covers [MinT, MaxT] and
// indexes the series that had at least one sample in it. For every label
// name it keeps the set of values and, for each value, a Roaring bitmap of
// series IDs; for every name also the bitmap of series that have the label
// at all, and for the partition the bitmap of all its series. IDs are
// series.ID: dense uint32 values, which is what Roaring bitmaps store best.
//
// The engine calls Index.Add(partitionStart, id, canonical) whenever a
// series gets a sample in a partition; after the first call for a given
// series and partition, Add is a lock-free bit test. Queries call
// Index.Postings(minT, maxT, matchers...), which resolves the matchers in
// each partition overlapping [minT, maxT] and unions the results, so
// series that stopped reporting before minT are never touched.
//
// # Matchers
//
// Matchers follow PromQL: a missing label has the value "", regular
// expressions are fully anchored and '.' matches newlines too. In each
// partition, matchers that reject the empty value are resolved to unions of
// value bitmaps and intersected smallest first; matchers that accept it
// (!=, !~, name="", regexes that match "") are applied last, by subtracting
// the series whose value they reject. Regular expressions compile to fast
// paths where they can: finite literal sets (a|b|c) become map look-ups, a
// literal prefix narrows the sorted value range, .* needs no test and .+ is
// "has the label", .*lit.* and .*lit use strings.Contains and HasSuffix.
//
// # Invariants
//
//   - In a partition, all is the union of every name's any bitmap, and each
//     any bitmap is the union of that name's value bitmaps.
//   - Values are never empty: a label with an empty value is not indexed.
//   - An ID is in the partition's seen set only after its labels are indexed.
//   - Bitmaps, slices and strings returned to callers are theirs or are
//     immutable; none alias a memory-mapped file, so they outlive Close.
//
// # Persistence
//
// WritePartition writes one partition to a file (format in
// docs/tagindex-format.md and format.go); OpenPartition maps it back without
// copying the bitmaps' containers. A partition loaded from a file accepts
// further Adds (late samples): modified bitmaps copy their containers first.
// After a crash the engine rebuilds lost partitions by calling Add for each
// series it recovers.
package tagindex
