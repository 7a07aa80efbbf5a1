package engine

import (
	"cmp"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/RoaringBitmap/roaring/v2"
)

// InspectReport describes a database directory (Inspect).
type InspectReport struct {
	Partitions []PartitionInfo `json:"partitions"`
	// WALSegments and WALBytes are the WAL from the manifest's checkpoint
	// on: what recovery would replay into the memtable.
	WALSegments int   `json:"wal_segments"`
	WALBytes    int64 `json:"wal_bytes"`
	// Series is the number of series the segments hold.
	Series uint64 `json:"series"`
}

// PartitionInfo describes one time partition and its live segments.
type PartitionInfo struct {
	Start    int64         `json:"start"` // ns
	Series   uint64        `json:"series"`
	Samples  uint64        `json:"samples"`
	Bytes    int64         `json:"bytes"`
	Segments []SegmentInfo `json:"segments"`
}

// SegmentInfo describes one live segment.
type SegmentInfo struct {
	File    string `json:"file"`
	Level   int    `json:"level"`
	Seq     uint64 `json:"seq"`
	MinT    int64  `json:"min_t"`
	MaxT    int64  `json:"max_t"`
	Series  int    `json:"series"`
	Samples uint64 `json:"samples"`
	Bytes   int64  `json:"bytes"`
}

// Inspect reports the partitions, live segments (series, samples and size
// of each, from their indexes) and the WAL of a database directory
// without opening it for writing; like Verify, it may run against a
// directory an open DB is using (a snapshot is better: the segment set
// may change meanwhile). Samples of a series in two segments of a
// partition not yet compacted are counted in each.
func Inspect(dir string) (*InspectReport, error) { return InspectOn(OSFS{}, dir) }

// InspectOn is Inspect through fsys (EncFS for an encrypted data
// directory).
func InspectOn(fsys FS, dir string) (*InspectReport, error) {
	if _, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("inspect: %w", err)
	}
	m, err := readManifest(fsys, dir)
	if err != nil {
		return nil, err
	}
	rep := &InspectReport{}
	all := roaring.New()
	index := map[int64]int{}    // partition start -> position in rep.Partitions
	var parts []*roaring.Bitmap // the series of each partition
	for _, meta := range m.segs {
		si, bm, err := inspectSegment(fsys, dir, meta)
		if err != nil {
			return nil, err
		}
		i, ok := index[meta.partition]
		if !ok {
			i = len(rep.Partitions)
			index[meta.partition] = i
			rep.Partitions = append(rep.Partitions, PartitionInfo{Start: meta.partition})
			parts = append(parts, roaring.New())
		}
		p := &rep.Partitions[i]
		p.Segments = append(p.Segments, si)
		p.Samples += si.Samples
		p.Bytes += si.Bytes
		parts[i].Or(bm)
		all.Or(bm)
	}
	for i := range rep.Partitions {
		rep.Partitions[i].Series = parts[i].GetCardinality()
	}
	slices.SortFunc(rep.Partitions, func(a, b PartitionInfo) int { return cmp.Compare(a.Start, b.Start) })
	rep.Series = all.GetCardinality()
	return rep, inspectWAL(fsys, dir, max(m.walCheckpoint, 1), rep)
}

// inspectSegment reads a segment's index.
func inspectSegment(fsys FS, dir string, meta segMeta) (SegmentInfo, *roaring.Bitmap, error) {
	path := segName(dir, meta.fileNum)
	data, unmap, err := fsys.MapFile(path)
	if err != nil {
		return SegmentInfo{}, nil, fmt.Errorf("inspect: %w", err)
	}
	defer unmap()
	x, err := decodeSegIndex(path, data)
	if err != nil {
		return SegmentInfo{}, nil, err
	}
	bm := roaring.New()
	for _, id := range x.ids {
		bm.Add(uint32(id))
	}
	return SegmentInfo{File: filepath.Base(path), Level: meta.level, Seq: meta.seq, MinT: meta.minT, MaxT: meta.maxT,
		Series: len(x.ids), Samples: x.nSamples, Bytes: int64(len(data))}, bm, nil
}

// inspectWAL counts the WAL segments from checkpoint on.
func inspectWAL(fsys FS, dir string, checkpoint uint64, rep *InspectReport) error {
	wdir := filepath.Join(dir, walDir)
	seqs, err := listWAL(fsys, wdir)
	if err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("inspect: list WAL: %w", err)
	}
	for _, seq := range seqs {
		if seq < checkpoint {
			continue
		}
		fi, err := os.Stat(walName(wdir, seq))
		if err != nil {
			return fmt.Errorf("inspect: %w", err)
		}
		rep.WALSegments++
		rep.WALBytes += fi.Size()
	}
	return nil
}
