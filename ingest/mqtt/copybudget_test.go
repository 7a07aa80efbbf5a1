package mqtt

import (
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/stretchr/testify/require"
)

// oneCopy is what the budget charges for one copy of a message.
func oneCopy(topic, payload string) int64 {
	pk := packets.Packet{TopicName: topic, Payload: []byte(payload)}
	return copySize(&pk)
}

// budgetOpts is a broker whose subscriber copies may hold 10 copies of a
// budgetLine message, with sessions kept 1 s.
func budgetOpts(opts BrokerOptions) BrokerOptions {
	opts.MaxPacketSize = 8 << 10
	opts.MaxSubscriberBytes = 10 * oneCopy("c/x", budgetLine(0))
	opts.MaxSessionExpiry = time.Second
	return opts
}

// budgetLine is a ~4 KiB line protocol message.
func budgetLine(i int) string {
	return wireLine("fan", i) + "\n#" + strings.Repeat("p", 4<<10)
}

// TestBrokerSubscriberBytes: five persistent sessions subscribe at QoS 1
// and leave; then 20 messages are published while a well-behaved
// subscriber reads and acknowledges each. The copies held stay under
// MaxSubscriberBytes (before: every session kept up to max_inflight
// copies of each message until it expired), the refusals are counted, the
// well-behaved subscriber gets every message, and once the sessions
// expire nothing is held.
func TestBrokerSubscriberBytes(t *testing.T) {
	wirePaths(t, func(t *testing.T, opts BrokerOptions) {
		opts = budgetOpts(opts)
		app := newMemAppender()
		b, _ := startBrokerOpts(t, app, Options{DB: "iot"}, opts)
		for i := range 5 {
			w, _ := connectWire(t, b.Addr(), wireConnectOpts{id: "gone" + string(rune('0'+i)), persistent: true, keepalive: 30})
			w.write(wireSubscribe(1, "c/#", 1))
			w.expect(pktSuback)
			w.write(wireDisconnect)
			w.expectClosed(3 * time.Second)
		}
		good, _ := connectWire(t, b.Addr(), wireConnectOpts{id: "good", keepalive: 30})
		good.write(wireSubscribe(1, "c/#", 1))
		good.expect(pktSuback)
		pub, _ := connectWire(t, b.Addr(), wireConnectOpts{id: "pub", keepalive: 30})
		var peak int64
		for i := range 20 {
			pub.write(wirePublish("c/x", 1, false, uint16(i+1), budgetLine(i)))
			pub.expectAck(pktPuback, uint16(i+1))
			topic, qos, _, id, payload := good.expect(pktPublish).publish(t)
			require.Equal(t, "c/x", topic)
			require.EqualValues(t, 1, qos)
			require.True(t, payload == budgetLine(i), "message %d: %.40q", i, payload)
			peak = max(peak, b.copies.usage())
			good.write(wireAck(pktPuback, id))
			// The copies good holds until mochi reads its PUBACK count
			// against the budget like any other: without this wait, a
			// publisher faster than good's reader goroutine fills the
			// budget with good's own copies, and good's next copy is
			// refused (correctly: nobody else holds anything to evict).
			waitFor(t, 5*time.Second, "good's PUBACK to be read", func() bool {
				cl, ok := b.srv.Clients.Get("good")
				return ok && cl.State.Inflight.Len() == 0
			})
		}
		t.Logf("peak %d bytes of copies, the limit %d", peak, opts.MaxSubscriberBytes)
		require.LessOrEqual(t, peak, opts.MaxSubscriberBytes)
		require.Greater(t, peak, opts.MaxSubscriberBytes/2, "the sessions that left got copies up to the limit")
		require.Positive(t, b.in.Stats().Limited, "copies refused and sessions evicted are counted")
		waitFor(t, 10*time.Second, "the sessions to expire and their copies to be released", func() bool {
			return b.copies.usage() == 0
		})
	})
}

// TestBrokerSubscriberBytesResume: a persistent session that left gets
// QoS 1 copies; when its client comes back, they are resent (DUP) and
// once acknowledged nothing is held; QoS 0 copies are released when
// written.
func TestBrokerSubscriberBytesResume(t *testing.T) {
	wirePaths(t, func(t *testing.T, opts BrokerOptions) {
		opts = budgetOpts(opts)
		opts.MaxSessionExpiry = time.Hour
		b, _ := startBrokerOpts(t, newMemAppender(), Options{DB: "iot"}, opts)
		sub := wireConnectOpts{id: "back", persistent: true, keepalive: 30}
		w, _ := connectWire(t, b.Addr(), sub)
		w.write(wireSubscribe(1, "c/#", 1))
		w.expect(pktSuback)
		w.write(wireDisconnect)
		w.expectClosed(3 * time.Second)
		q0, _ := connectWire(t, b.Addr(), wireConnectOpts{id: "q0", keepalive: 30})
		q0.write(wireSubscribe(1, "c/#", 0))
		q0.expect(pktSuback)
		pub, _ := connectWire(t, b.Addr(), wireConnectOpts{id: "pub", keepalive: 30})
		for i := range 3 {
			pub.write(wirePublish("c/x", 1, false, uint16(i+1), budgetLine(i)))
			pub.expectAck(pktPuback, uint16(i+1))
			_, qos, _, _, _ := q0.expect(pktPublish).publish(t)
			require.Zero(t, qos)
		}
		one := oneCopy("c/x", budgetLine(0))
		waitFor(t, 5*time.Second, "the QoS 0 copies to be released", func() bool { return b.copies.usage() == 3*one })
		// A copy is charged when admitted, before mochi puts it in the
		// session's in-flight map: wait for the map too. A session taken
		// over in between inherits only the copies already in it, and the
		// last one is lost (2 resent, 2 charged: 11 of 500 runs under
		// -race on a loaded machine).
		waitFor(t, 5*time.Second, "the 3 copies in the session's in-flight map", func() bool {
			cl, ok := b.srv.Clients.Get("back")
			return ok && cl.State.Inflight.Len() == 3
		})

		w, present := connectWire(t, b.Addr(), sub)
		require.True(t, present)
		want := map[string]bool{budgetLine(0): true, budgetLine(1): true, budgetLine(2): true}
		for i := range 3 {
			m := w.expect(pktPublish)
			require.NotZero(t, m.flags&0x08, "DUP: %.60v", m)
			_, _, _, id, payload := m.publish(t)
			require.True(t, want[payload], "%.40q", payload)
			delete(want, payload)
			if i == 0 {
				require.Equal(t, 3*one, b.copies.usage(), "the session's copies are charged once")
			}
			w.write(wireAck(pktPuback, id))
		}
		waitFor(t, 5*time.Second, "the acknowledged copies to be released", func() bool { return b.copies.usage() == 0 })
	})
}

// TestBrokerSubscriberBytesSlowReader: a connected subscriber that reads
// and never acknowledges holds copies up to the limit; a well-behaved
// subscriber's copy that does not fit evicts it (disconnected, counted)
// and is delivered.
func TestBrokerSubscriberBytesSlowReader(t *testing.T) {
	wirePaths(t, func(t *testing.T, opts BrokerOptions) {
		opts = budgetOpts(opts)
		b, _ := startBrokerOpts(t, newMemAppender(), Options{DB: "iot"}, opts)
		slow, _ := connectWire(t, b.Addr(), wireConnectOpts{id: "slow", keepalive: 30})
		slow.write(wireSubscribe(1, "c/#", 1))
		slow.expect(pktSuback)
		var slowGot atomic.Int64
		slowDone := make(chan struct{})
		go func() {
			defer close(slowDone)
			for {
				if _, err := slow.read(10 * time.Second); err != nil {
					return
				}
				slowGot.Add(1)
			}
		}()
		pub, _ := connectWire(t, b.Addr(), wireConnectOpts{id: "pub", keepalive: 30})
		for i := range 10 {
			pub.write(wirePublish("c/x", 1, false, uint16(i+1), budgetLine(i)))
			pub.expectAck(pktPuback, uint16(i+1))
		}
		waitFor(t, 5*time.Second, "the slow reader to get 10 copies", func() bool { return slowGot.Load() == 10 })
		require.Equal(t, opts.MaxSubscriberBytes, b.copies.usage())
		good, _ := connectWire(t, b.Addr(), wireConnectOpts{id: "good", keepalive: 30})
		good.write(wireSubscribe(1, "c/#", 1))
		good.expect(pktSuback)
		pub.write(wirePublish("c/x", 1, false, 11, budgetLine(11)))
		pub.expectAck(pktPuback, 11)
		_, _, _, id, payload := good.expect(pktPublish).publish(t)
		require.True(t, payload == budgetLine(11), "%.40q", payload)
		good.write(wireAck(pktPuback, id))
		select { // the reader ends when the broker closes the connection
		case <-slowDone:
		case <-time.After(5 * time.Second):
			t.Fatal("the subscriber that does not acknowledge is still connected")
		}
		waitFor(t, 5*time.Second, "the copies to be released", func() bool { return b.copies.usage() == 0 })
		require.Positive(t, b.in.Stats().Limited, "the eviction is counted")
	})
}

// TestBrokerSubscriberBytesRetained: the retained messages a new
// subscription gets are copies too: a subscription whose retained
// messages do not fit gets none (counted), one that fits gets them all,
// and once they are acknowledged or written nothing is held.
func TestBrokerSubscriberBytesRetained(t *testing.T) {
	wirePaths(t, func(t *testing.T, opts BrokerOptions) {
		opts = budgetOpts(opts)
		b, _ := startBrokerOpts(t, newMemAppender(), Options{DB: "iot"}, opts)
		pub, _ := connectWire(t, b.Addr(), wireConnectOpts{id: "pub", keepalive: 30})
		for i := range 6 {
			pub.write(wirePublish("r/"+string(rune('a'+i)), 1, true, uint16(i+1), budgetLine(i)))
			pub.expectAck(pktPuback, uint16(i+1))
		}
		// A session that left holds 6 copies of a message: 4 fit beside.
		gone, _ := connectWire(t, b.Addr(), wireConnectOpts{id: "gone", persistent: true, keepalive: 30})
		gone.write(wireSubscribe(1, "g/#", 1))
		gone.expect(pktSuback)
		gone.write(wireDisconnect)
		gone.expectClosed(3 * time.Second)
		for i := range 6 {
			pub.write(wirePublish("g/x", 1, false, uint16(10+i), budgetLine(i)))
			pub.expectAck(pktPuback, uint16(10+i))
		}
		one := oneCopy("g/x", budgetLine(0))
		// The PUBACK goes out once the message is stored; routing its
		// copies may finish just after.
		waitFor(t, 5*time.Second, "6 copies held for the session that left", func() bool { return b.copies.usage() == 6*one })

		s, _ := connectWire(t, b.Addr(), wireConnectOpts{id: "s", keepalive: 30})
		s.write(wireSubscribe(1, "r/#", 1)) // 6 retained: do not fit
		s.expect(pktSuback)
		s.expectSilence(300 * time.Millisecond)
		require.Positive(t, b.in.Stats().Limited, "the refusal is counted")
		s.write(wireSubscribe(2, "r/a", 0), wireSubscribe(3, "r/b", 1)) // one each: fit
		got := map[string]byte{}
		for len(got) < 2 {
			m, err := s.read(5 * time.Second)
			require.NoError(t, err)
			if m.typ == pktSuback {
				continue
			}
			topic, qos, retain, id, _ := m.publish(t)
			require.True(t, retain)
			got[topic] = qos
			if qos == 1 {
				s.write(wireAck(pktPuback, id))
			}
		}
		require.Equal(t, map[string]byte{"r/a": 0, "r/b": 1}, got)
		waitFor(t, 5*time.Second, "the retained copies to be released", func() bool { return b.copies.usage() == 6*one })
	})
}

// TestBrokerSubscriberNotReadingHurried: a QoS 1 subscriber with a small
// receive buffer never reads. Before: once a write to it blocked (mochi
// holds the client's lock while writing), routing the next QoS 1 copy to
// it waited for that lock, and the publisher got no PUBACK until the
// write timeout (here 20 s). Now the blocked write gets SubscriberStall (1 s)
// more, the subscriber is disconnected and counted, and every PUBACK
// comes within 3 s.
func TestBrokerSubscriberNotReadingHurried(t *testing.T) {
	wirePaths(t, func(t *testing.T, opts BrokerOptions) {
		opts.writeTimeout = 20 * time.Second
		b, _ := startBrokerOpts(t, newMemAppender(), Options{}, opts)
		s := smallRcvDial(t, b.Addr())
		s.write(wireConnect(wireConnectOpts{id: "sleepy", keepalive: 60}))
		s.expect(pktConnack)
		s.write(wireSubscribe(1, "big/#", 1))
		s.expect(pktSuback)
		w, _ := connectWire(t, b.Addr(), wireConnectOpts{id: "pub", keepalive: 60})
		payload := "m v=1\n#" + strings.Repeat("p", 64<<10)
		for i := range 100 {
			start := time.Now()
			w.write(wirePublish("big/x", 1, false, uint16(i+1), payload))
			w.expectAck(pktPuback, uint16(i+1))
			require.Less(t, time.Since(start), 3*time.Second, "PUBACK %d", i+1)
		}
		waitFor(t, 5*time.Second, "the subscriber to be disconnected", func() bool {
			_, ok := b.srv.Clients.Get("sleepy")
			return !ok
		})
		require.Positive(t, b.in.Stats().Limited)
	})
}

// TestSubscriberBytesOption: 0 is the default; less than one packet is a
// configuration error naming the option.
func TestSubscriberBytesOption(t *testing.T) {
	l, err := (&BrokerOptions{}).limits()
	require.NoError(t, err)
	require.EqualValues(t, DefaultMaxSubscriberBytes, l.maxSubscriberBytes)
	_, err = (&BrokerOptions{MaxSubscriberBytes: 1000}).limits()
	require.ErrorIs(t, err, ErrConfig)
	require.ErrorContains(t, err, "max subscriber bytes")
}

// TestBrokerSubscriberBytesQoS0Queue: a QoS 0 subscriber with a small
// receive buffer never reads: its write queue (max_queued_messages) holds
// copies up to MaxSubscriberBytes, not more; the rest are refused and
// counted; when it goes, nothing is held.
func TestBrokerSubscriberBytesQoS0Queue(t *testing.T) {
	wirePaths(t, func(t *testing.T, opts BrokerOptions) {
		opts = budgetOpts(opts)
		b, _ := startBrokerOpts(t, newMemAppender(), Options{DB: "iot"}, opts)
		s := smallRcvDial(t, b.Addr())
		s.write(wireConnect(wireConnectOpts{id: "sleepy", keepalive: 60}))
		s.expect(pktConnack)
		s.write(wireSubscribe(1, "c/#", 0))
		s.expect(pktSuback)
		pub, _ := connectWire(t, b.Addr(), wireConnectOpts{id: "pub", keepalive: 60})
		var peak int64
		// Until the socket buffers are full and copies are refused: at
		// most 3,000 messages (12 MiB).
		for i := 0; i < 3000 && b.in.Stats().Limited == 0; i++ {
			pub.write(wirePublish("c/x", 1, false, uint16(i+1), budgetLine(i)))
			pub.expectAck(pktPuback, uint16(i+1))
			peak = max(peak, b.copies.usage())
		}
		t.Logf("peak %d bytes of copies, the limit %d", peak, opts.MaxSubscriberBytes)
		require.LessOrEqual(t, peak, opts.MaxSubscriberBytes)
		require.Positive(t, b.in.Stats().Limited)
		s.c.Close()
		waitFor(t, 5*time.Second, "the copies to be released", func() bool { return b.copies.usage() == 0 })
	})
}
