// Package backup copies a snapshot of a Lightning DB data directory (or a
// stopped data directory) to a backup directory and back, and checks
// backups (docs/operations.md).
//
// A backup directory holds content-addressed objects and one manifest per
// backup:
//
//	DEST/objects/ab/abcdef....zst   a file's bytes, zstd-compressed, named
//	                                by the SHA-256 of the uncompressed bytes
//	DEST/backups/NAME.json          the backup's files: path, size, SHA-256
//	DEST/LOCK                       held by Create and Prune
//
// A second backup into the same directory writes only the objects it
// lacks (an incremental backup: segments that did not change since are
// not copied again). The manifest is written last, atomically: an
// interrupted backup leaves objects no manifest names, never a manifest
// naming missing objects. Restore writes a backup's files into an empty
// data directory, checking every checksum; Verify checks every object of
// every backup.
package backup
