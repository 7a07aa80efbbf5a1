// Package engine is Lightning DB's storage engine: a group-committed
// write-ahead log, an in-memory table per series, an LSM of immutable,
// compressed, time-partitioned segments (flush, compaction, retention,
// mmap reads with access-pattern prefetch), crash recovery, and the tag
// index of every time partition.
//
// The API the rest of the system uses is small:
//
//	db, err := engine.Open(dir, engine.Options{})   // recovers the WAL
//	res, err := db.Append(ctx, batch)               // returns once durable and readable
//	it := db.Select(id, minT, maxT, it)             // one series, time order, reused iterator
//	ids, err := db.Index().Postings(minT, maxT, m...)  // label matchers -> series IDs
//	q, err := db.Querier(minT, maxT)                // many series, one consistent view
//	set := q.Select(ids, engine.SelectHints{})      // series in ID order: Next/At/Err
//	err = q.Close()
//	err = db.Flush(ctx); err = db.Compact(ctx); err = db.Close()
//
// Guarantees:
//   - Append returns nil only after every accepted sample is in a WAL group
//     that was fsynced (SyncFsync, the default) and inserted into the
//     memtable. Series it rejects (invalid labels, type conflict, series
//     limit) are listed in the result; the rest of the batch is stored.
//   - Duplicates (same series and timestamp) resolve to the last write, in
//     WAL order, before and after a crash. Out-of-order samples are accepted.
//   - Recovery cuts only a torn tail of the last WAL segment, at the last
//     good record, and logs what was lost; other damage stops Open with a
//     RepairNeededError naming the file, the offset and the repair command
//     (Repair, lightning-admin repair). A damaged segment is quarantined,
//     a damaged snapshot or tag index file rebuilt (repair.go). Recovery
//     never replays garbage and never loops.
//   - A failed WAL write fails its whole group; a failed fsync makes every
//     later Append fail with ErrWALFailed until the DB is reopened.
//   - When the memtable is over its budget, Append fails fast with an
//     error matching series.ErrOverloaded; so does a write that found the
//     disk full (ErrDiskFull), whose WAL write is undone.
//   - A crash during a flush or compaction loses nothing acknowledged and
//     never exposes a half-written segment: the MANIFEST rename is the
//     commit point, and files it does not list are removed on open.
//   - Reads merge segments and memtables, the newest source winning for
//     equal timestamps. A damaged block is skipped and reported by
//     Iterator.Err as a *CorruptionError with file and offset.
//
// All methods of DB are safe for concurrent use. An Iterator is not. The WAL
// and snapshot formats are drawn in walrecord.go, wal.go and
// docs/ARCHITECTURE.md; segments and manifest in segment.go, manifest.go
// and docs/segment-format.md; the LSM design in docs/lsm.md.
package engine
