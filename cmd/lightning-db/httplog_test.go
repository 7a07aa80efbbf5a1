package main

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// TestHTTPErrorLogLimited: net/http's error lines reach the server's log
// cut to httpLogLineMax bytes and at most httpLogBurst a window; the next
// line after the window says how many were left out.
func TestHTTPErrorLogLimited(t *testing.T) {
	var out bytes.Buffer
	now := time.Unix(0, 0)
	l := newHTTPErrorLog(slog.New(slog.NewTextHandler(&out, nil)), func() time.Time { return now })
	long := strings.Repeat("x", 100_000)
	for range 1000 {
		l.Printf("http: TLS handshake error from 127.0.0.1:1: %s", long)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != httpLogBurst {
		t.Fatalf("%d lines written for 1000 errors in one window, want %d", len(lines), httpLogBurst)
	}
	if out.Len() > httpLogBurst*(httpLogLineMax+200) {
		t.Fatalf("%d bytes of log for 1000 errors of 100 kB", out.Len())
	}
	out.Reset()
	now = now.Add(httpLogWindow)
	l.Printf("http: Accept error: too many open files")
	if got := out.String(); !strings.Contains(got, "too many open files") || !strings.Contains(got, "suppressed=990") {
		t.Fatalf("first line of the next window: %q", got)
	}
}
