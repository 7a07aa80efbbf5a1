package main

import (
	"context"
	le "encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRecoveryRepair: damage in a WAL segment that is not the last stops
// the server at start with the file, the offset and the repair command;
// the real lightning-admin runs that command, and the server then starts
// with everything before the damage and nothing after.
func TestRecoveryRepair(t *testing.T) {
	dir := t.TempDir()
	now := time.Now().UnixNano()
	for run, name := range []string{"a", "b", "c"} { // one WAL segment per run
		p := startServer(t, dir)
		for i := 1; i <= 2; i++ {
			line := fmt.Sprintf("rec,k=%s%d v=%d %d\n", name, i, run*2+i, now+int64(run*2+i))
			if resp := post(t, p.url("/write?db=x&precision=ns"), "", []byte(line), nil); resp.StatusCode != 204 {
				t.Fatalf("write %s: %d %s", line, resp.StatusCode, readBody(t, resp))
			}
		}
		p.kill() // the WAL keeps both writes: no flush
	}
	seg1 := filepath.Join(dir, "wal", fmt.Sprintf("%020d.wal", 1))
	data, err := os.ReadFile(seg1)
	if err != nil {
		t.Fatal(err)
	}
	second := 8 + 10 + int(le.LittleEndian.Uint32(data[8+4:])) // WAL header, first record
	data[second+12] ^= 1                                       // in the second record's payload
	if err := os.WriteFile(seg1, data, 0o644); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	two := freeAddrs(t, 2)
	out, err := exec.CommandContext(ctx, binary, "--data-dir", dir, "--http-addr", two[0],
		"--mqtt-addr", two[1]).CombinedOutput()
	command := "lightning-admin repair --data-dir " + dir
	if err == nil || !strings.Contains(string(out), command) || !strings.Contains(string(out), seg1) ||
		!strings.Contains(string(out), fmt.Sprintf("offset %d", second)) || !strings.Contains(string(out), "2 later WAL segments") {
		t.Fatalf("server start on a damaged WAL: %v; want a refusal naming %s, offset %d and %q:\n%s",
			err, seg1, second, command, out)
	}

	admin := filepath.Join(t.TempDir(), "lightning-admin")
	if b, err := exec.Command("go", "build", "-o", admin, "../lightning-admin").CombinedOutput(); err != nil {
		t.Fatalf("build lightning-admin: %v\n%s", err, b)
	}
	out, err = exec.CommandContext(ctx, admin, strings.Fields(command)[1:]...).CombinedOutput()
	if err != nil || !strings.Contains(string(out), fmt.Sprintf("cut %s at offset %d", seg1, second)) ||
		strings.Count(string(out), "removed later WAL segment") != 2 {
		t.Fatalf("%s: %v\n%s", command, err, out)
	}

	p := startServer(t, dir)
	defer p.stop()
	got := p.export(`{__name__="rec_v"}`)
	if _, ok := got["rec_v{db=x,k=a1}"]; !ok || len(got) != 1 {
		t.Fatalf("after repair: %v, want only a1 (before the damage)", got)
	}
}
