package engine

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lightningdb/lightningdb/internal/encrypt"
	"github.com/lightningdb/lightningdb/series"
)

func testKey(b byte) []byte { return bytes.Repeat([]byte{b}, encrypt.KeySize) }

func testRing(t testing.TB, keys ...[]byte) *encrypt.Keyring {
	t.Helper()
	k, err := encrypt.NewKeyring("test-keys", keys...)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func encOpts(k *encrypt.Keyring) Options {
	return Options{FS: NewEncFS(OSFS{}, k), DisableCompaction: true}
}

const secretValue = 98765.4321123

// writeSecret appends n samples of a series with a distinctive label value.
func writeSecret(t *testing.T, db *DB, tag string, from, n int) series.Labels {
	ls := labels("secret_metric", "host", "zebra-"+tag+"-unguessable")
	for i := from; i < from+n; i++ {
		appendOne(t, db, ls, series.TypeFloat, int64(i)*1e9, math.Float64bits(secretValue+float64(i)))
	}
	return ls
}

// scanDir fails when any file under dir contains one of needles.
func scanDir(t *testing.T, dir string, needles ...[]byte) int {
	t.Helper()
	files := 0
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		files++
		for _, n := range needles {
			if bytes.Contains(b, n) {
				t.Errorf("%s holds %q in clear", p, n)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func TestEncFSNothingInClear(t *testing.T) {
	dir := t.TempDir()
	k := testRing(t, testKey(1))
	db := mustOpen(t, dir, encOpts(k))
	ls := writeSecret(t, db, "a", 0, 300)
	ctx := context.Background()
	if err := db.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	writeSecret(t, db, "a", 300, 300)
	if err := db.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if err := db.Compact(ctx); err != nil {
		t.Fatal(err)
	}
	writeSecret(t, db, "a", 600, 10) // left in the WAL
	dbCloseNoFlush(t, db)
	float := binary.LittleEndian.AppendUint64(nil, math.Float64bits(secretValue))
	if n := scanDir(t, dir, []byte("zebra-a-unguessable"), []byte("secret_metric"), float); n < 5 {
		t.Fatalf("only %d files", n)
	}
	db = mustOpen(t, dir, encOpts(k))
	defer db.Close()
	if got := readAll(db, ls); len(got) != 610 {
		t.Fatalf("read back %d samples, want 610", len(got))
	}
}

// dbCloseNoFlush closes db leaving its memtable in the WAL.
func dbCloseNoFlush(t *testing.T, db *DB) {
	t.Helper()
	db.opts.noFlushOnClose = true
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestEncFSRotation(t *testing.T) {
	dir := t.TempDir()
	a, b := testKey(1), testKey(2)
	db := mustOpen(t, dir, encOpts(testRing(t, a)))
	lsA := writeSecret(t, db, "a", 0, 100)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	ab := testRing(t, a, b)
	db = mustOpen(t, dir, encOpts(ab))
	if got := readAll(db, lsA); len(got) != 100 {
		t.Fatalf("with keyring A+B: %d samples of A's, want 100", len(got))
	}
	lsB := writeSecret(t, db, "b", 0, 100)
	dbCloseNoFlush(t, db)
	// New files carry B's ID, and A's segment stays sealed with A.
	ids := map[encrypt.KeyID]int{}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if h, _ := os.ReadFile(p); len(h) >= encrypt.HeaderSize && encrypt.IsSealed(h) {
				ids[encrypt.KeyID(binary.LittleEndian.Uint32(h[8:12]))]++
			}
		}
		return nil
	})
	if ids[encrypt.IDOf(a)] == 0 || ids[encrypt.IDOf(b)] == 0 {
		t.Fatalf("key IDs of the files: %v", ids)
	}
	db = mustOpen(t, dir, encOpts(ab))
	if len(readAll(db, lsA)) != 100 || len(readAll(db, lsB)) != 100 {
		t.Fatalf("after rotation: %d and %d samples", len(readAll(db, lsA)), len(readAll(db, lsB)))
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	// Without A: a clear error naming a file and A's ID, not garbage.
	_, err := Open(dir, encOpts(testRing(t, b)))
	var ke *encrypt.KeyError
	if !errors.As(err, &ke) || ke.KeyID != encrypt.IDOf(a) || !strings.Contains(err.Error(), encrypt.IDOf(a).String()) {
		t.Fatalf("open without key A: %v", err)
	}
	t.Logf("error without key A: %v", err)
	// Compaction rewrites A's segments with B, after which A can go.
	opts := encOpts(ab)
	opts.DisableCompaction = false
	db = mustOpen(t, dir, opts)
	if err := db.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := db.Compact(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, err = Open(dir, encOpts(testRing(t, b)))
	if err != nil {
		t.Fatalf("open with B only after compaction: %v", err)
	}
	defer db.Close()
	if len(readAll(db, lsA)) != 100 || len(readAll(db, lsB)) != 100 {
		t.Fatalf("with B only: %d and %d samples", len(readAll(db, lsA)), len(readAll(db, lsB)))
	}
}

func TestEncFSWrongKeyAndNoKey(t *testing.T) {
	dir := t.TempDir()
	db := mustOpen(t, dir, encOpts(testRing(t, testKey(1))))
	writeSecret(t, db, "a", 0, 10)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	_, err := Open(dir, encOpts(testRing(t, testKey(9))))
	if !errors.Is(err, encrypt.ErrUnknownKey) || !strings.Contains(err.Error(), dir) {
		t.Fatalf("open with a wrong key: %v", err)
	}
	_, err = Open(dir, Options{})
	if !errors.Is(err, encrypt.ErrEncrypted) || !strings.Contains(err.Error(), "MANIFEST") {
		t.Fatalf("open without a key: %v", err)
	}
	t.Logf("wrong key: %v\nno key: %v", err, err)
}

// TestEncFSOverPlain: turning encryption on keeps plain files readable.
func TestEncFSOverPlain(t *testing.T) {
	dir := t.TempDir()
	db := mustOpen(t, dir, Options{DisableCompaction: true})
	ls := writeSecret(t, db, "p", 0, 50)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	k := testRing(t, testKey(3))
	db = mustOpen(t, dir, encOpts(k))
	writeSecret(t, db, "p", 50, 50)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = mustOpen(t, dir, encOpts(k))
	defer db.Close()
	if got := readAll(db, ls); len(got) != 100 {
		t.Fatalf("%d samples, want 100", len(got))
	}
}

// lastWAL returns the path of the newest WAL segment of dir.
func lastWAL(t *testing.T, dir string) string {
	names, err := filepath.Glob(filepath.Join(dir, walDir, "*.wal"))
	if err != nil || len(names) == 0 {
		t.Fatalf("no WAL segment: %v", err)
	}
	return names[len(names)-1]
}

// TestEncFSTornWALFrame: a sealed WAL cut inside its last frame recovers
// like a torn plain record (the group is dropped, the rest kept); a
// damaged frame followed by good ones stops the open (strict recovery).
func TestEncFSTornWALFrame(t *testing.T) {
	k := testRing(t, testKey(4))
	for _, tc := range []struct {
		name   string
		damage func(b []byte) []byte
		want   int // samples after reopen; -1: the open fails
	}{
		{"cut in last frame", func(b []byte) []byte { return b[:len(b)-7] }, 19},
		{"cut in last frame's head", func(b []byte) []byte { return b[:len(b)-lastFrameLen(b)+5] }, 19},
		{"flip in last frame", func(b []byte) []byte { b[len(b)-3] ^= 1; return b }, 19},
		{"flip in first frame", func(b []byte) []byte { b[encrypt.HeaderSize+40] ^= 1; return b }, -1},
		{"flip in a middle frame", func(b []byte) []byte { b[framePos(b, 5)+45] ^= 1; return b }, -1},
		{"flip in a middle frame's length", func(b []byte) []byte { b[framePos(b, 5)+1] ^= 1; return b }, -1},
		{"flip in a middle frame's offset", func(b []byte) []byte { b[framePos(b, 5)+4] ^= 1; return b }, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			db := mustOpen(t, dir, encOpts(k))
			ls := writeSecret(t, db, "t", 0, 20) // one group each
			dbCloseNoFlush(t, db)
			name := lastWAL(t, dir)
			b, err := os.ReadFile(name)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(name, tc.damage(b), 0o644); err != nil {
				t.Fatal(err)
			}
			db, err = Open(dir, encOpts(k))
			if tc.want < 0 {
				var ce *CorruptionError
				if !errors.As(err, &ce) {
					t.Fatalf("open after damage in the middle: %v", err)
				}
				t.Logf("open: %v", err)
				if _, err := Repair(dir, encOpts(k), nil); err != nil {
					t.Fatalf("repair: %v", err)
				}
				db, err = Open(dir, encOpts(k))
				if err != nil {
					t.Fatalf("open after repair: %v", err)
				}
				defer db.Close()
				if got := readAll(db, ls); len(got) >= 20 {
					t.Fatalf("%d samples after repair, want fewer than 20", len(got))
				}
				return
			}
			if err != nil {
				t.Fatalf("open: %v", err)
			}
			defer db.Close()
			if got := readAll(db, ls); len(got) != tc.want {
				t.Fatalf("%d samples after the torn tail, want %d", len(got), tc.want)
			}
		})
	}
}

// lastFrameLen returns the size of the last frame of the sealed file b.
func lastFrameLen(b []byte) int { return len(b) - framePos(b, -1) }

// framePos returns the position of frame i of the sealed file b (-1: the last).
func framePos(b []byte, i int) int {
	k, err := encrypt.NewKeyring("t", testKey(4))
	if err != nil {
		panic(err)
	}
	c, err := k.OpenHeader("wal", b)
	if err != nil {
		panic(err)
	}
	frames, _, _ := c.Decode(make([]byte, encrypt.MaxPlain(b)), b)
	if i < 0 {
		i = len(frames) - 1
	}
	return int(frames[i].Phys)
}

// TestEncFSCheckpoint: a checkpoint of a sealed database (segments hard
// linked, the rest copied through the seam) is sealed and opens with the
// keys.
func TestEncFSCheckpoint(t *testing.T) {
	dir, dest := t.TempDir(), filepath.Join(t.TempDir(), "cp")
	k := testRing(t, testKey(5))
	db := mustOpen(t, dir, encOpts(k))
	ls := writeSecret(t, db, "c", 0, 50)
	if err := db.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	writeSecret(t, db, "c", 50, 5) // in the WAL
	if _, err := db.Checkpoint(dest); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	float := binary.LittleEndian.AppendUint64(nil, math.Float64bits(secretValue))
	if n := scanDir(t, dest, []byte("zebra-c-unguessable"), float); n < 4 {
		t.Fatalf("%d files in the checkpoint", n)
	}
	cp := mustOpen(t, dest, encOpts(k))
	defer cp.Close()
	if got := readAll(cp, ls); len(got) != 55 {
		t.Fatalf("%d samples in the checkpoint, want 55", len(got))
	}
}
