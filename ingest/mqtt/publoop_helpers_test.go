//go:build linux

package mqtt

// Helpers shared by the publish loop (publoop.go) tests.

import (
	"bufio"
	"context"
	"log/slog"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/lightningdb/lightningdb/ingest"
	"github.com/lightningdb/lightningdb/series"
)

// gateAppender holds every Append until release is closed, ignoring ctx
// (as the engine does once a commit is queued: it waits for the fsync).
// entered is closed when the first Append starts.
type gateAppender struct {
	once     sync.Once
	entered  chan struct{}
	release  chan struct{}
	mu       sync.Mutex
	appended int
}

func newGateAppender() *gateAppender {
	return &gateAppender{entered: make(chan struct{}), release: make(chan struct{})}
}

func (a *gateAppender) Append(_ context.Context, b *series.Batch) (series.AppendResult, error) {
	a.once.Do(func() { close(a.entered) })
	<-a.release
	a.mu.Lock()
	a.appended += b.Samples()
	a.mu.Unlock()
	return series.AppendResult{Accepted: b.Samples()}, nil
}

// startHookedBroker is startBrokerOpts with the tests' Ingestor options.
func startHookedBroker(t *testing.T, app ingest.Appender, opts BrokerOptions, hooks ...mochi.Hook) (b *Broker, closeB func(d time.Duration) bool) {
	t.Helper()
	return startBrokerOpts(t, app, Options{DB: "iot"}, opts, hooks...)
}

// loopOf returns the publish loop serving the loop client id (nil if
// none).
func loopOf(b *Broker, id string) *pubLoop {
	l := b.pl.(*publishListener)
	l.mu.Lock()
	defer l.mu.Unlock()
	if c := l.ids[id]; c != nil {
		return c.loop
	}
	return nil
}

// connectOnLoop connects clients prefix0, prefix1, ... until one lands on
// lp (round robin, so within len(loops) tries).
func connectOnLoop(t *testing.T, b *Broker, lp *pubLoop, prefix string, dial func() *wireConn) (*wireConn, string) {
	t.Helper()
	for i := range 16 {
		id := prefix + strconv.Itoa(i)
		w := dial()
		w.write(wireConnect(wireConnectOpts{id: id}))
		w.expect(pktConnack)
		if loopOf(b, id) == lp {
			return w, id
		}
	}
	t.Fatal("no client landed on the loop")
	return nil, ""
}

// credConnect is a MQTT 3.1.1 CONNECT with username and password.
func credConnect(id, user, pass string) []byte {
	body := wireAppendString(nil, "MQTT")
	body = append(body, 4, 0xc0|0x02, 0, 0)
	body = wireAppendString(body, id)
	body = wireAppendString(body, user)
	body = wireAppendString(body, pass)
	return wirePacket(pktConnect<<4, body)
}

// stallHook holds mochi's hook event at (OnConnect or OnSessionEstablish)
// of the first client with id until release is closed; later clients with
// id pass. Added after the broker's hook, it opens a window before mochi's
// Clients.Add.
type stallHook struct {
	mochi.HookBase
	at      byte
	id      string
	first   atomic.Bool
	entered chan struct{}
	release chan struct{}
}

func newStallHook(at byte, id string) *stallHook {
	return &stallHook{at: at, id: id, entered: make(chan struct{}), release: make(chan struct{})}
}

func (h *stallHook) ID() string { return "stall" }

func (h *stallHook) Provides(b byte) bool { return b == h.at }

func (h *stallHook) OnConnect(cl *mochi.Client, _ packets.Packet) error {
	h.stall(cl)
	return nil
}

func (h *stallHook) OnSessionEstablish(cl *mochi.Client, _ packets.Packet) { h.stall(cl) }

func (h *stallHook) stall(cl *mochi.Client) {
	if cl.ID == h.id && h.first.CompareAndSwap(false, true) {
		close(h.entered)
		<-h.release
	}
}

// requireOneServed publishes on two connections with the same client ID
// (l, then m) and fails when both get their PUBACK.
func requireOneServed(t *testing.T, b *Broker, l, m *wireConn, detail string) {
	t.Helper()
	// Until the broker settled the takeover, both may still be served;
	// once it did, one live connection holds the ID (the loop's or
	// mochi's). Where it never settles, the publishes below tell.
	eventually(2*time.Second, func() bool { return liveTwins(b) <= 1 })
	l.write(wirePublish("plant/a", 1, false, 1, wireLine("twin", 1)))
	m.write(wirePublish("plant/a", 1, false, 2, wireLine("twin", 2)))
	lm, lerr := l.read(2 * time.Second)
	mm, merr := m.read(2 * time.Second)
	if lerr == nil && lm.typ == pktPuback && merr == nil && mm.typ == pktPuback {
		t.Errorf("two connections with client ID twin are served at once (%s)", detail)
	}
}

// liveTwins counts the live connections with client ID twin: on a loop,
// and mochi's.
func liveTwins(b *Broker) int {
	n := 0
	if loopOf(b, "twin") != nil {
		n++
	}
	if cl, ok := b.srv.Clients.Get("twin"); ok && !cl.Closed() {
		n++
	}
	return n
}

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
	port := b.pl.(*publishListener).ln.Addr().(*net.TCPAddr).Port
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

// countAppender counts the samples it is given and stores nothing (a
// streaming client would fill a memAppender's maps).
type countAppender struct{ samples, batches atomic.Int64 }

func (a *countAppender) Append(_ context.Context, b *series.Batch) (series.AppendResult, error) {
	a.samples.Add(int64(b.Samples()))
	a.batches.Add(1)
	return series.AppendResult{Accepted: b.Samples()}, nil
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

// streamer writes chunk to w's connection until stop is closed or a
// write fails; done is closed when it returns.
func streamer(w *wireConn, chunk []byte) (stop func()) {
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-quit:
				return
			default:
			}
			_ = w.c.SetWriteDeadline(time.Now().Add(200 * time.Millisecond))
			if _, err := w.c.Write(chunk); err != nil && !isTimeout(err) {
				return
			}
		}
	}()
	var once sync.Once
	return func() { once.Do(func() { close(quit); <-done }) }
}
