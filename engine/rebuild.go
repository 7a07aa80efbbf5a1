package engine

import "errors"

// RebuildReport is what RebuildIndex did.
type RebuildReport struct {
	// Snapshot is whether series.snap was rebuilt from the tag index files
	// (asked for, or found unusable).
	Snapshot bool
	// IndexFiles is the number of tag index files rebuilt and written.
	IndexFiles int
	// Partitions and Series are what the directory holds afterwards.
	Partitions int
	Series     int
	// Failed are the index files that could not be written.
	Failed []error
}

// RebuildIndex rebuilds the tag index file of every partition from its
// segments' series and their labels in the registry, and, when snapshot
// is set, first series.snap from the tag index files and the segments.
// Segments hold series IDs and types, never labels, so the two are
// rebuilt from each other: the tag index from series.snap, or series.snap
// from the tag index; one of them must be intact. The directory must not
// be open (the lock is taken). Like Repair, it writes nothing else
// (offline); the WAL stays to be replayed by the server.
func RebuildIndex(dir string, opts Options, snapshot bool) (*RebuildReport, error) {
	rep := &RebuildReport{Snapshot: snapshot}
	opts.rebuild = rep
	db, err := Open(dir, offline(opts))
	if err != nil {
		return rep, err
	}
	st := db.Stats()
	rep.Partitions, rep.Series = st.Partitions, st.Series
	err = db.Close()
	if len(rep.Failed) > 0 {
		err = errors.Join(append(rep.Failed, err)...)
	}
	return rep, err
}
