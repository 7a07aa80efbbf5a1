// Package lineproto parses InfluxDB line protocol into series.Batch.
//
// The grammar is the one of github.com/influxdata/line-protocol/v2 (v2.2.1),
// byte for byte: the same escapes, the same tokens accepted and rejected, the
// same recovery after a bad line. FuzzParserMatchesReference checks this
// against the library on arbitrary input. We keep our own scanner because
// it works on a body already in memory, parses values in place and feeds
// series.Builder directly; see BenchmarkParse for the measured difference.
//
// Grammar notes worth knowing (all from the reference library):
//   - Measurement escapes are `\,` and `\ `; tag keys, tag values and field
//     keys also take `\=`. A backslash before any other byte stays literal
//     (so `\\` is two backslashes outside string values).
//   - String field values take `\"`, `\\`, `\n`, `\r` and `\t`, and may
//     span raw newlines. Everything else after a backslash stays literal.
//   - Every token (after unescaping) must be valid UTF-8.
//   - Spaces between sections may repeat; `\r\n` ends a line like `\n`.
//   - A line whose first non-space byte is `#` is a comment.
//   - Integers take `i`, unsigned `u`; floats are strconv.ParseFloat syntax
//     without NaN or infinities; booleans are t, T, true, True, TRUE and the
//     f spellings.
//
// Mapping (see docs/ingest-lineproto.md): every field of a line becomes its
// own series named <measurement><sep><field>, the tags become labels, and
// the database, when given, becomes the label db unless the line has a tag
// of that name. A bad line is rejected whole; the others are kept.
package lineproto
