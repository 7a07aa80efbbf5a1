package engine

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/lightningdb/lightningdb/series"
)

// writeRecords appends n one-sample batches (one WAL record each) to series
// m, closes the DB and returns the segment path and the record offsets.
func writeRecords(t *testing.T, dir string, n int) (string, []int) {
	t.Helper()
	db := mustOpen(t, dir, Options{noFlushOnClose: true})
	for i := range n {
		appendOne(t, db, labels("m"), series.TypeFloat, int64(i), uint64(i))
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	seg := walName(filepath.Join(dir, walDir), 1)
	data, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	var offs []int
	var buf []byte
	for off := walHeaderSize; off < len(data); {
		_, size, err := readRecord(data[off:], &buf)
		if err != nil {
			t.Fatalf("record at %d: %v", off, err)
		}
		offs = append(offs, off)
		off += size
	}
	if len(offs) != n {
		t.Fatalf("%d records, want %d", len(offs), n)
	}
	return seg, offs
}

func TestWALRepair(t *testing.T) {
	const n = 10
	cases := []struct {
		name    string
		damage  func(t *testing.T, seg string, offs []int)
		keep    int    // records that must survive
		logWant string // in the log line
	}{
		{"torn tail", func(t *testing.T, seg string, offs []int) {
			fi, _ := os.Stat(seg)
			must(t, os.Truncate(seg, fi.Size()-3))
		}, n - 1, "torn record"},
		{"flipped bit", func(t *testing.T, seg string, offs []int) {
			flip(t, seg, offs[6]+recordHeaderSize+1)
		}, 6, "checksum mismatch"},
		{"truncated segment", func(t *testing.T, seg string, offs []int) {
			must(t, os.Truncate(seg, int64(offs[4]+5)))
		}, 4, "torn record header"},
		{"zero-filled tail", func(t *testing.T, seg string, offs []int) {
			f, err := os.OpenFile(seg, os.O_APPEND|os.O_WRONLY, 0)
			must(t, err)
			_, err = f.Write(make([]byte, 4096))
			must(t, err)
			must(t, f.Close())
		}, n, "zero-filled tail"},
		{"bad header", func(t *testing.T, seg string, offs []int) {
			flip(t, seg, 2)
		}, 0, "bad or torn segment header"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			seg, offs := writeRecords(t, dir, n)
			tc.damage(t, seg, offs)
			var lb logBuffer
			db := mustOpen(t, dir, Options{Logger: lb.logger(), noFlushOnClose: true})
			got := readAll(db, labels("m"))
			if len(got) != tc.keep {
				t.Fatalf("%d samples survived, want %d: %v", len(got), tc.keep, got)
			}
			for i, s := range got {
				if want := fmt.Sprintf("%d=float:%d", i, i); s != want {
					t.Fatalf("sample %d = %s want %s", i, s, want)
				}
			}
			log := lb.String()
			if !strings.Contains(log, "WAL damaged") || !strings.Contains(log, tc.logWant) ||
				!strings.Contains(log, "file="+seg) || !strings.Contains(log, "lost_bytes=") {
				t.Fatalf("log lacks a clear repair line: %s", log)
			}
			// The repaired database takes writes and reopens cleanly, with no
			// second repair.
			appendOne(t, db, labels("m"), series.TypeFloat, 100, 100)
			must(t, db.Close())
			lb = logBuffer{}
			db = mustOpen(t, dir, Options{Logger: lb.logger(), noFlushOnClose: true})
			defer db.Close()
			if got := readAll(db, labels("m")); len(got) != tc.keep+1 {
				t.Fatalf("after repair and reopen: %v", got)
			}
			if strings.Contains(lb.String(), "WAL damaged") {
				t.Fatalf("second open repaired again: %s", lb.String())
			}
		})
	}
}

// TestWALDamageInOlderSegment checks that a damaged record in a segment
// that is not the last costs only the rest of that segment.
func TestWALDamageInOlderSegment(t *testing.T) {
	dir := t.TempDir()
	_, offs := writeRecords(t, dir, 5)                    // segment 1
	db := mustOpen(t, dir, Options{noFlushOnClose: true}) // segment 2
	for i := 5; i < 8; i++ {
		appendOne(t, db, labels("m"), series.TypeFloat, int64(i), uint64(i))
	}
	must(t, db.Close())
	flip(t, walName(filepath.Join(dir, walDir), 1), offs[2]+recordHeaderSize)
	db = mustOpen(t, dir, Options{noFlushOnClose: true})
	defer db.Close()
	got := readAll(db, labels("m"))
	want := []string{"0=float:0", "1=float:1", "5=float:5", "6=float:6", "7=float:7"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %v want %v", got, want)
	}
}

func TestInjectedWriteErrorFailsGroup(t *testing.T) {
	efs := newErrorFS(nil, 1)
	dir := t.TempDir()
	db := mustOpen(t, dir, Options{FS: efs, noFlushOnClose: true})
	appendOne(t, db, labels("ok"), series.TypeFloat, 1, 1)
	efs.inject(errorRule{ops: opWrite, pattern: "*" + walSuffix, short: true})
	errs := appendConcurrently(db, 8)
	for i, err := range errs {
		if !errors.Is(err, errInjected) {
			t.Fatalf("appender %d: err %v, want the injected error", i, err)
		}
	}
	if got := readAll(db, labels("w", "i", "0")); got != nil {
		t.Fatalf("failed write visible: %v", got)
	}
	// A failed write is undone; the engine keeps working.
	efs.reset()
	for i, err := range appendConcurrently(db, 8) {
		if err != nil {
			t.Fatalf("appender %d after recovery from write error: %v", i, err)
		}
	}
	must(t, db.Close())
	db = mustOpen(t, dir, Options{noFlushOnClose: true})
	defer db.Close()
	for i := range 8 {
		if got := readAll(db, labels("w", "i", fmt.Sprint(i))); len(got) != 1 {
			t.Fatalf("series %d after reopen: %v", i, got)
		}
	}
}

func TestInjectedFsyncErrorIsSticky(t *testing.T) {
	efs := newErrorFS(nil, 1)
	dir := t.TempDir()
	db := mustOpen(t, dir, Options{FS: efs, noFlushOnClose: true})
	appendOne(t, db, labels("ok"), series.TypeFloat, 1, 1)
	efs.inject(errorRule{ops: opSync, pattern: "*" + walSuffix})
	for i, err := range appendConcurrently(db, 4) {
		if !errors.Is(err, ErrWALFailed) || !strings.Contains(err.Error(), "injected") {
			t.Fatalf("appender %d: err %v, want ErrWALFailed", i, err)
		}
	}
	efs.reset()
	// After a failed fsync the engine refuses writes rather than guess.
	var b series.Batch
	b.AddSeries(labels("ok"), series.TypeFloat)
	b.AppendFloat(2, 2)
	if _, err := db.Append(context.Background(), &b); !errors.Is(err, ErrWALFailed) {
		t.Fatalf("append after fsync failure: %v", err)
	}
	if got := readAll(db, labels("ok")); len(got) != 1 {
		t.Fatalf("acknowledged data changed: %v", got)
	}
	db.Close()
	db = mustOpen(t, dir, Options{noFlushOnClose: true})
	defer db.Close()
	if got := readAll(db, labels("ok")); len(got) != 1 {
		t.Fatalf("after reopen: %v", got)
	}
	appendOne(t, db, labels("ok"), series.TypeFloat, 3, 3)
}

// TestInjectedRotateErrorIsTransient: when the next WAL segment cannot be
// created (a full disk), the writes that need it fail, nothing written
// before is touched, and writes resume once the cause is gone.
func TestInjectedRotateErrorIsTransient(t *testing.T) {
	checkRotateFailureIsTransient(t, opCreate)
}

// TestRotateRetryAfterFailedRemove: creating the next WAL segment fails
// (its header write) and removing the half-made file fails too; once the
// disk works again, writes go on (the retry truncates the file instead of
// being refused by O_EXCL until a restart), and everything acknowledged
// is there after a reopen.
func TestRotateRetryAfterFailedRemove(t *testing.T) {
	checkRotateFailureIsTransient(t, opWrite|opRemove)
}

// checkRotateFailureIsTransient fills the first WAL segment, turns the
// fault on for WAL files (errors in the operations ops): concurrent appends that need
// the next segment fail with the injected error, not ErrWALFailed; with
// the fault off they succeed, and after a reopen every acknowledged
// sample is there.
func checkRotateFailureIsTransient(t *testing.T, ops opKind) {
	t.Helper()
	efs := newErrorFS(nil, 1)
	dir := t.TempDir()
	db := mustOpen(t, dir, Options{FS: efs, noFlushOnClose: true, WALSegmentSize: 64 << 10})
	var b series.Batch // fills the first segment: incompressible values
	b.AddSeries(labels("ok"), series.TypeFloat)
	rng := rand.New(rand.NewPCG(1, 1))
	for i := range 10_000 {
		b.AppendFloat(int64(i), rng.Float64())
	}
	if _, err := db.Append(context.Background(), &b); err != nil {
		t.Fatal(err)
	}
	efs.inject(errorRule{ops: ops, pattern: "*" + walSuffix})
	for i, err := range appendConcurrently(db, 4) {
		if !errors.Is(err, errInjected) || errors.Is(err, ErrWALFailed) {
			t.Fatalf("appender %d: err %v, want the injected error, not ErrWALFailed", i, err)
		}
	}
	efs.reset()
	for i, err := range appendConcurrently(db, 4) {
		if err != nil {
			t.Fatalf("appender %d once the disk works again: %v", i, err)
		}
	}
	must(t, db.Close())
	db = mustOpen(t, dir, Options{noFlushOnClose: true})
	defer db.Close()
	if got := readAll(db, labels("ok")); len(got) != 10_000 {
		t.Fatalf("first batch after reopen: %d samples, want 10,000", len(got))
	}
	for i := range 4 {
		if got := readAll(db, labels("w", "i", fmt.Sprint(i))); len(got) != 1 {
			t.Fatalf("series %d after reopen: %v", i, got)
		}
	}
}

func appendConcurrently(db *DB, n int) []error {
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var b series.Batch
			b.AddSeries(labels("w", "i", fmt.Sprint(i)), series.TypeFloat)
			b.AppendFloat(1, float64(i))
			_, errs[i] = db.Append(context.Background(), &b)
		}()
	}
	wg.Wait()
	return errs
}

func flip(t *testing.T, name string, off int) {
	t.Helper()
	data, err := os.ReadFile(name)
	must(t, err)
	data[off] ^= 0x01
	must(t, os.WriteFile(name, data, 0o644))
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func FuzzWALRecord(f *testing.F) {
	var enc recordEncoder
	var b series.Batch
	b.AddSeries(labels("a", "x", "y"), series.TypeFloat)
	b.AppendFloat(1, 1.5)
	b.AppendFloat(2, 2.5)
	b.AddSeries(labels("s"), series.TypeString)
	b.AppendString(3, []byte("hello"))
	b.AddSeries(labels("i"), series.TypeInt)
	b.AppendInt(3, -5)
	f.Add(enc.encode(&b, []series.ID{1, 2, 3}, []bool{true, true, false}))
	big := series.Batch{}
	for i := range 200 {
		big.AddSeries(labels("m", "i", fmt.Sprint(i)), series.TypeFloat)
		big.AppendFloat(int64(i), 1)
	}
	ids := make([]series.ID, 200)
	defs := make([]bool, 200)
	for i := range ids {
		ids[i] = series.ID(i + 1)
		defs[i] = true
	}
	f.Add(append([]byte(nil), enc.encode(&big, ids, defs)...)) // compressed
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		var buf []byte
		payload, size, err := readRecord(data, &buf)
		if err != nil {
			return
		}
		if size > len(data) {
			t.Fatalf("size %d beyond input %d", size, len(data))
		}
		var d recordDecoder
		_ = d.decode(payload, nopVisitor{})
		// Decoding the raw payload too, checksum aside, must never panic.
		_ = d.decode(data, nopVisitor{})
	})
}

type nopVisitor struct{}

func (nopVisitor) def(series.ID, series.ValueType, []byte) error { return nil }
func (nopVisitor) samples(series.ID, series.ValueType, []int64, []uint64, []byte) error {
	return nil
}
