//go:build linux

package mqtt

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// testClock is a clock the test advances (BrokerOptions.now).
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newTestClock() *testClock { return &testClock{t: time.Now()} }

func (c *testClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// sweepFront runs the sweep of every loop of b's front end at the
// clock's time and waits for it: when it returns, the connections past
// their deadlines are closed and the wills whose delay is over are on
// their way (sendWill).
func sweepFront(t testing.TB, b *Broker) {
	t.Helper()
	for _, lp := range b.front.loops {
		done := make(chan struct{})
		require.True(t, lp.post(frontCmd{sweep: done}), "loop stopped")
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("a loop did not sweep")
		}
	}
}

// frontHolds reports whether a connection of b's front end holds client
// ID id.
func frontHolds(b *Broker, id string) bool {
	b.front.mu.Lock()
	defer b.front.mu.Unlock()
	return b.front.ids[id] != nil
}

// frontWillWaiting reports whether the will of id waits for its delay.
func frontWillWaiting(b *Broker, id string) bool {
	b.front.mu.Lock()
	defer b.front.mu.Unlock()
	_, ok := b.front.wills[id]
	return ok
}

// expectWill reads the next PUBLISH of sub (QoS 1, acknowledged) and
// returns its topic and payload.
func expectWill(t *testing.T, sub *wireConn) (topic, payload string) {
	t.Helper()
	topic, qos, _, id, payload := sub.expect(pktPublish).publish(t)
	if qos > 0 {
		sub.write(wireAck(pktPuback, id))
	}
	return topic, payload
}

// TestFrontWillDelay: the MQTT 5 Will Delay Interval on the front end, on
// its clock (advanced by the test): a will goes after min(will delay,
// session expiry) and not before, for a lost connection and for
// DISCONNECT 0x04; a reconnect with the same client ID within the delay,
// on the front end or on mochi's port, drops it; a will without delay, or
// without session expiry, or after a DISCONNECT 0x04 that sets the session
// expiry to 0, goes at once. Presence records the close at
// once and the will (a status topic) when it goes; a retained will is
// retained when it goes.
func TestFrontWillDelay(t *testing.T) {
	app := newMemAppender()
	clk := newTestClock()
	b, addr := startFront(t, app, BrokerOptions{Presence: true, now: clk.now,
		Rules: []Rule{{Template: "status/+client_id", Presence: true}, {Filter: "plant/#"}}})
	sub, _ := connectWire(t, b.Addr(), wireConnectOpts{id: "watcher"}) // mochi's port
	sub.write(wireSubscribe(1, "status/#", 1))
	require.Equal(t, []byte{0, 1, 1}, sub.expect(pktSuback).body)
	dev := func(id string, willDelay, sessionExpiry uint32) wireConnectOpts {
		return wireConnectOpts{level: 5, id: id, willTopic: "status/" + id, willMsg: "offline", willQoS: 1,
			willDelay: willDelay, sessionExpiry: sessionExpiry}
	}

	t.Run("after the delay", func(t *testing.T) {
		// Will delay 30 s, session expiry 5 s: the will goes after 5 s.
		o := dev("lost", 30, 5)
		o.willRetain = true
		lost, _ := connectWire(t, addr, o)
		bye, _ := connectWire(t, addr, dev("bye", 5, 60))
		waitPresence(t, app, PresenceMetric, "lost", "1")
		require.NoError(t, lost.c.Close())
		bye.write([]byte{pktDisconnect << 4, 2, 0x04, 0}) // disconnect with will message
		waitFor(t, 5*time.Second, "both wills waiting", func() bool {
			return frontWillWaiting(b, "lost") && frontWillWaiting(b, "bye")
		})
		waitPresence(t, app, DisconnectsMetric, "lost", "connection_lost:1")
		waitPresence(t, app, DisconnectsMetric, "bye", "disconnect_with_will:1")

		clk.advance(4 * time.Second)
		sweepFront(t, b)
		require.True(t, frontWillWaiting(b, "lost"), "sent before its delay")
		require.True(t, frontWillWaiting(b, "bye"), "sent before its delay")
		require.Equal(t, "1,0", presenceSeq(app, PresenceMetric, "lost"), "the will stored before its delay")

		clk.advance(time.Second)
		sweepFront(t, b)
		got := map[string]string{}
		for range 2 {
			topic, payload := expectWill(t, sub)
			got[topic] = payload
		}
		require.Equal(t, map[string]string{"status/lost": "offline", "status/bye": "offline"}, got)
		require.False(t, frontWillWaiting(b, "lost"))
		waitPresence(t, app, PresenceMetric, "lost", "1,0,0") // connected, closed, the will
		waitPresence(t, app, PresenceMetric, "bye", "1,0,0")
		late, _ := connectWire(t, b.Addr(), wireConnectOpts{id: "late"})
		late.write(wireSubscribe(1, "status/lost", 1))
		late.expect(pktSuback)
		topic, _, retain, _, payload := late.expect(pktPublish).publish(t)
		require.Equal(t, "status/lost", topic)
		require.Equal(t, "offline", payload)
		require.True(t, retain, "a retained will is retained when it goes")
		n, _ := b.ret.usage()
		require.Equal(t, 1, n, "retained messages")
	})

	// A reconnect within the delay drops the will (retained: not counted
	// against the retained limits either); the reconnected client then
	// publishes "online", which must be the next message the subscriber
	// gets.
	reconnect := func(t *testing.T, id, addr2 string) {
		retained, _ := b.ret.usage()
		o := dev(id, 10, 60)
		o.willRetain = true
		w, _ := connectWire(t, addr, o)
		waitPresence(t, app, PresenceMetric, id, "1")
		require.NoError(t, w.c.Close())
		waitFor(t, 5*time.Second, id+"'s will waiting", func() bool { return frontWillWaiting(b, id) })
		clk.advance(5 * time.Second)
		sweepFront(t, b)
		again, _ := connectWire(t, addr2, wireConnectOpts{level: 5, id: id})
		waitFor(t, 5*time.Second, id+"'s will dropped", func() bool { return !frontWillWaiting(b, id) })
		clk.advance(6 * time.Second) // past the delay
		sweepFront(t, b)
		again.write(wirePublish5("status/"+id, 1, "online"))
		require.Zero(t, ackReason5(t, again.expect(pktPuback), 1))
		topic, payload := expectWill(t, sub)
		require.Equal(t, "status/"+id, topic)
		require.Equal(t, "online", payload, "the will was sent after the reconnect")
		waitPresence(t, app, PresenceMetric, id, "1,0,1,1") // connected, closed, back, online
		n, _ := b.ret.usage()
		require.Equal(t, retained, n, "retained messages")
	}
	t.Run("reconnect on the front end", func(t *testing.T) { reconnect(t, "back-front", addr) })
	t.Run("reconnect on mochi's port", func(t *testing.T) { reconnect(t, "back-mochi", b.Addr()) })

	t.Run("at once", func(t *testing.T) {
		for _, o := range []wireConnectOpts{
			dev("nodelay", 0, 60),  // no will delay
			dev("noexpiry", 10, 0), // no session expiry: the session ends with the connection
		} {
			w, _ := connectWire(t, addr, o)
			require.NoError(t, w.c.Close())
			topic, payload := expectWill(t, sub) // the clock does not move: no delay is over
			require.Equal(t, "status/"+o.id, topic)
			require.Equal(t, "offline", payload)
			require.False(t, frontWillWaiting(b, o.id))
		}
		// DISCONNECT 0x04 with a session expiry interval of 0: the session
		// ends now, and so does the will's delay.
		w, _ := connectWire(t, addr, dev("endnow", 10, 60))
		w.write([]byte{pktDisconnect << 4, 7, 0x04, 5, 0x11, 0, 0, 0, 0})
		topic, payload := expectWill(t, sub)
		require.Equal(t, "status/endnow", topic)
		require.Equal(t, "offline", payload)
	})
}
