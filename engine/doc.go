// Package engine is Lightning DB's storage engine: a group-committed
// write-ahead log, an in-memory table per series, crash recovery, and the tag
// index of every time partition.
//
// The API the rest of the system uses is small:
//
//	db, err := engine.Open(dir, engine.Options{})   // recovers the WAL
//	res, err := db.Append(ctx, batch)               // returns once durable and readable
//	it := db.Select(id, minT, maxT, it)             // one series, time order, reused iterator
//	ids, err := db.Index().Postings(minT, maxT, m...)  // label matchers -> series IDs
//	err = db.Flush(ctx); err = db.Close()
//
// Guarantees:
//   - Append returns nil only after every accepted sample is in a WAL group
//     that was fsynced (SyncFsync, the default) and inserted into the
//     memtable. Series it rejects (invalid labels, type conflict, series
//     limit) are listed in the result; the rest of the batch is stored.
//   - Duplicates (same series and timestamp) resolve to the last write, in
//     WAL order, before and after a crash. Out-of-order samples are accepted.
//   - Recovery cuts a torn or corrupt WAL tail at the last good record and
//     logs what was lost; it never replays garbage and never loops.
//   - A failed WAL write fails its whole group; a failed fsync makes every
//     later Append fail with ErrWALFailed until the DB is reopened.
//   - When the memtable is over its budget, Append fails fast with
//     ErrOverloaded.
//
// All methods of DB are safe for concurrent use. An Iterator is not. The WAL
// and snapshot formats are drawn in walrecord.go, wal.go and
// docs/ARCHITECTURE.md.
package engine
