package engine

import (
	"context"
	"errors"
	"os"
	"sync/atomic"
	"testing"

	"github.com/lightningdb/lightningdb/series"
)

// readWALAll reads the WAL from pos until ReadWAL makes no progress and
// returns the samples per canonical label set and the end position.
func readWALAll(t *testing.T, db *DB, pos WALPosition) (map[string]int, WALPosition) {
	t.Helper()
	got := map[string]int{}
	for {
		next, err := db.ReadWAL(pos, 4<<10, func(s *WALSamples) error {
			if s.Labels == nil {
				t.Fatalf("series %d has no labels", s.ID)
			}
			got[string(s.Labels)] += len(s.T)
			return nil
		})
		if err != nil && !errors.Is(err, ErrWALGap) {
			t.Fatalf("ReadWAL %+v: %v", pos, err)
		}
		if next == pos {
			return got, pos
		}
		pos = next
	}
}

// TestWALRetain: segments the WALRetain hold has not passed survive
// flushes and a reopen (without being replayed twice), and ReadWAL reads
// every sample in them, labels resolved; releasing the hold lets the next
// flush delete them.
func TestWALRetain(t *testing.T) {
	t.Run("plain", func(t *testing.T) { testWALRetain(t, nil) })
	t.Run("sealed", func(t *testing.T) { testWALRetain(t, NewEncFS(OSFS{}, testRing(t, testKey(1)))) })
}

func testWALRetain(t *testing.T, fsys FS) {
	dir := t.TempDir()
	var hold atomic.Uint64
	hold.Store(1)
	opts := Options{FS: fsys, WALSegmentSize: 64 << 10, SyncMode: SyncNone, WALRetain: hold.Load}
	db := mustOpen(t, dir, opts)
	const n = 20000
	for i := range n {
		appendOne(t, db, labels("m", "k", string(rune('a'+i%5))), series.TypeFloat, int64(i+1)*1e6, uint64(i))
	}
	if err := db.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	segs, err := db.WALSegments()
	if err != nil {
		t.Fatal(err)
	}
	if len(segs) < 3 || segs[0].Seq != 1 {
		t.Fatalf("segments after flush with hold 1: %+v", segs)
	}
	count := func(m map[string]int) (c int) {
		for _, v := range m {
			c += v
		}
		return c
	}
	got, end := readWALAll(t, db, WALPosition{Seq: 1})
	if c := count(got); c != n || len(got) != 5 {
		t.Fatalf("read %d samples of %d series, want %d of 5", c, len(got), n)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = mustOpen(t, dir, opts)
	if segs2, _ := db.WALSegments(); segs2[0].Seq != 1 {
		t.Fatalf("reopen deleted held segments: %+v", segs2)
	}
	if c := len(readAll(db, labels("m", "k", "a"))); c != n/5 {
		t.Fatalf("after reopen: %d samples of m{k=a}, want %d", c, n/5)
	}
	appendOne(t, db, labels("m", "k", "z"), series.TypeFloat, 1e6, 1)
	more, _ := readWALAll(t, db, end)
	if count(more) != 1 {
		t.Fatalf("read %v after the old end, want the one new sample", more)
	}
	hold.Store(end.Seq)
	if err := db.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	segs, _ = db.WALSegments()
	if segs[0].Seq < end.Seq {
		t.Fatalf("released segments kept: %+v (hold %d)", segs, end.Seq)
	}
	if _, err := db.ReadWAL(WALPosition{Seq: 1}, 1<<10, func(*WALSamples) error { return nil }); !errors.Is(err, ErrWALGap) {
		t.Fatalf("read of a deleted segment: %v, want ErrWALGap", err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

// FuzzReadWAL: ReadWAL over arbitrary bytes as the newest WAL segment
// never panics and always moves forward or stops.
func FuzzReadWAL(f *testing.F) {
	var enc recordEncoder
	var b series.Batch
	b.AddSeries(labels("m", "k", "v"), series.TypeFloat)
	b.AppendFloat(1e6, 1.5)
	rec := enc.encode(&b, []series.ID{1}, []bool{true})
	seg := append([]byte(walMagic+"\x01\x00"), rec...)
	f.Add(seg)
	f.Add(append(append([]byte{}, seg...), rec[:7]...))
	f.Add([]byte(walMagic))
	dir := f.TempDir()
	db := mustOpen(f, dir, Options{SyncMode: SyncNone})
	f.Cleanup(func() { db.Close() })
	segs, err := db.WALSegments()
	if err != nil {
		f.Fatal(err)
	}
	seq := segs[len(segs)-1].Seq + 1
	name := walName(dir+"/"+walDir, seq)
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(name, data, 0o644); err != nil {
			t.Fatal(err)
		}
		pos := WALPosition{Seq: seq}
		for range 1000 {
			next, err := db.ReadWAL(pos, 64, func(*WALSamples) error { return nil })
			if err != nil || next == pos {
				return
			}
			if next.Seq == pos.Seq && next.Offset <= pos.Offset {
				t.Fatalf("ReadWAL went back: %+v -> %+v", pos, next)
			}
			pos = next
		}
		t.Fatal("ReadWAL did not stop")
	})
}
