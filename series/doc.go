// Package series is Lightning DB's data model: label sets and their
// canonical byte form, typed sample values, Batch (many series with many
// samples, built without an allocation per sample) and the Registry that maps
// label sets to dense series IDs.
//
// Invariants:
//   - A label set is sorted by name, names are unique, names and values are
//     non-empty valid UTF-8 within MaxLabelNameLen/MaxLabelValueLen, and it
//     holds __name__. Its canonical form (Labels.AppendCanonical) is the key
//     of the registry; equal sets have equal forms.
//   - Timestamps are int64 nanoseconds since the Unix epoch.
//   - A series keeps the ValueType it was created with for its whole life.
//   - Series IDs are dense uint32 values starting at 1, never reused.
//
// The package imports nothing of Lightning DB's own.
package series
