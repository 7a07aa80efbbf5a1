//go:build linux

package mqtt

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// TestPublishLoopServesPublishers: a MQTT 3.1.1 publisher is served by the
// publish loop (mochi does not know the client, yet counts it as
// connected) until it subscribes; then mochi serves it, and the PUBLISH
// after the SUBSCRIBE of the same write is still acknowledged and routed.
// With NoPublishLoop mochi serves it from the start.
func TestPublishLoopServesPublishers(t *testing.T) {
	for _, noLoop := range []bool{false, true} {
		t.Run(fmt.Sprintf("NoPublishLoop=%v", noLoop), func(t *testing.T) {
			app := newMemAppender()
			b, _ := startBroker(t, app, BrokerOptions{NoPublishLoop: noLoop})
			w, _ := connectWire(t, b.Addr(), wireConnectOpts{id: "loop1"})
			w.write(wirePublish("plant/a", 1, false, 1, wireLine("loop", 1)))
			w.expectAck(pktPuback, 1)
			requireWireStored(t, app, "loop", 1)
			_, mochis := b.srv.Clients.Get("loop1")
			require.Equal(t, noLoop, mochis, "client known to mochi")
			require.EqualValues(t, 1, atomic.LoadInt64(&b.srv.Info.ClientsConnected))

			w.write(wireSubscribe(2, "plant/#", 1), wirePublish("plant/b", 1, false, 3, wireLine("loop", 3)))
			require.EqualValues(t, 2, w.expect(pktSuback).id())
			var acked, routed bool
			for !acked || !routed {
				m, err := w.read(5 * time.Second)
				require.NoError(t, err)
				switch m.typ {
				case pktPuback:
					require.EqualValues(t, 3, m.id(), "%v", m)
					acked = true
				case pktPublish:
					topic, qos, _, id, payload := m.publish(t)
					require.Equal(t, "plant/b", topic)
					require.Equal(t, wireLine("loop", 3), payload)
					if qos > 0 {
						w.write(wireAck(pktPuback, id))
					}
					routed = true
				default:
					t.Fatalf("unexpected %v", m)
				}
			}
			requireWireStored(t, app, "loop", 3)
			_, mochis = b.srv.Clients.Get("loop1")
			require.True(t, mochis, "mochi serves the client after its SUBSCRIBE")
			waitFor(t, 5*time.Second, "one connected client", func() bool {
				return atomic.LoadInt64(&b.srv.Info.ClientsConnected) == 1
			})
		})
	}
}

// TestPublishLoopTakeoverByMochi: a client that reconnects with the same ID
// and a will (so mochi serves it) closes the publish loop's connection.
func TestPublishLoopTakeoverByMochi(t *testing.T) {
	app := newMemAppender()
	b, _ := startBroker(t, app, BrokerOptions{})
	old, _ := connectWire(t, b.Addr(), wireConnectOpts{id: "dup"})
	old.write(wirePublish("plant/a", 1, false, 1, wireLine("dup", 1)))
	old.expectAck(pktPuback, 1)
	_, mochis := b.srv.Clients.Get("dup")
	require.False(t, mochis, "the first connection is the loop's")

	nw, _ := connectWire(t, b.Addr(), wireConnectOpts{id: "dup", willTopic: "will/dup", willMsg: "gone", willQoS: 1})
	old.expectClosed(3 * time.Second)
	nw.write(wirePublish("plant/a", 1, false, 2, wireLine("dup", 2)))
	nw.expectAck(pktPuback, 2)
	requireWireStored(t, app, "dup", 2)
	_, mochis = b.srv.Clients.Get("dup")
	require.True(t, mochis)
}

// TestPublishLoopKeepaliveDuringSlowAppend: while its loop waits for a slow
// Append, a client's PINGREQs stay unread; the keep-alive sweep after it
// must not take that for silence. The loop's clock is the test's: it
// moves past 1.5 × the keep alive while the loop waits.
func TestPublishLoopKeepaliveDuringSlowAppend(t *testing.T) {
	app := newGateAppender()
	clk := newFakeClock()
	b, _ := startHookedBroker(t, app, BrokerOptions{now: clk.now})
	w, _ := connectWire(t, b.Addr(), wireConnectOpts{id: "ka", keepalive: 1})
	w.write(wirePublish("plant/a", 1, false, 1, wireLine("ka", 1)))
	select {
	case <-app.entered:
	case <-time.After(5 * time.Second):
		t.Fatal("no Append")
	}
	sfd := serverFD(t, b, w.c)
	for range 8 {
		w.write(wirePingreq)
	}
	waitFor(t, 5*time.Second, "the PINGREQs queued on the server", func() bool {
		n, err := unix.IoctlGetInt(sfd, unix.SIOCINQ)
		return err == nil && n == 8*len(wirePingreq)
	})
	clk.advance(3 * time.Second) // past 1.5 × the keep alive, and a sweep is due
	w.expectSilence(100 * time.Millisecond)
	close(app.release)
	w.expectAck(pktPuback, 1)
	for range 8 {
		w.expect(pktPingresp)
	}
	w.write(wirePingreq)
	w.expect(pktPingresp)
	app.mu.Lock()
	defer app.mu.Unlock()
	require.Equal(t, 1, app.appended)
}

// TestPublishLoopKeepaliveExpires: a client silent for 1.5 × its keep
// alive on the loop's clock is closed by the sweep; one that pings in
// time is not.
func TestPublishLoopKeepaliveExpires(t *testing.T) {
	clk := newFakeClock()
	b, _ := startBroker(t, newMemAppender(), BrokerOptions{now: clk.now})
	silent, _ := connectWire(t, b.Addr(), wireConnectOpts{id: "silent", keepalive: 10})
	pinging, _ := connectWire(t, b.Addr(), wireConnectOpts{id: "pinging", keepalive: 10})
	require.NotNil(t, loopOf(b, "silent"), "the silent client is not on a loop")
	for range 4 { // 4 × 10 s on the loop's clock, a ping every 10 s
		clk.advance(10 * time.Second)
		pinging.write(wirePingreq)
		pinging.expect(pktPingresp)
	}
	waitFor(t, 5*time.Second, "the silent client's loop to close it", func() bool { return loopOf(b, "silent") == nil })
	silent.expectClosedQuietly(5 * time.Second)
	require.NotNil(t, loopOf(b, "pinging"), "a client pinging within its keep alive was closed")
}

// TestPublishLoopRejectionAccounting: many clients publish at once, so
// loop rounds hold messages of many connections; some messages carry a
// sample storage refuses (a type conflict). Every message is acknowledged,
// and the counters attribute each refusal to its own message.
func TestPublishLoopRejectionAccounting(t *testing.T) {
	app := newMemAppender()
	b, in := startBroker(t, app, BrokerOptions{})
	w, _ := connectWire(t, b.Addr(), wireConnectOpts{id: "first"})
	w.write(wirePublish("plant/c", 1, false, 1, "conf,c=x v=1 1700000000000000000"))
	w.expectAck(pktPuback, 1)

	const clients, msgs = 40, 10
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := publishRaw(b.Addr(), c, msgs); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	st := in.Stats()
	rejectedMsgs := (msgs + 2) / 3 // j = 0, 3, 6, 9
	require.EqualValues(t, 1+clients*msgs, st.Messages)
	require.EqualValues(t, 1+clients*msgs, st.Samples, "stored samples")
	require.EqualValues(t, clients*rejectedMsgs, st.Rejected, "refused samples")
	require.EqualValues(t, clients*rejectedMsgs, st.ParseErrors, "messages with a refusal")
	require.EqualValues(t, 1+clients*msgs, st.Acked)
	for c := range clients {
		for j := range msgs {
			key := fmt.Sprintf(`ok_v{c="%d", db="iot"}@%d`, c, 1700000000000000000+int64(j))
			app.mu.Lock()
			v := app.data[key]
			app.mu.Unlock()
			require.Equal(t, fmt.Sprintf("float:%d", j), v, key)
		}
	}
}

// publishRaw connects client c and publishes msgs QoS 1 messages, every
// third with a string sample for the float series conf, pipelined in one
// write, and checks the PUBACKs.
func publishRaw(addr string, c, msgs int) error {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	out := wireConnect(wireConnectOpts{id: "c" + strconv.Itoa(c)})
	for j := range msgs {
		payload := fmt.Sprintf("ok,c=%d v=%d %d", c, j, 1700000000000000000+int64(j))
		if j%3 == 0 {
			payload += fmt.Sprintf("\nconf,c=x v=\"s\" %d", 1700000000000000000+int64(c*msgs+j))
		}
		out = append(out, wirePublish("plant/c", 1, false, uint16(j+1), payload)...)
	}
	if _, err := conn.Write(out); err != nil {
		return err
	}
	want := []byte{0x20, 2, 0, 0}
	for j := range msgs {
		want = append(want, 0x40, 2, 0, byte(j+1))
	}
	got := make([]byte, len(want))
	if _, err := ioReadFull(conn, got); err != nil {
		return fmt.Errorf("client %d: %w", c, err)
	}
	if !bytes.Equal(got, want) {
		return fmt.Errorf("client %d: got % x, want % x", c, got, want)
	}
	return nil
}

func ioReadFull(conn net.Conn, p []byte) (int, error) {
	n := 0
	for n < len(p) {
		k, err := conn.Read(p[n:])
		n += k
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// FuzzPublishLoopFraming: any byte stream splits into packets without a
// panic, each split moves forward, and a PUBLISH that decodes encodes back
// to its own body.
func FuzzPublishLoopFraming(f *testing.F) {
	f.Add(wirePublish("a/b", 1, false, 7, "m,t=1 v=1"))
	f.Add(concatWire(wirePublish("a", 0, true, 0, "x"), wirePingreq, wireSubscribe(2, "a/#", 1)))
	f.Add([]byte{0x32, 0xff, 0xff, 0xff, 0x7f})
	f.Add([]byte{0x32, 0x80, 0x80, 0x80, 0x80, 0x01})
	f.Add([]byte{0x30, 0x02, 0x00, 0x05})
	f.Add([]byte{0x32, 0x05, 0x00, 0x01, '+', 0x00, 0x00})
	f.Fuzz(func(t *testing.T, data []byte) {
		for len(data) > 0 {
			rem, hl, st := packetLen(data)
			if st != lenOK {
				require.True(t, st == lenBad || len(data) < 5, "short header of %d bytes", len(data))
				return
			}
			require.Positive(t, hl)
			require.LessOrEqual(t, hl, 4)
			total := 1 + hl + rem
			if total > len(data) {
				return
			}
			first, body := data[0], data[1+hl:total]
			if first>>4 == 3 && first>>1&3 < 2 {
				topic, pid, payload, bad := decodePublish(first, body)
				if bad == "" {
					require.NotEmpty(t, topic)
					enc := binary.BigEndian.AppendUint16(nil, uint16(len(topic)))
					enc = append(enc, topic...)
					if first>>1&3 == 1 {
						require.NotZero(t, pid)
						enc = binary.BigEndian.AppendUint16(enc, pid)
					}
					enc = append(enc, payload...)
					require.Equal(t, body, enc)
				}
			}
			data = data[total:]
		}
	})
}

// FuzzParseConnect: parseConnect never panics, and a well-formed MQTT
// 3.1.1 CONNECT without a will comes back with its fields.
func FuzzParseConnect(f *testing.F) {
	f.Add("dev1", "u", "p", true, true, true, uint16(30), []byte{})
	f.Add("", "", "", true, false, false, uint16(0), []byte{1})
	f.Add("\xff", "u", "", false, true, false, uint16(60), []byte{})
	f.Fuzz(func(t *testing.T, id, user, pass string, clean, hasUser, hasPass bool, keepalive uint16, junk []byte) {
		parseConnect(junk) // arbitrary bytes: no panic
		var flags byte
		if clean {
			flags |= 0x02
		}
		if hasUser {
			flags |= 0x80
		}
		if hasPass {
			flags |= 0x40
		}
		body := wireAppendString(nil, "MQTT")
		body = append(body, 4, flags)
		body = binary.BigEndian.AppendUint16(body, keepalive)
		body = wireAppendString(body, id)
		if hasUser {
			body = wireAppendString(body, user)
		}
		if hasPass {
			body = wireAppendString(body, pass)
		}
		ci := parseConnect(body)
		// The loop serves what mochi accepts too; plain ASCII fields, a
		// password only with a username and not empty, are accepted.
		plain := func(s string) bool {
			for _, r := range s {
				if r < 0x20 || r > 0x7e {
					return false
				}
			}
			return len(s) < 1<<16
		}
		simple := plain(id) && plain(user) && len(pass) < 1<<16 && (!hasPass || hasUser && len(pass) > 0)
		if simple {
			require.True(t, ci.loop, "a plain CONNECT is the loop's")
		}
		if !ci.loop {
			return
		}
		require.True(t, utf8.ValidString(id) && (!hasPass || hasUser), "the loop took a CONNECT mochi refuses")
		require.Equal(t, id, ci.id)
		require.Equal(t, clean, ci.clean)
		require.Equal(t, keepalive, ci.keepalive)
		require.Equal(t, hasUser, ci.hasUser)
		require.Equal(t, hasPass, ci.hasPass)
		if hasUser {
			require.Equal(t, user, string(ci.user))
		}
		if hasPass {
			require.Equal(t, pass, string(ci.pass))
		}
		raw, ci2, err := readConnect(bytes.NewReader(append(wirePacket(0x10, body), junk...)), 1<<28)
		require.NoError(t, err)
		require.Equal(t, wirePacket(0x10, body), raw, "readConnect reads exactly the CONNECT")
		require.Equal(t, ci, ci2)
	})
}

// BenchmarkPublishLoop: 100 raw MQTT 3.1.1 publishers over loopback, one
// QoS 1 message of one line-protocol sample in flight each, through the
// publish loop into an appender that returns at once. Reports messages per
// second and per Append; allocations include the publishers'.
func BenchmarkPublishLoop(b *testing.B) {
	app := &nopAppender{}
	in, err := New(app, Options{})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { in.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	br, err := NewBroker(in, BrokerOptions{Addr: "127.0.0.1:0"})
	if err != nil {
		b.Fatal(err)
	}
	if err := br.Serve(); err != nil {
		b.Fatal(err)
	}
	defer br.Close()
	const clients = 100
	conns := make([]net.Conn, clients)
	for i := range conns {
		c, err := net.Dial("tcp", br.Addr())
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		if _, err := c.Write(wireConnect(wireConnectOpts{id: "bench" + strconv.Itoa(i)})); err != nil {
			b.Fatal(err)
		}
		var ack [4]byte
		if _, err := ioReadFull(c, ack[:]); err != nil {
			b.Fatal(err)
		}
		conns[i] = c
	}
	pkt := wirePublish("bench/d1", 1, false, 1, "bench,dev=d1 v=1.5")
	b.SetBytes(int64(len(pkt)))
	b.ReportAllocs()
	b.ResetTimer()
	var next atomic.Int64
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := bytes.Clone(pkt)
			var ack [4]byte
			for next.Add(1) <= int64(b.N) {
				if _, err := c.Write(p); err != nil {
					b.Error(err)
					return
				}
				if _, err := ioReadFull(c, ack[:]); err != nil || ack[0] != 0x40 {
					b.Errorf("ack % x: %v", ack, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	b.ReportMetric(float64(b.N)/float64(max(app.batches.Load(), 1)), "msgs/Append")
}
