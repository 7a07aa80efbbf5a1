package main

import (
	"bytes"
	"log"
	"log/slog"
	"sync"
	"time"
)

// net/http writes its own errors (accept failures, TLS handshakes that
// fail, panics it recovered) to http.Server.ErrorLog. Several of them a
// client can trigger once per connection, so they go to the server's log
// through limitedLog: each line cut to httpLogLineMax bytes, and at most
// httpLogBurst lines per httpLogWindow; the first line after a pause says
// how many were left out.
const (
	httpLogLineMax = 256
	httpLogBurst   = 10
	httpLogWindow  = time.Minute
)

// limitedLog is the io.Writer behind the *log.Logger given to net/http.
// mu protects the window.
type limitedLog struct {
	log *slog.Logger
	now func() time.Time

	mu         sync.Mutex
	start      time.Time // of the current window
	n          int       // lines written in it
	suppressed int       // lines left out since the last written one
}

// newHTTPErrorLog returns the logger for http.Server.ErrorLog.
func newHTTPErrorLog(l *slog.Logger, now func() time.Time) *log.Logger {
	return log.New(&limitedLog{log: l, now: now}, "", 0)
}

func (w *limitedLog) Write(p []byte) (int, error) {
	msg := bytes.TrimSpace(p)
	if len(msg) > httpLogLineMax {
		msg = append(msg[:httpLogLineMax:httpLogLineMax], "…"...)
	}
	w.mu.Lock()
	now := w.now()
	if now.Sub(w.start) >= httpLogWindow {
		w.start, w.n = now, 0
	}
	if w.n >= httpLogBurst {
		w.suppressed++
		w.mu.Unlock()
		return len(p), nil
	}
	w.n++
	suppressed := w.suppressed
	w.suppressed = 0
	w.mu.Unlock()
	if suppressed > 0 {
		w.log.Warn("http server", "err", string(msg), "suppressed", suppressed)
	} else {
		w.log.Warn("http server", "err", string(msg))
	}
	return len(p), nil
}
