// Package downsample builds rollups: per series and per interval of a tier
// (5m, 1h, ...), the aggregates that max/min/sum/count/avg/last_over_time,
// rate, increase and delta need to answer a query whose windows are made
// of whole intervals exactly as the raw samples would (docs/downsampling.md).
//
// Rules say which series get which tiers, from what age (after) and for how
// long (retention). Each tier is stored in an engine of its own (cmd wires
// it at <data-dir>/rollup/<interval>): each built interval of a series is
// one Record, stored as one sample in each of NumFields field series (the
// series' labels plus __rollup__="meta", "max", ...), so that a query
// decodes only the fields its function needs. A Builder reads the
// raw engine through Source, writes the tier through Appender, and records
// how far each rule's tier is built in a state file written atomically,
// through the engine's FS seam (BuilderOptions.FS), after the tier's write is acknowledged (fsynced): a crash in between
// rebuilds the same intervals, and the engine keeps one sample per series
// and timestamp (last write wins), so a rebuild never duplicates.
package downsample
