// Package remote serves the Prometheus remote storage protocols: remote
// write 1.0 and 2.0 into a series.Batch handed to an Appender, and remote
// read (SAMPLES, STREAMED_XOR_CHUNKS and our typed answers) over a Storage.
//
// Write model. A request body is read whole (bounded), snappy-decoded into a
// pooled buffer and walked with a hand-written protobuf decoder: label names
// and values are slices of the decoded body fed to a series.Builder, whose
// canonical form goes straight into a pooled series.Batch, so a steady
// stream of requests allocates nothing per sample or per label. The whole
// body is decoded before anything is appended: a body that is not valid
// snappy or protobuf stores nothing and gets 400. Inside a well-formed body,
// a series or sample that breaks a rule (labels empty, duplicate, unsorted,
// a bad symbol reference, a timestamp out of range, a native histogram) is
// left out and reported; everything else is stored in one Append (partial
// write, unlike Prometheus's own receiver, which rolls back the request).
//
// Read model. Each query's matchers are resolved to series IDs by the
// Storage's index, then each series is read over the query range; string
// series are skipped (Prometheus has no string samples). Limits on series
// and bytes per request are checked as the answer is built. Our own
// response type, ReadTypedSeries (typed.go), carries what Prometheus'
// cannot: value types, raw values, strings and nanosecond timestamps, for
// Lightning DB query nodes.
//
// Timestamps: Prometheus sends milliseconds; Lightning DB stores
// nanoseconds (series package), so ms*1e6 on write and ns/1e6 on read.
//
// Handlers are safe for concurrent use.
package remote
