package engine

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lightningdb/lightningdb/series"
)

// buildAdmin builds cmd/lightning-admin into a temporary directory and
// returns the binary's path.
func buildAdmin(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "lightning-admin")
	out, err := exec.Command("go", "build", "-o", bin, "../cmd/lightning-admin").CombinedOutput()
	if err != nil {
		t.Fatalf("build lightning-admin: %v\n%s", err, out)
	}
	return bin
}

// TestAdminRepairCommand runs the command the refused open names, the real
// lightning-admin binary: it reports what it cut, and then the database
// opens with every sample before the damage and none after, across three
// WAL segments (damage in the middle one).
func TestAdminRepairCommand(t *testing.T) {
	admin := buildAdmin(t)
	dir := t.TempDir()
	for seg := range 3 {
		db := mustOpen(t, dir, Options{noFlushOnClose: true}) // one WAL segment per open
		for i := range 4 {
			v := seg*4 + i
			appendOne(t, db, labels("m", "seg", fmt.Sprint(seg)), series.TypeFloat, int64(v), uint64(v))
		}
		must(t, db.Close())
	}
	seg2 := walName(filepath.Join(dir, walDir), 2)
	data, err := os.ReadFile(seg2)
	must(t, err)
	var offs []int
	var buf []byte
	for off := walHeaderSize; off < len(data); {
		_, size, err := readRecord(data[off:], &buf)
		must(t, err)
		offs, off = append(offs, off), off+size
	}
	flip(t, seg2, offs[2]+recordHeaderSize+2)
	rn := requireRepairNeeded(t, dir, seg2, offs[2], "checksum mismatch")
	if !strings.Contains(rn.Lost, fmt.Sprintf("%d bytes of %s", len(data)-offs[2], filepath.Base(seg2))) ||
		!strings.Contains(rn.Lost, "1 later WAL segments") {
		t.Fatalf("error does not say what a repair drops: %v", rn)
	}

	args := strings.Fields(rn.Command)[1:] // the command exactly as the error gives it
	cmd := exec.Command(admin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s: %v\nstdout: %s\nstderr: %s", rn.Command, err, stdout.String(), stderr.String())
	}
	out := stdout.String()
	for _, want := range []string{
		fmt.Sprintf("cut %s at offset %d", seg2, offs[2]),
		"removed later WAL segment " + walName(filepath.Join(dir, walDir), 3),
		"the database opens now",
	} {
		if !strings.Contains(out, want) {
			t.Fatalf("repair output lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(stderr.String(), "replaying WAL segment 2/3") {
		t.Fatalf("repair shows no progress: %s", stderr.String())
	}

	db := mustOpen(t, dir, Options{noFlushOnClose: true})
	defer db.Close()
	for seg, want := range []string{
		"[0=float:0 1=float:1 2=float:2 3=float:3]",
		"[4=float:4 5=float:5]",
		"[]",
	} {
		if got := fmt.Sprint(readAll(db, labels("m", "seg", fmt.Sprint(seg)))); got != want {
			t.Errorf("series of WAL segment %d after repair: %s, want %s", seg+1, got, want)
		}
	}
}

// FuzzWALLastSegmentTail appends arbitrary bytes to a last WAL segment of
// three good records. Open either cuts them as a torn tail, keeping the
// three samples, and the next open cuts nothing; or it refuses with
// ErrNeedsRepair because a valid record follows the damage, and Repair
// then gives the three samples back. It never panics or loses a good
// record.
func FuzzWALLastSegmentTail(f *testing.F) {
	base := f.TempDir()
	seg, offs := writeRecords(f, base, 3)
	data, err := os.ReadFile(seg)
	if err != nil {
		f.Fatal(err)
	}
	rec := data[offs[1]:offs[2]] // a whole valid record
	f.Add([]byte{})
	f.Add([]byte{1, 2, 3})
	f.Add(make([]byte, 100))
	f.Add(append([]byte{0xff, 0, 0, 0, 5, 0, 0, 0, 1, 1, 9}, rec...))
	f.Add(append(append([]byte{}, rec...), rec[:len(rec)-2]...))
	f.Fuzz(func(t *testing.T, tail []byte) {
		dir := t.TempDir()
		must(t, os.MkdirAll(filepath.Join(dir, walDir), 0o755))
		must(t, os.WriteFile(walName(filepath.Join(dir, walDir), 1), append(append([]byte{}, data...), tail...), 0o644))
		db, err := Open(dir, Options{noFlushOnClose: true})
		if errors.Is(err, ErrNeedsRepair) {
			if _, err := Repair(dir, Options{}, nil); err != nil {
				t.Fatalf("repair: %v", err)
			}
			db, err = Open(dir, Options{noFlushOnClose: true})
		}
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		got := readAll(db, labels("m"))
		must(t, db.Close())
		if len(got) < 3 || fmt.Sprint(got[:3]) != "[0=float:0 1=float:1 2=float:2]" {
			t.Fatalf("good records lost: %v", got)
		}
		var lb logBuffer
		db = mustOpen(t, dir, Options{Logger: lb.logger(), noFlushOnClose: true})
		must(t, db.Close())
		if strings.Contains(lb.String(), "WAL damaged") {
			t.Fatalf("second open cut again: %s", lb.String())
		}
	})
}

// TestValidRecordAfter: a zero or garbage tail has no valid record after
// the damage; a whole record after it is found; bytes crafted so that many
// offsets pass the cheap filter with long lengths hit the work bound and
// count as damage (the open stops; repair stays the operator's act).
func TestValidRecordAfter(t *testing.T) {
	seg, offs := writeRecords(t, t.TempDir(), 3)
	data, err := os.ReadFile(seg)
	must(t, err)
	if validRecordAfter(append(data[:offs[2]:offs[2]], make([]byte, 4096)...), offs[2]) {
		t.Fatal("a zero tail holds a valid record")
	}
	damaged := append([]byte{}, data...)
	damaged[offs[1]+recordHeaderSize] ^= 1
	if !validRecordAfter(damaged, offs[1]) {
		t.Fatal("the record after the damage was not found")
	}
	if validRecordAfter(damaged, offs[2]) {
		t.Fatal("a record at the damage offset itself counted")
	}
	crafted := make([]byte, 1<<20)
	for p := walHeaderSize; p+12 <= len(crafted); p += 12 {
		crafted[p+4], crafted[p+5], crafted[p+6] = 0x40, 0x0d, 0x03 // length 200000
		crafted[p+8], crafted[p+9] = recordVersion, recordBatch
	}
	if !validRecordAfter(crafted, walHeaderSize) {
		t.Fatal("crafted candidates past the work bound did not count as damage")
	}
}
