package mqtt

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/stretchr/testify/require"

	"github.com/lightningdb/lightningdb/series"
)

// Wire tests of the broker's limits (limits.go, logsafe.go): packet size
// on both read paths, retained messages, in-flight messages, the log.

// hugeHeader is the fixed header of a QoS 1 PUBLISH announcing the
// largest remaining length MQTT allows (268,435,455 bytes).
var hugeHeader = []byte{0x32, 0xff, 0xff, 0xff, 0x7f}

// heapAfterGC is the live heap after a collection.
func heapAfterGC() int64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc)
}

// connackProps returns the properties of a MQTT 5 CONNACK, by identifier
// (4-byte values only, which is what the tests look at), and its reason.
func connackProps(t *testing.T, m wireMsg) (reason byte, u32 map[byte]uint32, u16 map[byte]uint16) {
	t.Helper()
	require.Equal(t, byte(pktConnack), m.typ, "%v", m)
	require.GreaterOrEqual(t, len(m.body), 3, "%v", m)
	reason = m.body[1]
	n, hl, st := packetLen(append([]byte{0}, m.body[2:]...))
	require.Equal(t, lenOK, st, "%v", m)
	p := m.body[2+hl : 2+hl+n]
	u32, u16 = map[byte]uint32{}, map[byte]uint16{}
	for len(p) > 0 {
		id := p[0]
		switch id {
		case 0x11, 0x27: // session expiry, maximum packet size
			u32[id], p = binary.BigEndian.Uint32(p[1:]), p[5:]
		case 0x21, 0x22, 0x13: // receive maximum, topic alias maximum, server keep alive
			u16[id], p = binary.BigEndian.Uint16(p[1:]), p[3:]
		case 0x24, 0x25, 0x28, 0x29, 0x2a: // one byte
			p = p[2:]
		case 0x12, 0x1a, 0x1c, 0x1f, 0x15: // strings
			l := int(binary.BigEndian.Uint16(p[1:]))
			p = p[3+l:]
		default:
			t.Fatalf("CONNACK property %#x not understood by the test: %v", id, m)
		}
	}
	return reason, u32, u16
}

// TestBrokerMaxPacketSize: a fixed header announcing 268,435,455 bytes
// closes the connection at once (MQTT 3.1.1, before and after a
// SUBSCRIBE, MQTT 5 with DISCONNECT 0x95), without the broker reserving the
// announced size; a packet of exactly the limit is served.
func TestBrokerMaxPacketSize(t *testing.T) {
	const limit = 4096
	app := newMemAppender()
	b, _ := startBrokerOpts(t, app, Options{}, BrokerOptions{MaxPacketSize: limit})

	t.Run("at the limit", func(t *testing.T) {
		for _, addr := range []string{b.Addr()} {
			w, _ := connectWire(t, addr, wireConnectOpts{id: "exact"})
			// 3 bytes of fixed header, 5 of topic and packet ID.
			pk := wirePublish("x", 1, false, 9, "m v=1\n#"+strings.Repeat("p", limit-8-len("m v=1\n#")))
			require.Len(t, pk, limit)
			w.write(pk)
			w.expectAck(pktPuback, 9)
			w.write(wirePublish("x", 1, false, 10, "m v=1"+strings.Repeat(" ", limit)))
			w.expectClosed(5 * time.Second)
		}
	})
	before := heapAfterGC()
	paths := []struct {
		name string
		dial func(t *testing.T, i int) *wireConn
		want []byte // the packet before the close, if any
	}{
		{"mochi 3.1.1", func(t *testing.T, i int) *wireConn {
			w, _ := connectWire(t, b.Addr(), wireConnectOpts{id: "m" + strconv.Itoa(i)})
			return w
		}, nil},
		{"3.1.1 after SUBSCRIBE", func(t *testing.T, i int) *wireConn {
			w, _ := connectWire(t, b.Addr(), wireConnectOpts{id: "sub" + strconv.Itoa(i)})
			w.write(wireSubscribe(1, "a/#", 1))
			w.expect(pktSuback)
			return w
		}, nil},
		{"MQTT 5", func(t *testing.T, i int) *wireConn {
			w := dialWire(t, b.Addr())
			w.write(wireConnect5("v5-" + strconv.Itoa(i)))
			reason, u32, _ := connackProps(t, w.expect(pktConnack))
			require.Zero(t, reason)
			require.Equal(t, uint32(limit), u32[0x27], "CONNACK announces the maximum packet size")
			return w
		}, []byte{0x95}},
	}
	for _, p := range paths {
		t.Run(p.name, func(t *testing.T) {
			for i := range 4 {
				w := p.dial(t, i)
				w.write(hugeHeader, []byte("abc"))
				got := w.expectClosed(5 * time.Second)
				if p.want != nil {
					require.Len(t, got, 1, "%v", got)
					require.Equal(t, byte(pktDisconnect), got[0].typ, "%v", got)
					require.Equal(t, p.want, got[0].body[:1], "DISCONNECT reason: %v", got)
				}
			}
		})
	}
	grew := heapAfterGC() - before
	t.Logf("heap grew by %d KiB for 16 over-size headers", grew>>10)
	require.Less(t, grew, int64(32<<20), "the broker reserved the announced sizes")
	require.EqualValues(t, 1+len(paths)*4, b.in.Stats().Limited, "rejections counted")
}

// TestBrokerPartialPacketHeldByArrival: on mochi's path, 16 connections
// that announce a packet just under the limit and send 3 bytes of it
// hold what they sent, not the announced size (mochi sizes its buffer
// from the header; the gate releases a packet only once it arrived).
func TestBrokerPartialPacketHeldByArrival(t *testing.T) {
	b, _ := startBrokerOpts(t, newMemAppender(), Options{}, BrokerOptions{MaxPacketSize: 16 << 20})
	var ws []*wireConn
	for i := range 16 {
		w, _ := connectWire(t, b.Addr(), wireConnectOpts{id: "p" + strconv.Itoa(i)})
		ws = append(ws, w)
	}
	before := heapAfterGC()
	for _, w := range ws {
		// ~16 MiB announced, 3 bytes sent; the PINGRESP tells that the
		// broker read up to the header.
		w.write(wirePingreq, []byte{0x32, 0xf0, 0xff, 0xff, 0x07}, []byte{0, 1, 'a'})
		w.expect(pktPingresp)
	}
	ws[0].expectSilence(300 * time.Millisecond)
	grew := heapAfterGC() - before
	t.Logf("heap grew by %d KiB for 16 connections announcing 16 MiB each", grew>>10)
	require.Less(t, grew, int64(32<<20), "mochi reserved the announced sizes")
}

// TestBrokerRetainedLimits: retained messages over the count or byte
// limit are stored and acknowledged but not retained, and counted; a
// replacement and a deletion (empty payload) are always possible.
func TestBrokerRetainedLimits(t *testing.T) {
	wirePaths(t, func(t *testing.T, opts BrokerOptions) {
		opts.MaxRetainedMessages, opts.MaxRetainedBytes = 3, 1000
		app := newMemAppender()
		b, _ := startBrokerOpts(t, app, Options{DB: "iot"}, opts)
		w, _ := connectWire(t, b.Addr(), wireConnectOpts{id: "pub"})
		for i := range 5 { // topics 3 and 4 over the count
			w.write(wirePublish("r/"+strconv.Itoa(i), 1, true, uint16(i+1), wireLine("ret", i)))
			w.expectAck(pktPuback, uint16(i+1))
			requireWireStored(t, app, "ret", i)
		}
		big := wireLine("ret", 9) + strings.Repeat(" ", 900)
		w.write(wirePublish("r/0", 1, true, 20, big)) // over the bytes
		w.expectAck(pktPuback, 20)
		w.write(wirePublish("r/1", 1, true, 21, wireLine("ret", 11))) // replacement
		w.expectAck(pktPuback, 21)
		w.write(wirePublish("r/2", 1, true, 22, "")) // deletion frees a place
		w.expectAck(pktPuback, 22)
		w.write(wirePublish("r/4", 1, true, 23, wireLine("ret", 14)))
		w.expectAck(pktPuback, 23)
		// The PUBACK leaves on commit, before the message is routed: a
		// subscriber arriving now could get it live too, besides retained.
		// The connection's packets are handled in order, so the PINGRESP
		// comes once the routing is done.
		w.write(wirePingreq)
		w.expect(pktPingresp)
		s, _ := connectWire(t, b.Addr(), wireConnectOpts{id: "sub"})
		s.write(wireSubscribe(1, "r/#", 0))
		s.expect(pktSuback)
		got := map[string]string{}
		for range 3 {
			topic, _, retain, _, payload := s.expect(pktPublish).publish(t)
			require.True(t, retain)
			got[topic] = payload
		}
		s.expectSilence(200 * time.Millisecond)
		require.Equal(t, map[string]string{"r/0": wireLine("ret", 0), "r/1": wireLine("ret", 11), "r/4": wireLine("ret", 14)}, got)
		require.EqualValues(t, 3, b.in.Stats().Limited, "refusals counted: topics 3, 4 and the big one")
		n, bytes := b.ret.usage()
		require.Equal(t, 3, n)
		require.EqualValues(t, len("r/0r/1r/4")+len(got["r/0"])+len(got["r/1"])+len(got["r/4"]), bytes)
	})
}

// TestBrokerReceiveMaximum: an MQTT 5 client learns the Receive Maximum
// from the CONNACK and is disconnected (0x93) when it sends more QoS 2
// messages than that without completing them.
func TestBrokerReceiveMaximum(t *testing.T) {
	b, _ := startBrokerOpts(t, newMemAppender(), Options{}, BrokerOptions{MaxInflight: 2})
	w := dialWire(t, b.Addr())
	w.write(wireConnect5("rm"))
	_, _, u16 := connackProps(t, w.expect(pktConnack))
	require.EqualValues(t, 2, u16[0x21], "receive maximum")
	for i := range 3 {
		body := wireAppendString(nil, "q2")
		body = binary.BigEndian.AppendUint16(body, uint16(i+1))
		body = append(body, 0)
		w.write(wirePacket(pktPublish<<4|2<<1, append(body, wireLine("q2", i)...)))
	}
	w.expect(pktPubrec)
	w.expect(pktPubrec)
	got := w.expectClosed(5 * time.Second)
	require.Len(t, got, 1, "%v", got)
	require.Equal(t, byte(pktDisconnect), got[0].typ, "%v", got)
	require.Equal(t, byte(0x93), got[0].body[0], "%v", got)
	waitFor(t, 5*time.Second, "the refusal to be counted", func() bool { return b.in.Stats().Limited == 1 })
}

// syncBuffer is a log sink the broker's goroutines write to.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Len()
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestBrokerLogStaysSmall: what clients send does not grow the log with
// their payloads or with one line each: a QoS 1 PUBLISH with packet ID 0
// and a 512 KiB payload (mochi logs the packet it could not process), 50
// MQTT 5 clients with keep alive 0 (mochi warns about each), 50
// over-size packets.
func TestBrokerLogStaysSmall(t *testing.T) {
	var sink syncBuffer
	log := slog.New(slog.NewTextHandler(&sink, &slog.HandlerOptions{Level: slog.LevelInfo}))
	b, _ := startBrokerOpts(t, newMemAppender(), Options{Logger: log},
		BrokerOptions{Logger: log})
	start := sink.Len()
	payload := strings.Repeat("x", 512<<10)
	for i := range 20 {
		w := dialWire(t, b.Addr())
		w.write(wireConnect5("pid0-" + strconv.Itoa(i)))
		w.expect(pktConnack)
		w.write(wirePublish5("t", 0, payload))
		w.expectClosed(5 * time.Second)
	}
	for i := range 50 {
		w := dialWire(t, b.Addr())
		w.write(wireConnect5("ka0-" + strconv.Itoa(i)))
		w.expect(pktConnack)
		w.write(hugeHeader)
		w.expectClosed(5 * time.Second)
	}
	logged := sink.String()[start:]
	t.Logf("%d bytes logged:\n%s", len(logged), logged)
	require.Less(t, len(logged), 8<<10, "the log grew with what the clients sent")
	require.NotContains(t, logged, "120 120 120", "payload bytes in the log")
	require.NotContains(t, logged, "xxxx", "payload bytes in the log")
}

// TestSafeHandler: packets, byte slices and long strings are summarised,
// mochi's keep-alive warning is a debug line, and each warning is
// written logBurst times per window, the next one telling how many were
// suppressed.
func TestSafeHandler(t *testing.T) {
	var buf bytes.Buffer
	now := time.Unix(1700000000, 0)
	h := newSafeHandler(slog.NewTextHandler(&buf, nil), func() time.Time { return now })
	log := slog.New(h)
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1}, TopicName: "a/b",
		Payload: bytes.Repeat([]byte{'z'}, 100_000)}
	log.Warn("error processing packet", "pk", pk, "raw", pk.Payload, "topic", strings.Repeat("t", 10_000),
		"err", errors.New(strings.Repeat("e", 10_000)))
	line := buf.String()
	require.Less(t, len(line), 2000, line)
	require.Contains(t, line, "pk.payload_bytes=100000")
	require.Contains(t, line, "raw_bytes=100000")
	require.NotContains(t, line, "zzz")
	buf.Reset()
	log.Warn(mochiKeepaliveWarning, "client", "c1", "keepalive", 0)
	require.Empty(t, buf.String(), "keep-alive warning at info level")
	for range 10 {
		log.Warn("same", "i", 1)
	}
	require.Equal(t, logBurst, strings.Count(buf.String(), "msg=same"))
	now = now.Add(logWindow)
	log.Warn("same", "i", 2)
	require.Contains(t, buf.String(), "suppressed="+strconv.Itoa(10-logBurst))
}

// TestJSONTimestampRange: a JSON point whose time is outside the stored
// range is refused with ErrTimestamp (wrapping series.ErrTimestampRange),
// the other points of the message are kept; an MQTT 5 client whose
// message had no point in range gets PUBACK 0x99.
func TestJSONTimestampRange(t *testing.T) {
	app := newMemAppender()
	rules := []Rule{{Filter: "j/#", Format: FormatJSON, JSON: JSONMapping{TimeKey: "t", TimeFormat: "unix_ns"}}}
	b, _ := startBrokerOpts(t, app, Options{}, BrokerOptions{Rules: rules})
	o := DefaultOptions()
	o.fill()
	r, err := compileRule(rules[0], &o)
	require.NoError(t, err)
	var batch series.Batch
	err = r.dec.decode(&batch, "j/x", []byte(`[{"v":1,"t":9223372036854775807},{"v":2,"t":1700000000000000000},{"v":3,"t":-9223372036854775808}]`), 0)
	require.ErrorIs(t, err, ErrTimestamp)
	require.ErrorIs(t, err, series.ErrTimestampRange)
	require.Equal(t, 1, batch.Samples(), "the point in range is kept")
	w := dialWire(t, b.Addr())
	w.write(wireConnect5("js"))
	w.expect(pktConnack)
	w.write(wirePublish5("j/x", 1, `{"v":1,"t":9223372036854775807}`))
	require.Equal(t, byte(0x99), ackReason5(t, w.expect(pktPuback), 1))
	w.write(wirePublish5("j/x", 2, `[{"v":1,"t":9223372036854775807},{"v":2,"t":1700000000000000000}]`))
	require.Equal(t, byte(0), ackReason5(t, w.expect(pktPuback), 2))
	require.Equal(t, 1, app.count())
}

// FuzzPacketGate: whatever the stream and however it is split, the gate
// returns a prefix of it made of whole packets, each no larger than the
// limit, and stops (with an error) only at the end, a malformed length or
// a packet over the limit.
func FuzzPacketGate(f *testing.F) {
	f.Add([]byte{}, concatWire(wireConnect(wireConnectOpts{id: "a"}), wirePublish("t", 1, false, 1, "m v=1")), uint16(64), byte(3))
	f.Add(wireConnect5("x"), hugeHeader, uint16(100), byte(1))
	f.Add([]byte{0x10}, []byte{0x80, 0x80, 0x80, 0x80, 0x01}, uint16(100), byte(7))
	f.Add([]byte{}, concatWire(wirePingreq, wirePingreq, []byte{0x30, 0x10, 0, 1}), uint16(64), byte(2))
	f.Add(wireConnect5("x"), []byte{0x82, 6, 0, 1, 0, 0, 1, 'a'}, uint16(100), byte(3))
	f.Fuzz(func(t *testing.T, pre, stream []byte, maxSize uint16, chunk byte) {
		all := append(bytes.Clone(pre), stream...)
		g := packetGate{max: int(maxSize), buf: bytes.Clone(pre)}
		src := &chunkRW{data: stream, chunk: int(chunk)%16 + 1}
		var out []byte
		p := make([]byte, 7)
		var err error
		for range 100_000 {
			var n int
			n, err = g.read(src, p)
			out = append(out, p[:n]...)
			if err != nil {
				break
			}
		}
		require.Error(t, err, "the gate never stopped")
		require.True(t, bytes.Equal(all[:len(out)], out), "not a prefix of the stream: % x of % x", out, all)
		for rest := out; len(rest) > 0; {
			rem, hl, st := packetLen(rest)
			require.Equal(t, lenOK, st)
			total := 1 + hl + rem
			require.LessOrEqual(t, total, len(rest), "a partial packet was released")
			require.LessOrEqual(t, total, int(maxSize), "a packet over the limit was released")
			rest = rest[total:]
		}
		require.LessOrEqual(t, cap(g.buf), 2*len(all)+8<<10, "the buffer grew beyond what arrived")
		if errors.Is(err, io.EOF) {
			return
		}
		if !errors.Is(err, errPacketTooLarge) && !errors.Is(err, errDecoderPanic) { // a SUBSCRIBE mochi cannot decode
			require.ErrorContains(t, err, "malformed remaining length")
		}
	})
}

// chunkRW returns data chunk bytes at a time, then io.EOF; it discards
// writes.
type chunkRW struct {
	data  []byte
	chunk int
}

func (c *chunkRW) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), c.chunk)], c.data)
	c.data = c.data[n:]
	return n, nil
}

func (c *chunkRW) Write(p []byte) (int, error) { return len(p), nil }

// TestBrokerSubscriberNotReadingClosed: a subscriber that stops reading
// (keep alive 0, so mochi sets no deadline) while 64 KiB messages arrive
// for it is closed once a write to it blocked for the write timeout,
// instead of holding its queue (up to MaxQueued copies) for ever.
func TestBrokerSubscriberNotReadingClosed(t *testing.T) {
	b, _ := startBrokerOpts(t, newMemAppender(), Options{}, BrokerOptions{writeTimeout: 500 * time.Millisecond})
	s := smallRcvDial(t, b.Addr())
	s.write(wireConnect(wireConnectOpts{id: "sleepy"}))
	s.expect(pktConnack)
	s.write(wireSubscribe(1, "big/#", 0))
	s.expect(pktSuback)
	w, _ := connectWire(t, b.Addr(), wireConnectOpts{id: "pub"})
	payload := "m v=1\n#" + strings.Repeat("p", 64<<10)
	for i := range 200 {
		w.write(wirePublish("big/x", 1, false, uint16(i+1), payload))
		w.expectAck(pktPuback, uint16(i+1))
	}
	waitFor(t, 10*time.Second, "the subscriber to be disconnected", func() bool {
		_, ok := b.srv.Clients.Get("sleepy")
		return !ok
	})
	s.expectClosed(10 * time.Second)
}

// TestBrokerRetainedWillLimited: a will with the retain flag counts
// against the retained limits too (mochi retains it without OnPublish).
func TestBrokerRetainedWillLimited(t *testing.T) {
	b, _ := startBrokerOpts(t, newMemAppender(), Options{DB: "iot"}, BrokerOptions{MaxRetainedMessages: 1})
	w, _ := connectWire(t, b.Addr(), wireConnectOpts{id: "pub"})
	w.write(wirePublish("r/0", 1, true, 1, wireLine("ret", 0)))
	w.expectAck(pktPuback, 1)
	for i := range 3 {
		c := wireConnect(wireConnectOpts{id: "will" + strconv.Itoa(i), willTopic: "w/" + strconv.Itoa(i), willMsg: "gone"})
		c[9] |= 0x20 // will retain (fixed header 2 bytes, "MQTT" 6, level 1)
		ww := dialWire(t, b.Addr())
		ww.write(c)
		ww.expect(pktConnack)
		ww.c.Close() // no DISCONNECT: the will is sent
	}
	waitFor(t, 5*time.Second, "3 wills refused retention", func() bool { return b.in.Stats().Limited == 3 })
	s, _ := connectWire(t, b.Addr(), wireConnectOpts{id: "sub"})
	s.write(wireSubscribe(1, "#", 0))
	s.expect(pktSuback)
	topic, _, retain, _, _ := s.expect(pktPublish).publish(t)
	require.True(t, retain)
	require.Equal(t, "r/0", topic)
	s.expectSilence(200 * time.Millisecond)
}

// TestBrokerSessionExpiryCapped: an MQTT 5 client asking for sessions
// kept for ever (expiry 0xFFFFFFFF) is told the broker's maximum in the
// CONNACK; before, mochi kept them for ever.
func TestBrokerSessionExpiryCapped(t *testing.T) {
	b, _ := startBrokerOpts(t, newMemAppender(), Options{}, BrokerOptions{MaxSessionExpiry: time.Hour})
	body := wireAppendString(nil, "MQTT")
	body = append(body, 5, 0x00, 0, 30, 5, 0x11, 0xff, 0xff, 0xff, 0xff) // clean start 0, session expiry 0xFFFFFFFF
	body = wireAppendString(body, "forever")
	w := dialWire(t, b.Addr())
	w.write(wirePacket(pktConnect<<4, body))
	reason, u32, _ := connackProps(t, w.expect(pktConnack))
	require.Zero(t, reason)
	require.EqualValues(t, 3600, u32[0x11], "session expiry capped and announced")
}

// TestBrokerMaxClients: with MaxClients clients held (on the loop, on
// mochi, and a session mochi keeps for a client that left), a new client
// is refused (3.1.1: CONNACK 0x03, MQTT 5: 0x89) and counted; a client
// taking its session over still connects, and a place freed is taken.
func TestBrokerMaxClients(t *testing.T) {
	b, _ := startBrokerOpts(t, newMemAppender(), Options{}, BrokerOptions{MaxClients: 3})
	a, _ := connectWire(t, b.Addr(), wireConnectOpts{id: "a"})
	connectWire(t, b.Addr(), wireConnectOpts{id: "b"})
	gone := dialWire(t, b.Addr())
	body := wireAppendString(nil, "MQTT")
	body = append(body, 5, 0x00, 0, 30, 5, 0x11, 0, 0, 0x0e, 0x10) // clean start 0, session expiry 3600
	gone.write(wirePacket(pktConnect<<4, wireAppendString(body, "kept")))
	gone.expect(pktConnack)
	gone.write([]byte{0xe0, 0})
	gone.expectClosed(5 * time.Second)
	w := dialWire(t, b.Addr())
	w.write(wireConnect(wireConnectOpts{id: "d"}))
	m := w.expect(pktConnack)
	require.Equal(t, []byte{0, 3}, m.body, "3.1.1: server unavailable")
	w.expectClosed(5 * time.Second)
	v5 := dialWire(t, b.Addr())
	v5.write(wireConnect5("e"))
	reason, _, _ := connackProps(t, v5.expect(pktConnack))
	require.Equal(t, byte(0x89), reason, "MQTT 5: server busy")
	v5.expectClosed(5 * time.Second)
	connectWire(t, b.Addr(), wireConnectOpts{id: "a"}) // takes a's session over
	a.expectClosedQuietly(5 * time.Second)
	require.EqualValues(t, 2, b.in.Stats().Limited)
	waitFor(t, 5*time.Second, "a place to be freed", func() bool {
		w := dialWire(t, b.Addr())
		w.write(wireConnect(wireConnectOpts{id: "b"})) // takes b over: no place needed
		w.expect(pktConnack)
		w.write(wireDisconnect)
		w.expectClosed(5 * time.Second)
		return !b.full()
	})
	connectWire(t, b.Addr(), wireConnectOpts{id: "f"})
}

// TestBrokerPendingHandshakesBounded: connections that send nothing are
// bounded by MaxClients while they wait for their CONNECT (10 s); one
// more is closed at once and counted.
func TestBrokerPendingHandshakesBounded(t *testing.T) {
	wirePaths(t, func(t *testing.T, opts BrokerOptions) {
		opts.MaxClients = 5
		b, _ := startBrokerOpts(t, newMemAppender(), Options{}, opts)
		l := b.ln.(*listener)
		for range 5 {
			dialWire(t, b.Addr())
		}
		waitFor(t, 5*time.Second, "5 connections in their handshake", func() bool {
			l.mu.Lock()
			defer l.mu.Unlock()
			return l.pending == 5
		})
		w := dialWire(t, b.Addr())
		w.expectClosed(5 * time.Second)
		require.EqualValues(t, 1, b.in.Stats().Limited)
	})
}

// TestBrokerHandshakeTimeoutMochi: mochi reads the CONNECT itself and
// sets no deadline for it: a connection that sent nothing, or half a
// CONNECT, stayed for ever. Now it has handshakeTimeout.
func TestBrokerHandshakeTimeoutMochi(t *testing.T) {
	t.Parallel()
	b, _ := startBrokerOpts(t, newMemAppender(), Options{}, BrokerOptions{})
	start := time.Now()
	silent := dialWire(t, b.Addr())
	half := dialWire(t, b.Addr())
	half.write(wireConnect(wireConnectOpts{id: "half"})[:5])
	silent.expectClosed(handshakeTimeout + 5*time.Second)
	half.expectClosed(5 * time.Second)
	require.GreaterOrEqual(t, time.Since(start), handshakeTimeout-time.Second)
}
