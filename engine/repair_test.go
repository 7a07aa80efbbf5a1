package engine

import (
	"bytes"
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
