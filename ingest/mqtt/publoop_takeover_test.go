//go:build linux

package mqtt

// Tests of the publish loop (publoop.go) handing connections over to mochi
// and of client-ID takeover: one live connection per ID, whichever side
// serves it. Each failed against the code before its fix.

import (
	"slices"
	"testing"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

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
	l := b.pl.(*publishListener)
	waitFor(t, 5*time.Second, "Close to ask every loop to stop", func() bool {
		for _, lp := range l.loops {
			lp.mu.Lock()
			asked := lp.stopped || slices.ContainsFunc(lp.cmds, func(c loopCmd) bool { return c.stop })
			lp.mu.Unlock()
			if !asked {
				return false
			}
		}
		return true
	})
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
	requireOneServed(t, b, l, m, "loop and mochi")
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
	waitFor(t, 5*time.Second, "the loop to read x's bytes", func() bool { // the loop is in x's round now
		n, err := unix.IoctlGetInt(sfd, unix.SIOCINQ)
		return err == nil && n < len(buf)
	})
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

// TestPublishLoopHandoverSupersededByNewer: while a loop connection is on
// its way into mochi (its hand-over goroutine still writing the owed
// acknowledgements to a slow reader), a newer connection with the same
// client ID goes to mochi (mochiIDs) and attaches first. The hand-over
// must then be dropped, not attached: mochi would let the older
// connection take the session over from the newer [MQTT-3.1.4-2].
func TestPublishLoopHandoverSupersededByNewer(t *testing.T) {
	// The loop must read old's 6,000 PUBLISHes and the SUBSCRIBE in one
	// round, as TestPublishLoopHandoverDoesNotStallLoop arranges: while
	// y's Append holds the loop, old's bytes pile up unread. (Read as
	// they arrived, the loop could owe acknowledgements that fill old's
	// send buffer before it reads the SUBSCRIBE, and then waits for old
	// to read them, which it does not: no hand-over.)
	app := newGateAppender()
	b, _ := startHookedBroker(t, app, BrokerOptions{})
	y, _ := connectWire(t, b.Addr(), wireConnectOpts{id: "y"})
	lp := loopOf(b, "y")
	old, id := connectOnLoop(t, b, lp, "x", func() *wireConn { return smallRcvDial(t, b.Addr()) })
	c := old.c
	sfd := serverFD(t, b, c)
	require.NoError(t, unix.SetsockoptInt(sfd, unix.SOL_SOCKET, unix.SO_SNDBUF, 4096))
	y.write(wirePublish("plant/a", 1, false, 1, wireLine("y", 1)))
	<-app.entered
	var buf []byte
	for i := range 6000 {
		buf = append(buf, wirePublish("a", 1, false, uint16(i+1), "")...)
	}
	buf = append(buf, wireSubscribe(60000, "cmd/#", 1)...) // owed 24 KB of PUBACKs, then the hand-over
	old.write(buf)
	waitFor(t, 5*time.Second, "old's bytes queued on the server", func() bool {
		n, err := unix.IoctlGetInt(sfd, unix.SIOCINQ)
		return err == nil && n == len(buf)
	})
	close(app.release)
	y.expectAck(pktPuback, 1)
	l := b.pl.(*publishListener)
	waitFor(t, 5*time.Second, "the hand-over writing the owed acknowledgements", func() bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		return l.handing[id] != nil
	})
	nw, _ := connectWire(t, b.Addr(), wireConnectOpts{id: id}) // to mochi: the ID is in mochiIDs

	var oldGot []string
	for {
		m, err := old.read(5 * time.Second)
		if err != nil {
			break
		}
		if m.typ != pktPuback {
			oldGot = append(oldGot, m.String())
		}
	}
	if len(oldGot) > 0 {
		t.Errorf("the older connection, superseded during its hand-over, was served: %v", oldGot)
	}
	nw.write(wirePublish("plant/a", 1, false, 1, wireLine(id, 1)))
	m, err := nw.read(3 * time.Second)
	require.NoError(t, err, "the newer connection was closed")
	require.Equal(t, byte(pktPuback), m.typ, "%v", m)
}

// TestPublishLoopHandingTokenReleased: a hand-over that ends before it
// attaches to mochi (its owed acknowledgements cannot be written: the
// client went away) leaves no token in l.handing.
func TestPublishLoopHandingTokenReleased(t *testing.T) {
	b, _ := startBrokerOpts(t, newMemAppender(), Options{DB: "iot"}, BrokerOptions{})
	old := smallRcvDial(t, b.Addr())
	old.write(wireConnect(wireConnectOpts{id: "x"}))
	old.expect(pktConnack)
	require.NotNil(t, loopOf(b, "x"))
	require.NoError(t, unix.SetsockoptInt(serverFD(t, b, old.c), unix.SOL_SOCKET, unix.SO_SNDBUF, 4096))
	var buf []byte
	for i := range 6000 {
		buf = append(buf, wirePublish("a", 1, false, uint16(i+1), "")...)
	}
	old.write(append(buf, wireSubscribe(60000, "cmd/#", 1)...)) // owed 24 KB of PUBACKs, then the hand-over
	l := b.pl.(*publishListener)
	handing := func() bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		return l.handing["x"] != nil
	}
	if !eventually(5*time.Second, handing) {
		// The loop read the PUBLISHes before the SUBSCRIBE arrived and
		// waits to write their PUBACKs (the setup of
		// TestPublishLoopHandoverSupersededByNewer has the same race).
		t.Skip("the hand-over did not start: the loop read the PUBLISHes alone")
	}
	old.c.Close() // unread data: RST, the hand-over's write fails
	waitFor(t, 5*time.Second, "the hand-over released its ID", func() bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		return l.mochiIDs["x"] == 0 && len(l.handed) == 0
	})
	l.mu.Lock()
	left := l.handing["x"] != nil
	l.mu.Unlock()
	if left {
		t.Errorf("handing still holds the token of x after its hand-over ended")
	}
}
