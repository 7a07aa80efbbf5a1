package main

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestDataDirLocked: a second server on the data directory of a running
// one exits non-zero at once, naming the directory and the first server's
// PID, and touches nothing: the first keeps serving, and its data is
// intact, also after its restart.
func TestDataDirLocked(t *testing.T) {
	dir := t.TempDir()
	p := startServer(t, dir)
	if resp := post(t, p.url("/write?db=l&precision=s"), "", []byte("m v=1 1000\n"), nil); resp.StatusCode != 204 {
		t.Fatalf("write: %d %s", resp.StatusCode, readBody(t, resp))
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	two := freeAddrs(t, 2)
	second := exec.CommandContext(ctx, binary, "--data-dir", dir, "--http-addr", two[0], "--mqtt-addr", two[1])
	out, err := second.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ctx.Err() != nil {
		t.Fatalf("second server: err %v (want a non-zero exit within 20 s); output:\n%s", err, out)
	}
	want := fmt.Sprintf("data directory %s is in use by process %d (LOCK): stop it or pick another --data-dir",
		dir, p.cmd.Process.Pid)
	if !strings.Contains(string(out), want) {
		t.Fatalf("second server's output lacks %q:\n%s", want, out)
	}

	p.requireAlive()
	if resp := post(t, p.url("/write?db=l&precision=s"), "", []byte("m v=2 2000\n"), nil); resp.StatusCode != 204 {
		t.Fatalf("write after the second server: %d %s", resp.StatusCode, readBody(t, resp))
	}
	requireLockedData(t, p)
	p.stop()
	p = startServer(t, dir)
	defer p.stop()
	requireLockedData(t, p)
}

func requireLockedData(t *testing.T, p *proc) {
	t.Helper()
	got := p.export(`{__name__="m_v"}`)
	wantVal(t, got, "m_v{db=l}", 1000e9, "1")
	wantVal(t, got, "m_v{db=l}", 2000e9, "2")
}
