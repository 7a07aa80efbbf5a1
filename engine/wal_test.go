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
func writeRecords(t testing.TB, dir string, n int) (string, []int) {
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

// TestWALRepair: a torn tail of the last WAL segment is cut at open, with
// a log line naming the file, the offset and the bytes lost. Damage with
// valid records after it is no torn tail: the open stops with the file,
// the offset and the repair command, changes nothing, and only Repair cuts.
func TestWALRepair(t *testing.T) {
	const n = 10
	cases := []struct {
		name    string
		damage  func(t *testing.T, seg string, offs []int) int // returns the damage offset
		keep    int                                            // records that must survive
		refuse  bool                                           // open refuses; Repair cuts
		logWant string                                         // in the log line or the error
	}{
		{"torn tail", func(t *testing.T, seg string, offs []int) int {
			fi, _ := os.Stat(seg)
			must(t, os.Truncate(seg, fi.Size()-3))
			return offs[n-1]
		}, n - 1, false, "torn record"},
		{"flipped bit", func(t *testing.T, seg string, offs []int) int {
			flip(t, seg, offs[6]+recordHeaderSize+1)
			return offs[6]
		}, 6, true, "checksum mismatch"},
		{"flipped bit in the last record", func(t *testing.T, seg string, offs []int) int {
			flip(t, seg, offs[n-1]+recordHeaderSize+1)
			return offs[n-1]
		}, n - 1, false, "checksum mismatch"},
		{"truncated segment", func(t *testing.T, seg string, offs []int) int {
			must(t, os.Truncate(seg, int64(offs[4]+5)))
			return offs[4]
		}, 4, false, "torn record header"},
		{"zero-filled tail", func(t *testing.T, seg string, offs []int) int {
			f, err := os.OpenFile(seg, os.O_APPEND|os.O_WRONLY, 0)
			must(t, err)
			fi, err := f.Stat()
			must(t, err)
			_, err = f.Write(make([]byte, 4096))
			must(t, err)
			must(t, f.Close())
			return int(fi.Size())
		}, n, false, "zero-filled tail"},
		{"bad header", func(t *testing.T, seg string, offs []int) int {
			flip(t, seg, 2)
			return 0
		}, 0, true, "bad or torn segment header"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			seg, offs := writeRecords(t, dir, n)
			off := tc.damage(t, seg, offs)
			var lb logBuffer
			opts := Options{Logger: lb.logger(), noFlushOnClose: true}
			if !tc.refuse {
				rep, err := Verify(dir)
				must(t, err)
				if len(rep.Damage) != 0 {
					t.Fatalf("verify reports a torn tail, which the open cuts: %v", rep.Damage)
				}
			}
			if tc.refuse {
				requireRepairNeeded(t, dir, seg, off, tc.logWant)
				rep, err := Repair(dir, opts, nil)
				must(t, err)
				if rep.Cut == nil || rep.Cut.File != seg || rep.Cut.Offset != int64(off) {
					t.Fatalf("repair report %+v, want a cut of %s at %d", rep, seg, off)
				}
			}
			db := mustOpen(t, dir, opts)
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
			if !strings.Contains(log, "WAL damaged") && !strings.Contains(log, "WAL repair") ||
				!strings.Contains(log, tc.logWant) || !strings.Contains(log, "file="+seg) ||
				!strings.Contains(log, fmt.Sprintf("offset=%d", off)) {
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

// requireRepairNeeded checks that Open of dir fails with a
// RepairNeededError naming file, off, cause and the repair command, and
// changes no WAL byte.
func requireRepairNeeded(t *testing.T, dir, file string, off int, cause string) *RepairNeededError {
	t.Helper()
	before := walBytes(t, dir)
	db, err := Open(dir, Options{noFlushOnClose: true})
	if err == nil {
		got := readAll(db, labels("m"))
		db.Close()
		t.Fatalf("open of a damaged WAL succeeded; m reads %v", got)
	}
	var rn *RepairNeededError
	var ce *CorruptionError
	if !errors.As(err, &rn) || !errors.Is(err, ErrNeedsRepair) || !errors.As(err, &ce) {
		t.Fatalf("open: %v, want a RepairNeededError", err)
	}
	msg := err.Error()
	wantCmd := "lightning-admin repair --data-dir " + dir
	if ce.File != file || ce.Offset != int64(off) || !strings.Contains(msg, file) ||
		!strings.Contains(msg, fmt.Sprintf("offset %d", off)) || !strings.HasSuffix(msg, wantCmd) ||
		!strings.Contains(msg, cause) || !strings.Contains(msg, "bytes") {
		t.Fatalf("error lacks file %s, offset %d, cause %q or the command %q: %v", file, off, cause, wantCmd, err)
	}
	if after := walBytes(t, dir); after != before {
		t.Fatalf("the refused open changed the WAL: %d bytes, was %d", after, before)
	}
	rep, err := Verify(dir)
	must(t, err)
	if len(rep.Damage) != 1 || rep.Damage[0].File != file || rep.Damage[0].Offset != int64(off) ||
		!strings.Contains(rep.Damage[0].Error(), "lightning-admin repair") {
		t.Fatalf("verify: %v, want the damage at %s offset %d", rep.Damage, file, off)
	}
	return rn
}

// TestWALDamageInOlderSegment: damage in a WAL segment that is not the
// last stops the open; Repair cuts there and drops the later segments
// (whose records may use series defined in the lost range), so the
// reopened database holds everything before the damage and nothing after.
func TestWALDamageInOlderSegment(t *testing.T) {
	dir := t.TempDir()
	seg, offs := writeRecords(t, dir, 5)                  // segment 1
	db := mustOpen(t, dir, Options{noFlushOnClose: true}) // segment 2
	for i := 5; i < 8; i++ {
		appendOne(t, db, labels("m"), series.TypeFloat, int64(i), uint64(i))
	}
	must(t, db.Close())
	flip(t, seg, offs[2]+recordHeaderSize)
	rn := requireRepairNeeded(t, dir, seg, offs[2], "checksum mismatch")
	if !strings.Contains(rn.Lost, "1 later WAL segments") {
		t.Fatalf("error does not say the later segment is lost: %v", rn)
	}
	rep, err := Repair(dir, Options{}, nil)
	must(t, err)
	if rep.Cut == nil || rep.Cut.Offset != int64(offs[2]) || len(rep.Removed) != 1 ||
		rep.Removed[0] != walName(filepath.Join(dir, walDir), 2) {
		t.Fatalf("repair report %+v", rep)
	}
	if rep, err := Verify(dir); err != nil || len(rep.Damage) != 0 {
		t.Fatalf("verify after repair: %v %v", rep, err)
	}
	db = mustOpen(t, dir, Options{noFlushOnClose: true})
	defer db.Close()
	got := readAll(db, labels("m"))
	want := []string{"0=float:0", "1=float:1"}
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
