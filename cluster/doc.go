// Package cluster makes Lightning DB nodes one cluster on NATS JetStream,
// without a cluster protocol of its own: replication, ordering and
// consensus are JetStream's (docs/cluster.md).
//
// Model:
//
//   - The stream "<Stream>" takes subjects "<Stream>.p.<NN>", one per
//     partition; a series' partition is the hash of its canonical labels
//     modulo the partition count (PartitionOf), fixed for the stream's
//     life.
//   - An ingest node's Publisher (an ingest.Appender) publishes each
//     batch as one message per partition and returns only after every
//     PubAck: an acknowledged write is stored on a quorum of NATS servers.
//   - Members heartbeat an entry in the "<Stream>_members" bucket, whose
//     MaxAge (MemberTTL) removes the entry of a node that stopped. The
//     partition -> owner table lives in "<Stream>_assign", computed by
//     rendezvous hashing (Assign) over the live storage members and
//     written with a compare-and-set on its revision by whichever node
//     sees the members change.
//   - A storage node runs a durable pull consumer per owned partition,
//     stores each fetched group with one engine Append (WAL commit), then
//     acks. A gained partition is replayed from the start of the stream;
//     a restart resumes from the ack floor. The engine keeps one sample
//     per (series, timestamp), so a redelivery stores nothing twice.
//   - Node.QueryPeers tells the query fan-out whom to ask, and which
//     partitions an answer would miss.
//
// The message format is drawn in codec.go.
package cluster
