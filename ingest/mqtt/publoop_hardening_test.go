//go:build linux

package mqtt

// Hardening tests of the publish loop (publoop.go), one per finding of
// its review: each failed against the first version.

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"runtime"
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

// TestPublishLoopWrongPasswordTakesNothingOver: with credentials
// configured, a client that knows a device's client ID but not the
// password must not close the device's publish loop connection: the
// takeover runs in OnSessionEstablish, after mochi authenticated the
// client (OnConnect runs before OnConnectAuthenticate).
func TestPublishLoopWrongPasswordTakesNothingOver(t *testing.T) {
	app := newMemAppender()
	b, _ := startHookedBroker(t, app, BrokerOptions{Username: "u", Password: "p"})

	dev := dialWire(t, b.Addr())
	dev.write(credConnect("dev", "u", "p"))
	require.Equal(t, []byte{0, 0}, dev.expect(pktConnack).body)
	require.NotNil(t, loopOf(b, "dev"), "the device is a loop client")

	bad := dialWire(t, b.Addr())
	bad.write(credConnect("dev", "u", "wrong"))
	m := bad.expect(pktConnack)
	require.NotZero(t, m.body[1], "the attacker is refused: %v", m)

	dev.write(wirePublish("plant/a", 1, false, 1, wireLine("dev", 1)))
	got, err := dev.read(2 * time.Second)
	require.NoError(t, err, "an unauthenticated CONNECT with the device's client ID closed the device's connection")
	require.Equal(t, byte(pktPuback), got.typ, "%v", got)
}

// TestPublishLoopHandoverDuringClose: a loop round that hands a
// connection over to mochi while Broker.Close runs (the loop waiting for
// its Append, as it is most of the time under load) must not leave a
// client served after Close returned, nor make Close hang: Close waits
// for the loops, then closes what was handed to mochi and waits for it.
func TestPublishLoopHandoverDuringClose(t *testing.T) {
	app := newGateAppender()
	b, closeB := startHookedBroker(t, app, BrokerOptions{})
	w, _ := connectWire(t, b.Addr(), wireConnectOpts{id: "late"})
	w.write(wirePublish("plant/a", 1, false, 1, wireLine("late", 1)), wireSubscribe(2, "plant/#", 1))
	select {
	case <-app.entered:
	case <-time.After(5 * time.Second):
		t.Fatal("no Append")
	}
	closeB(0) // starts Close
	time.Sleep(300 * time.Millisecond)
	close(app.release) // the round ends: PUBACK, then the hand-over

	var got []wireMsg
	var readErr error
	for {
		m, err := w.read(3 * time.Second)
		if err != nil {
			readErr = err
			break
		}
		got = append(got, m)
	}
	returned := closeB(100 * time.Millisecond)
	w.c.Close() // lets a hung Close return
	var subacked bool
	for _, m := range got {
		subacked = subacked || m.typ == pktSuback
	}
	if subacked || isTimeout(readErr) || !returned {
		t.Errorf("after Broker.Close: got %v, connection still open: %v, Close returned within 3 s: %v", got, isTimeout(readErr), returned)
	}
}

// TestPublishLoopTakenOverConnectionNotHandedOver: client "dup" on a loop
// sends a SUBSCRIBE while a second connection with the same ID connects;
// the loop reads the old connection's SUBSCRIBE in the round before it
// runs the close the new connection's handshake posted. The old
// connection must be closed, not handed to mochi (whose takeover would
// then close the new one) [MQTT-3.1.4-2].
func TestPublishLoopTakenOverConnectionNotHandedOver(t *testing.T) {
	app := newGateAppender()
	b, _ := startHookedBroker(t, app, BrokerOptions{})
	old, _ := connectWire(t, b.Addr(), wireConnectOpts{id: "dup"})
	old.write(wirePublish("plant/a", 1, false, 1, wireLine("dup", 1)))
	<-app.entered // the loop waits for the Append of old's PUBLISH
	old.write(wireSubscribe(2, "plant/#", 1))
	nw, _ := connectWire(t, b.Addr(), wireConnectOpts{id: "dup"}) // posts close(old)
	close(app.release)

	var oldGot []wireMsg
	for {
		m, err := old.read(2 * time.Second)
		if err != nil {
			break
		}
		oldGot = append(oldGot, m)
	}
	nw.write(wirePublish("plant/a", 1, false, 7, wireLine("dup", 7)))
	m, err := nw.read(2 * time.Second)
	if err != nil || m.typ != pktPuback {
		t.Errorf("the new connection was closed (%v, %v); the old one got %v", m, err, oldGot)
	}
	for _, m := range oldGot {
		if m.typ == pktSuback {
			t.Errorf("the old connection was served by mochi after the takeover: %v", oldGot)
		}
	}
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

func (h *stallHook) ID() string           { return "stall" }
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
func requireOneServed(t *testing.T, l, m *wireConn, detail string) {
	t.Helper()
	time.Sleep(300 * time.Millisecond)
	l.write(wirePublish("plant/a", 1, false, 1, wireLine("twin", 1)))
	m.write(wirePublish("plant/a", 1, false, 2, wireLine("twin", 2)))
	lm, lerr := l.read(2 * time.Second)
	mm, merr := m.read(2 * time.Second)
	if lerr == nil && lm.typ == pktPuback && merr == nil && mm.typ == pktPuback {
		t.Errorf("two connections with client ID twin are served at once (%s)", detail)
	}
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

// TestPublishLoopOneLiveConnectionPerID: a client connecting through mochi
// (it has a will) and one connecting for the loop with the same ID at the
// same time must not both stay connected: the listener counts the IDs it
// handed to mochi (mochiIDs), so the second goes to mochi too, which
// orders them. The delay between the two is injected with a hook.
func TestPublishLoopOneLiveConnectionPerID(t *testing.T) {
	h := newStallHook(mochi.OnConnect, "twin")
	app := newMemAppender()
	b, _ := startHookedBroker(t, app, BrokerOptions{}, h)
	m := dialWire(t, b.Addr())
	m.write(wireConnect(wireConnectOpts{id: "twin", willTopic: "will/twin", willMsg: "gone"}))
	<-h.entered
	l, _ := connectWire(t, b.Addr(), wireConnectOpts{id: "twin"})
	close(h.release)
	m.expect(pktConnack)
	requireOneServed(t, l, m, "loop and mochi")
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

// TestPublishLoopHandoverDoesNotStallLoop: the acknowledgements owed to
// a connection handed over to mochi are written by the hand-over's own
// goroutine, not the loop's: a client that does not read (6,000 pipelined
// QoS 1 PUBLISHes and a SUBSCRIBE, read in one round, against a send
// buffer of a few KiB as on a real network) must not stop the other
// clients of its loop. The send buffer is shrunk with setsockopt because
// loopback autotunes it to 4 MiB.
func TestPublishLoopHandoverDoesNotStallLoop(t *testing.T) {
	app := newGateAppender()
	b, _ := startHookedBroker(t, app, BrokerOptions{})
	y, _ := connectWire(t, b.Addr(), wireConnectOpts{id: "y"})
	lp := loopOf(b, "y")
	x, _ := connectOnLoop(t, b, lp, "x", func() *wireConn { return smallRcvDial(t, b.Addr()) })
	sfd := serverFD(t, b, x.c)
	require.NoError(t, unix.SetsockoptInt(sfd, unix.SOL_SOCKET, unix.SO_SNDBUF, 4096))

	y.write(wirePublish("plant/a", 1, false, 1, wireLine("y", 1)))
	<-app.entered // the loop waits in Append: x's bytes pile up unread
	var buf []byte
	for i := range 6000 {
		buf = append(buf, wirePublish("a", 1, false, uint16(i+1), "")...)
	}
	buf = append(buf, wireSubscribe(60000, "a/#", 1)...)
	x.write(buf)
	waitFor(t, 5*time.Second, "x's bytes queued on the server", func() bool {
		n, err := unix.IoctlGetInt(sfd, unix.SIOCINQ)
		return err == nil && n == len(buf)
	})
	close(app.release)
	y.expectAck(pktPuback, 1)
	time.Sleep(100 * time.Millisecond) // the loop is in x's round now
	y.write(wirePublish("plant/a", 1, false, 2, wireLine("y", 2)))
	start := time.Now()
	m, err := y.read(2 * time.Second)
	if err != nil {
		x.c.Close() // RST: the loop's blocked write fails
		m, err = y.read(10 * time.Second)
		t.Errorf("the loop did not answer y for 2 s while it wrote x's acknowledgements (answered after %v)", time.Since(start))
	}
	require.NoError(t, err)
	require.Equal(t, byte(pktPuback), m.typ)
}

// TestPublishLoopPartialPacketGrowsWithData: the fixed header of a
// 16 MiB PUBLISH and one more byte must not make the loop allocate the
// announced 16 MiB: c.in grows as the bytes arrive.
func TestPublishLoopPartialPacketGrowsWithData(t *testing.T) {
	b, _ := startHookedBroker(t, newMemAppender(), BrokerOptions{})
	const conns = 4
	var ws []*wireConn
	for i := range conns {
		w, _ := connectWire(t, b.Addr(), wireConnectOpts{id: "big" + strconv.Itoa(i)})
		ws = append(ws, w)
	}
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for _, w := range ws {
		w.write([]byte{0x32, 0xff, 0xff, 0xff, 0x07}) // remaining length 16 MiB - 1
	}
	time.Sleep(100 * time.Millisecond)
	for _, w := range ws {
		w.write([]byte{0x00})
	}
	time.Sleep(200 * time.Millisecond)
	runtime.GC()
	runtime.ReadMemStats(&after)
	grew := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("heap grew by %d MiB for %d connections that sent 6 bytes each", grew>>20, conns)
	if grew > 8<<20 {
		t.Errorf("heap grew by %d MiB for %d connections that sent 6 bytes each", grew>>20, conns)
	}
}

// TestPublishLoopCloseWithoutServe: Init opens each loop's epoll and
// eventfd descriptors; a broker closed before Serve started the loops
// must close them too.
func TestPublishLoopCloseWithoutServe(t *testing.T) {
	count := func() int {
		ents, err := os.ReadDir("/proc/self/fd")
		require.NoError(t, err)
		return len(ents)
	}
	before := count()
	for range 5 {
		in, err := New(newMemAppender(), Options{})
		require.NoError(t, err)
		b, err := NewBroker(in, BrokerOptions{Addr: "127.0.0.1:0"})
		require.NoError(t, err)
		require.NoError(t, b.Close())
	}
	leaked := count() - before
	if leaked > 3 {
		t.Errorf("%d descriptors leaked by 5 NewBroker+Close without Serve", leaked)
	}
}

// TestPublishLoopNonReadingClientClosed: a client (keep alive 1 s) that
// pipelines PUBLISHes and never reads its PUBACKs is closed once its
// socket stayed full for 1.5 times its keep alive (as mochi's write
// deadline would); its unread bytes must not count as activity for the
// keep-alive sweep.
func TestPublishLoopNonReadingClientClosed(t *testing.T) {
	b, _ := startHookedBroker(t, newMemAppender(), BrokerOptions{})
	x := smallRcvDial(t, b.Addr())
	c := x.c
	x.write(wireConnect(wireConnectOpts{id: "slow", keepalive: 1}))
	x.expect(pktConnack)
	sfd := serverFD(t, b, c)
	require.NoError(t, unix.SetsockoptInt(sfd, unix.SOL_SOCKET, unix.SO_SNDBUF, 4096))

	var chunk []byte
	for i := range 1000 {
		chunk = append(chunk, wirePublish("a", 1, false, uint16(i+1), "")...)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = c.SetWriteDeadline(time.Now().Add(4 * time.Second))
		for range 300 {
			if _, err := c.Write(chunk); err != nil {
				return
			}
		}
	}()
	time.Sleep(4 * time.Second) // > 1.5 x keep alive + the sweep's second, twice
	<-done
	inq, _ := unix.IoctlGetInt(sfd, unix.SIOCINQ)
	outq, _ := unix.IoctlGetInt(sfd, unix.SIOCOUTQ)
	if loopOf(b, "slow") != nil {
		t.Errorf("a client that never reads its PUBACKs is still connected after 4 s (keep alive 1 s; server socket: %d bytes unread, %d unsent)", inq, outq)
	}
}

// TestPublishLoopReadsStayLarge: once a read ends in the middle of a
// packet, the incomplete packet moves to the 256 KiB round buffer for the
// next read, so a connection that streams (a gateway at QoS 0) is read in
// large pieces, not ~8 KiB per round (per Append, per fsync). Here 3,000
// QoS 0 messages of ~100 bytes (300 KB) written at once must take a few
// rounds.
func TestPublishLoopReadsStayLarge(t *testing.T) {
	app := newMemAppender()
	b, _ := startHookedBroker(t, app, BrokerOptions{})
	w, _ := connectWire(t, b.Addr(), wireConnectOpts{id: "gw"})
	const n = 3000
	var buf []byte
	for i := range n {
		buf = append(buf, wirePublish("plant/gw", 0, false, 0, fmt.Sprintf("gw,n=1,pad=padding-to-about-a-hundred-bytes-per-packet v=%d %d", i, wireTS+int64(i)))...)
	}
	w.write(buf)
	waitFor(t, 20*time.Second, "every message stored", func() bool { return app.count() == n })
	app.mu.Lock()
	rounds := app.batches
	app.mu.Unlock()
	t.Logf("%d bytes stored in %d Appends (%d bytes per round)", len(buf), rounds, len(buf)/rounds)
	if rounds > 10 {
		t.Errorf("%d bytes took %d rounds (%d bytes per round)", len(buf), rounds, len(buf)/rounds)
	}
}
