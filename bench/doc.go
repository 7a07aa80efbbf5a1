// Package bench measures whole Lightning DB servers against their peers
// (VictoriaMetrics, InfluxDB 1.x, Prometheus) over the real wire protocols.
//
// The model: a Generator yields Points deterministically from a seed (the
// TSBS devops cpu-only shape, an IoT fleet with late batches, a high-churn
// shape). Encoders turn Points into request bodies (InfluxDB line protocol,
// Prometheus remote write 1.0). Drivers send those bodies over a bounded
// number of connections, bounded in count and time, and record per-request
// latency. A Target starts and stops one server process on loopback, pinned
// to a CPU with taskset, with a fresh data directory; the runner reads the
// server's CPU time and peak RSS from /proc and its bytes on disk after a
// flush and a graceful stop. Report renders the results as a table, ratios
// against each peer, and JSON.
//
// Nothing here imports the database's packages: bench speaks the wire
// protocols only, so it measures the peers and Lightning DB the same way.
package bench
