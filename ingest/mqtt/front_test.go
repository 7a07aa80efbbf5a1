//go:build linux

package mqtt

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	paho5 "github.com/eclipse/paho.golang/paho"
	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/lightningdb/lightningdb/internal/mosquittotest"
)

// startFront starts a broker with the publish front end and returns it
// with the front end's address.
func startFront(t *testing.T, app *memAppender, opts BrokerOptions) (*Broker, string) {
	t.Helper()
	opts.PublishAddr = "127.0.0.1:0"
	b, _ := startBroker(t, app, opts)
	require.NotEmpty(t, b.PublishAddr())
	return b, b.PublishAddr()
}

// connectPaho5 connects an MQTT 5 client (paho.golang) to addr.
func connectPaho5(t *testing.T, addr, id string, onMsg func(*paho5.Publish)) *paho5.Client {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	require.NoError(t, err)
	cfg := paho5.ClientConfig{ClientID: id, Conn: conn}
	if onMsg != nil {
		cfg.OnPublishReceived = []func(paho5.PublishReceived) (bool, error){
			func(pr paho5.PublishReceived) (bool, error) { onMsg(pr.Packet); return true, nil }}
	}
	c := paho5.NewClient(cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ca, err := c.Connect(ctx, &paho5.Connect{ClientID: id, CleanStart: true, KeepAlive: 30})
	require.NoError(t, err)
	require.Zero(t, ca.ReasonCode)
	t.Cleanup(func() { _ = c.Disconnect(&paho5.Disconnect{}) })
	return c
}

// TestFrontPahoV311: paho (MQTT 3.1.1) publishes at QoS 0, 1 and 2 to
// the front end; each message is stored once, QoS 1/2 before the
// acknowledgement; the front end, not mochi, holds the connection.
func TestFrontPahoV311(t *testing.T) {
	app := newMemAppender()
	b, addr := startFront(t, app, BrokerOptions{})
	c := connect(t, addr, "paho311", nil)
	for qos := byte(0); qos <= 2; qos++ {
		tok := c.Publish("plant/p", qos, false, wireLine("paho", int(qos)))
		require.True(t, tok.WaitTimeout(5*time.Second))
		require.NoError(t, tok.Error())
	}
	requireWireStored(t, app, "paho", 1)
	requireWireStored(t, app, "paho", 2)
	waitFor(t, 5*time.Second, "the QoS 0 sample", func() bool { return app.count() == 3 })
	requireWireStored(t, app, "paho", 0)
	_, mochiHas := b.srv.Clients.Get("paho311")
	require.False(t, mochiHas, "mochi must not hold a front end connection")
	require.EqualValues(t, 1, b.front.n.Load())
}

// TestFrontPahoV5: paho.golang (MQTT 5) publishes QoS 0/1/2 with a user
// property the rule takes as a label and a topic alias; a payload that
// does not parse gets PUBACK 0x99 with a reason string; a topic the
// Authorizer refuses gets 0x87.
func TestFrontPahoV5(t *testing.T) {
	app := newMemAppender()
	_, addr := startFront(t, app, BrokerOptions{Rules: []Rule{{Filter: "plant/#", UserPropertyLabels: []string{"site"}}},
		Auth: denyTopic("plant/secret")})
	c := connectPaho5(t, addr, "paho5", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for qos := byte(0); qos <= 2; qos++ {
		alias := uint16(3)
		topic := "plant/v5"
		if qos == 2 {
			topic = "" // the alias set by the QoS 1 message
		}
		p := &paho5.Publish{QoS: qos, Topic: topic, Payload: []byte(wireLine("p5", int(qos))),
			Properties: &paho5.PublishProperties{User: paho5.UserProperties{{Key: "site", Value: "north"}}, TopicAlias: &alias}}
		if qos == 0 {
			p.Properties.TopicAlias = nil
		}
		_, err := c.Publish(ctx, p)
		require.NoError(t, err, "qos %d", qos)
	}
	waitFor(t, 5*time.Second, "three samples", func() bool { return app.count() == 3 })
	for i := range 3 {
		key := fmt.Sprintf(`p5_v{db="iot", n="1", site="north"}@%d`, wireTS+int64(i))
		app.mu.Lock()
		_, ok := app.data[key]
		app.mu.Unlock()
		require.True(t, ok, "%s not stored: %v", key, app.dump(false))
	}
	pr, err := c.Publish(ctx, &paho5.Publish{QoS: 1, Topic: "plant/v5", Payload: []byte("not line protocol")})
	require.Error(t, err)
	require.Equal(t, byte(0x99), pr.ReasonCode)
	require.NotEmpty(t, pr.Properties.ReasonString)
	pr, err = c.Publish(ctx, &paho5.Publish{QoS: 1, Topic: "plant/secret", Payload: []byte(wireLine("sec", 1))})
	require.Error(t, err)
	require.Equal(t, byte(0x87), pr.ReasonCode)
	require.Equal(t, 3, app.count())
}

// denyTopic is an Authorizer that lets everyone in and refuses one topic.
type denyTopic string

func (d denyTopic) Authenticate(_, _ []byte, _, _ string) (any, bool) { return nil, true }
func (d denyTopic) Allow(_ any, _, _, topic string, _ bool) bool      { return topic != string(d) }

// TestFrontV5ReasonCodesWire: MQTT 5 on the wire: 0x97 when storage
// fails (the connection stays), a topic alias without its topic is a
// protocol error (DISCONNECT 0x82), the CONNACK announces the limits.
func TestFrontV5ReasonCodesWire(t *testing.T) {
	app := newMemAppender()
	_, addr := startFront(t, app, BrokerOptions{})
	w := dialWire(t, addr)
	w.write(wireConnect5("v5w"))
	ca := w.expect(pktConnack)
	require.Zero(t, ca.body[1], "%v", ca)
	var ack packetProps
	ack.parse(t, ca.body[2:])
	require.Equal(t, []byte{0x22, 0, frontAliasMax}, ack[0x22], "topic alias maximum")
	require.Contains(t, ack, byte(0x27), "maximum packet size")
	require.Contains(t, ack, byte(0x21), "receive maximum")

	app.mu.Lock()
	app.err = fmt.Errorf("disk on fire")
	app.mu.Unlock()
	w.write(wirePublish5("plant/v5", 1, wireLine("v5", 1)))
	require.Equal(t, byte(0x97), ackReason5(t, w.expect(pktPuback), 1))
	app.mu.Lock()
	app.err = nil
	app.mu.Unlock()
	w.write(wirePublish5("plant/v5", 2, wireLine("v5", 2)))
	require.Zero(t, ackReason5(t, w.expect(pktPuback), 2))
	requireWireStored(t, app, "v5", 2)

	// Topic alias 9, never set, and no topic.
	body := wireAppendString(nil, "")
	body = binary.BigEndian.AppendUint16(body, 3)
	body = append(body, 3, 0x23, 0, 9)
	w.write(wirePacket(pktPublish<<4|1<<1, append(body, wireLine("v5", 3)...)))
	d := w.expect(pktDisconnect)
	require.Equal(t, byte(0x82), d.body[0], "%v", d)
	w.expectClosedQuietly(5 * time.Second)
}

// packetProps maps the MQTT 5 properties of a packet (from the property
// length on) by identifier to the identifier and its value bytes.
type packetProps map[byte][]byte

func (p *packetProps) parse(t *testing.T, b []byte) {
	t.Helper()
	*p = packetProps{}
	n, hl, st := packetLen(append([]byte{0}, b...))
	require.Equal(t, lenOK, st)
	b = b[hl : hl+n]
	sizes := map[byte]int{0x21: 2, 0x22: 2, 0x27: 4, 0x11: 4, 0x24: 1, 0x25: 1, 0x28: 1, 0x29: 1, 0x2a: 1, 0x13: 2}
	for len(b) > 0 {
		id := b[0]
		sz, ok := sizes[id]
		if !ok { // a string
			sz = 2 + int(binary.BigEndian.Uint16(b[1:]))
		}
		(*p)[id] = b[:1+sz]
		b = b[1+sz:]
	}
}

// TestFrontQoS2: a QoS 2 message is stored before its PUBREC, once even
// when resent with DUP before the PUBREL and, with a StateDir, after a
// restart; PUBREL gets PUBCOMP.
func TestFrontQoS2(t *testing.T) {
	app := newMemAppender()
	dir := t.TempDir()
	run := func(f func(addr string)) {
		in, err := New(app, Options{DB: "iot"})
		require.NoError(t, err)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { in.Run(ctx); close(done) }()
		b, err := NewBroker(in, BrokerOptions{Addr: "127.0.0.1:0", PublishAddr: "127.0.0.1:0", StateDir: dir})
		require.NoError(t, err)
		require.NoError(t, b.Serve())
		f(b.PublishAddr())
		require.NoError(t, b.Close())
		cancel()
		<-done
	}
	run(func(addr string) {
		w, _ := connectWire(t, addr, wireConnectOpts{id: "q2", persistent: true})
		w.write(wirePublish("plant/q2", 2, false, 5, wireLine("q2", 1)))
		w.expectAck(pktPubrec, 5)
		requireWireStored(t, app, "q2", 1)
		w.write(wirePublishDup("plant/q2", 5, wireLine("q2", 1)))
		w.expectAck(pktPubrec, 5)
		w.write(wireAck(pktPubrel, 5))
		w.expectAck(pktPubcomp, 5)
		// A message whose PUBREL does not come before the restart.
		w.write(wirePublish("plant/q2", 2, false, 6, "q2b,n=1 v=1"))
		w.expectAck(pktPubrec, 6)
	})
	require.Len(t, dumpOf(app, "q2b_v"), 1)
	run(func(addr string) {
		w, present := connectWire(t, addr, wireConnectOpts{id: "q2", persistent: true})
		require.True(t, present, "the QoS 2 record is session state")
		w.write(wirePublishDup("plant/q2", 6, "q2b,n=1 v=1"))
		w.expectAck(pktPubrec, 6)
		w.write(wireAck(pktPubrel, 6))
		w.expectAck(pktPubcomp, 6)
	})
	require.Len(t, dumpOf(app, "q2b_v"), 1, "stored once across the restart: %v", app.dump(false))
	requireWireStored(t, app, "q2", 1)
}

// TestFrontWillPresence: a client that goes without DISCONNECT has its
// will stored (a presence rule marks it offline) and sent to a mochi
// subscriber; presence records connected 1 then 0 (connection_lost).
func TestFrontWillPresence(t *testing.T) {
	app := newMemAppender()
	b, addr := startFront(t, app, BrokerOptions{Presence: true,
		Rules: []Rule{{Template: "status/+client_id", Presence: true}, {Filter: "plant/#"}}})
	got := make(chan string, 1)
	sub := connect(t, b.Addr(), "watcher", nil)
	tok := sub.Subscribe("status/#", 1, func(_ paho.Client, m paho.Message) { got <- string(m.Payload()) })
	require.True(t, tok.WaitTimeout(5*time.Second))
	require.NoError(t, tok.Error())

	w, _ := connectWire(t, addr, wireConnectOpts{id: "dev7", willTopic: "status/dev7", willMsg: "offline", willQoS: 1})
	waitPresence(t, app, PresenceMetric, "dev7", "1")
	w.c.Close()
	select {
	case p := <-got:
		require.Equal(t, "offline", p)
	case <-time.After(5 * time.Second):
		t.Fatal("the will did not reach mochi's subscriber")
	}
	waitPresence(t, app, DisconnectsMetric, "dev7", "connection_lost:1")
	// The will on the status topic, stored by the presence rule, and the
	// connection's own presence: 1, then 0 twice.
	waitFor(t, 5*time.Second, "offline from the will", func() bool { return presenceSeq(app, PresenceMetric, "dev7") == "1,0,0" })
}

// TestFrontSubscribe: a client subscribed on the front end (mosquitto_sub
// style, paho 3.1.1) gets a retained message at once (retain flag set)
// and a message another front end client publishes, after it is stored;
// the SUBACK grants QoS 0.
func TestFrontSubscribe(t *testing.T) {
	app := newMemAppender()
	_, addr := startFront(t, app, BrokerOptions{})
	pub := connect(t, addr, "pub", nil)
	tok := pub.Publish("plant/r", 1, true, wireLine("ret", 1))
	require.True(t, tok.WaitTimeout(5*time.Second))
	require.NoError(t, tok.Error())

	w, _ := connectWire(t, addr, wireConnectOpts{id: "watch"})
	w.write(wireSubscribe(4, "plant/#", 1))
	sa := w.expect(pktSuback)
	require.Equal(t, []byte{0, 4, 0}, sa.body, "SUBACK grants QoS 0")
	topic, qos, retain, _, payload := w.expect(pktPublish).publish(t)
	require.Equal(t, "plant/r", topic)
	require.Zero(t, qos)
	require.True(t, retain)
	require.Equal(t, wireLine("ret", 1), payload)

	tok = pub.Publish("plant/live", 1, false, wireLine("live", 2))
	require.True(t, tok.WaitTimeout(5*time.Second))
	require.NoError(t, tok.Error())
	topic, _, retain, _, payload = w.expect(pktPublish).publish(t)
	require.Equal(t, "plant/live", topic)
	require.False(t, retain)
	require.Equal(t, wireLine("live", 2), payload)
	requireWireStored(t, app, "live", 2)

	// MQTT 5 subscriber (paho.golang) on the same port.
	got := make(chan *paho5.Publish, 4)
	c5 := connectPaho5(t, addr, "watch5", func(p *paho5.Publish) { got <- p })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	sa5, err := c5.Subscribe(ctx, &paho5.Subscribe{Subscriptions: []paho5.SubscribeOptions{{Topic: "plant/live", QoS: 1}}})
	require.NoError(t, err)
	require.Equal(t, []byte{0}, sa5.Reasons)
	tok = pub.Publish("plant/live", 1, false, wireLine("live", 3))
	require.True(t, tok.WaitTimeout(5*time.Second))
	select {
	case p := <-got:
		require.Equal(t, wireLine("live", 3), string(p.Payload))
	case <-time.After(5 * time.Second):
		t.Fatal("MQTT 5 subscriber got nothing")
	}

	_, _, _, _, payload = w.expect(pktPublish).publish(t) // plant/# got it too
	require.Equal(t, wireLine("live", 3), payload)
	w.write(wirePacket(10<<4|2, wireAppendString(binary.BigEndian.AppendUint16(nil, 5), "plant/#")))
	require.EqualValues(t, 5, w.expect(11).id())
	w.write(wirePingreq)
	w.expect(pktPingresp)
}

// TestFrontKeepAlive: on the front end's clock (advanced by the test, no
// real waiting), a client silent for 1.5 keep alives stays, one silent for
// longer is closed at the next sweep (presence: keep_alive); one that pings
// every half keep alive stays.
func TestFrontKeepAlive(t *testing.T) {
	app := newMemAppender()
	clk := newTestClock()
	b, addr := startFront(t, app, BrokerOptions{Presence: true, now: clk.now})
	silent, _ := connectWire(t, addr, wireConnectOpts{id: "silent", keepalive: 1})
	pinger, _ := connectWire(t, addr, wireConnectOpts{id: "pinger", keepalive: 1})
	// A PINGRESP each: both are on their loops, last heard at the
	// clock's start.
	for _, w := range []*wireConn{silent, pinger} {
		w.write(wirePingreq)
		w.expect(pktPingresp)
	}
	for i := 1; i <= 3; i++ { // 0.5, 1 and 1.5 s of silence: not more than 1.5 keep alives
		clk.advance(500 * time.Millisecond)
		sweepFront(t, b)
		require.True(t, frontHolds(b, "silent"), "silent closed after %v", time.Duration(i)*500*time.Millisecond)
		require.True(t, frontHolds(b, "pinger"), "pinger closed")
		pinger.write(wirePingreq) // the client's ping interval
		pinger.expect(pktPingresp)
	}
	clk.advance(100 * time.Millisecond) // 1.6 s: the pinger's last ping 100 ms ago
	sweepFront(t, b)
	require.False(t, frontHolds(b, "silent"), "silent for 1.6 s with keep alive 1 s")
	silent.expectClosedQuietly(5 * time.Second)
	waitPresence(t, app, DisconnectsMetric, "silent", "keep_alive:1")
	require.True(t, frontHolds(b, "pinger"), "pinger closed")
	pinger.write(wirePingreq)
	pinger.expect(pktPingresp)
}

// TestFrontSlowReader: a client that publishes and never reads its
// acknowledgements is not read either once its answers fill the socket,
// and is closed after the write timeout; what the broker holds for it is
// bounded.
func TestFrontSlowReader(t *testing.T) {
	app := newMemAppender()
	b, addr := startFront(t, app, BrokerOptions{writeTimeout: time.Second})
	w := smallRcvDial(t, addr)
	w.write(wireConnect(wireConnectOpts{id: "slow"}))
	w.expect(pktConnack)
	// The server's send buffer small too (loopback autotunes it to MiBs,
	// which 4-byte PUBACKs would take minutes to fill).
	fd := frontFD(t, b, w.c)
	require.NoError(t, unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, 4096))
	require.EqualValues(t, 1, b.front.n.Load())
	go func() { // ends when the cleanup closes the connection, if not before
		msg := wirePublish("plant/slow", 1, false, 1, wireLine("slow", 1))
		for {
			_ = w.c.SetWriteDeadline(time.Now().Add(20 * time.Second))
			if _, err := w.c.Write(msg); err != nil {
				return
			}
		}
	}()
	// The broker's side, not the client's: a client that does not read
	// may never learn of the close. With nothing unread on the broker's
	// socket, the close is a FIN queued behind the answers the client
	// leaves unread, and a reset comes only for new data, which a client
	// whose receive buffer drops the broker's window updates may not
	// send (zero-window probes only). The test waited for the client's
	// write to fail: on a loaded machine (-cpu 1 beside other tests) it
	// did not within 15 s in about 1 of 150 runs, the broker having
	// closed its descriptor after 1 s.
	waitFor(t, 15*time.Second, "the client that does not read to be dropped", func() bool { return b.front.n.Load() == 0 })
}

// frontFD finds the front end's descriptor of the connection whose
// client side is client.
func frontFD(t *testing.T, b *Broker, client net.Conn) int {
	t.Helper()
	want := client.LocalAddr().(*net.TCPAddr).Port
	port := b.front.ln.Addr().(*net.TCPAddr).Port
	var found int
	waitFor(t, 5*time.Second, "the server side of the connection", func() bool {
		ents, err := os.ReadDir("/proc/self/fd")
		require.NoError(t, err)
		for _, e := range ents {
			fd, err := strconv.Atoi(e.Name())
			if err != nil {
				continue
			}
			peer, err1 := unix.Getpeername(fd)
			local, err2 := unix.Getsockname(fd)
			if err1 != nil || err2 != nil {
				continue
			}
			p4, ok1 := peer.(*unix.SockaddrInet4)
			l4, ok2 := local.(*unix.SockaddrInet4)
			if ok1 && ok2 && p4.Port == want && l4.Port == port {
				found = fd
				return true
			}
		}
		return false
	})
	return found
}

// TestFrontTakeover: a second connection with the same client ID closes
// the first.
func TestFrontTakeover(t *testing.T) {
	app := newMemAppender()
	_, addr := startFront(t, app, BrokerOptions{})
	w1, _ := connectWire(t, addr, wireConnectOpts{id: "same"})
	w2, _ := connectWire(t, addr, wireConnectOpts{id: "same"})
	w1.expectClosedQuietly(5 * time.Second)
	w2.write(wirePublish("plant/t", 1, false, 1, wireLine("take", 1)))
	w2.expectAck(pktPuback, 1)
}

// TestFrontMosquittoClients: mosquitto_pub at QoS 0, 1 and 2 (MQTT 3.1.1
// and 5) is stored; mosquitto_sub on the front end gets a retained
// message.
func TestFrontMosquittoClients(t *testing.T) {
	pubBin := mosquittotest.Need(t, "mosquitto_pub")
	subBin := mosquittotest.Need(t, "mosquitto_sub")
	app := newMemAppender()
	_, addr := startFront(t, app, BrokerOptions{})
	host, port, _ := strings.Cut(addr, ":")
	i := 0
	for _, v := range []string{"mqttv311", "mqttv5"} {
		for _, q := range []string{"0", "1", "2"} {
			out, err := exec.Command(pubBin, "-h", host, "-p", port, "-V", v, "-q", q, "-t", "plant/m",
				"-m", wireLine("mosq", i)).CombinedOutput()
			require.NoError(t, err, "%s", out)
			i++
		}
	}
	waitFor(t, 5*time.Second, "six samples", func() bool { return app.count() == 6 })
	for j := range 6 {
		requireWireStored(t, app, "mosq", j)
	}
	out, err := exec.Command(pubBin, "-h", host, "-p", port, "-q", "1", "-r", "-t", "plant/ret", "-m", wireLine("mret", 1)).CombinedOutput()
	require.NoError(t, err, "%s", out)
	out, err = exec.Command(subBin, "-h", host, "-p", port, "-t", "plant/ret", "-C", "1", "-W", "5").CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Equal(t, wireLine("mret", 1), strings.TrimSpace(string(out)))
}

// TestFrontCommandToDevice: an edge node subscribed on the front end to
// its Sparkplug NCMD topic gets a command published through mochi (a
// SCADA host's PUBLISH arrives there the same way), at QoS 0.
func TestFrontCommandToDevice(t *testing.T) {
	app := newMemAppender()
	b, addr := startFront(t, app, BrokerOptions{})
	w, _ := connectWire(t, addr, wireConnectOpts{id: "edge1"})
	w.write(wireSubscribe(1, "spBv1.0/plant/NCMD/edge1", 1))
	require.Equal(t, []byte{0, 1, 0}, w.expect(pktSuback).body)
	host := connect(t, b.Addr(), "scada", nil) // a client of mochi's port
	tok := host.Publish("spBv1.0/plant/NCMD/edge1", 1, false, []byte{0x08, 0x01})
	require.True(t, tok.WaitTimeout(5*time.Second))
	require.NoError(t, tok.Error())
	topic, qos, _, _, payload := w.expect(pktPublish).publish(t)
	require.Equal(t, "spBv1.0/plant/NCMD/edge1", topic)
	require.Zero(t, qos)
	require.Equal(t, "\x08\x01", payload)
}
