// Package ingest holds Lightning DB's protocol front ends. Each turns
// request bytes into a series.Batch and hands it to an Appender, which
// returns once the batch is durable; only then is the client answered.
//
// The InfluxDB front end (InfluxHandler) serves /write (1.x), /api/v2/write
// (2.x), /query (CREATE DATABASE and SHOW DATABASES), /ping and /health with
// the status codes and JSON bodies InfluxDB gives, so Telegraf and other
// agents work unchanged. Parsing lives in ingest/lineproto; the mapping of
// lines to series and every status code is described in
// docs/ingest-lineproto.md.
//
// Bad lines never fail a whole request: valid lines are appended and the
// bad ones are named by line number in a 400 answer (a partial write, as in
// InfluxDB 1.x).
package ingest
