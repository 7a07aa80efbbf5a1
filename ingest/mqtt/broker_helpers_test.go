//go:build linux

package mqtt

// Helpers shared by the broker tests that talk to it over the wire.

import (
	"bufio"
	"context"
	"log/slog"
	"net"
	"os"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/lightningdb/lightningdb/ingest"
)

// smallRcvDial dials addr with a receive buffer of a few KiB (loopback
// autotunes it to MiBs otherwise).
func smallRcvDial(t *testing.T, addr string) *wireConn {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second, Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		if err := rc.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, 2048) }); err != nil {
			return err
		}
		return serr
	}}
	c, err := d.Dial("tcp", addr)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return &wireConn{t: t, c: c, r: bufio.NewReader(c)}
}

// serverFD finds the broker's descriptor of the connection whose client
// side is client.
func serverFD(t *testing.T, b *Broker, client net.Conn) int {
	t.Helper()
	want := client.LocalAddr().(*net.TCPAddr)
	port := b.ln.(*listener).ln.Addr().(*net.TCPAddr).Port
	ents, err := os.ReadDir("/proc/self/fd")
	require.NoError(t, err)
	for _, e := range ents {
		fd, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		peer, err := unix.Getpeername(fd)
		if err != nil {
			continue
		}
		local, err := unix.Getsockname(fd)
		if err != nil {
			continue
		}
		p4, ok1 := peer.(*unix.SockaddrInet4)
		l4, ok2 := local.(*unix.SockaddrInet4)
		if ok1 && ok2 && p4.Port == want.Port && l4.Port == port {
			return fd
		}
	}
	t.Fatal("server side of the connection not found")
	return -1
}

// startBrokerOpts starts a broker over app (an Ingestor with inOpts) with
// extra mochi hooks. closeB closes it once (later calls wait for the same
// Close) and reports whether Close returned within d.
func startBrokerOpts(t *testing.T, app ingest.Appender, inOpts Options, opts BrokerOptions, hooks ...mochi.Hook) (b *Broker, closeB func(d time.Duration) bool) {
	t.Helper()
	in, err := New(app, inOpts)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	runDone := make(chan struct{})
	go func() { in.Run(ctx); close(runDone) }()
	opts.Addr = "127.0.0.1:0"
	if opts.Logger == nil { // a failed test prints the broker's log
		lw := &syncBuffer{}
		t.Cleanup(func() {
			if t.Failed() {
				t.Log("broker log:\n" + lw.String())
			}
		})
		opts.Logger = slog.New(slog.NewTextHandler(lw, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	b, err = NewBroker(in, opts)
	require.NoError(t, err)
	for _, h := range hooks {
		require.NoError(t, b.srv.AddHook(h, nil))
	}
	require.NoError(t, b.Serve())
	var once sync.Once
	closed := make(chan struct{})
	closeB = func(d time.Duration) bool {
		once.Do(func() { go func() { b.Close(); close(closed) }() })
		select {
		case <-closed:
			return true
		case <-time.After(d):
			return false
		}
	}
	t.Cleanup(func() {
		if !closeB(15 * time.Second) {
			t.Error("Broker.Close did not return")
		}
		cancel()
		<-runDone
	})
	return b, closeB
}
