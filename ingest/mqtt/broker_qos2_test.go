package mqtt

import (
	"context"
	"encoding/binary"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// startStateBroker starts a broker over app with StateDir dir; stop
// closes it (and its Ingestor) as a restart would.
func startStateBroker(t *testing.T, app *memAppender, dir string) (b *Broker, stop func()) {
	t.Helper()
	in, err := New(app, Options{DB: "iot"})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { in.Run(ctx); close(done) }()
	b, err = NewBroker(in, BrokerOptions{Addr: "127.0.0.1:0", StateDir: dir})
	require.NoError(t, err)
	require.NoError(t, b.Serve())
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			b.Close()
			cancel()
			<-done
		}
	}
	t.Cleanup(stop)
	return b, stop
}

// dumpOf returns the stored samples (dump) of series whose labels contain
// name.
func dumpOf(app *memAppender, name string) []string {
	var out []string
	for _, k := range app.dump(false) {
		if strings.Contains(k, name) {
			out = append(out, k)
		}
	}
	return out
}

// wirePublishDup is a QoS 2 PUBLISH with the DUP flag.
func wirePublishDup(topic string, id uint16, payload string) []byte {
	body := wireAppendString(nil, topic)
	body = binary.BigEndian.AppendUint16(body, id)
	return wirePacket(pktPublish<<4|0x08|2<<1, append(body, payload...))
}

// TestBrokerQoS2ExactlyOnceAcrossRestart: a QoS 2 message whose samples
// take the receive time is acknowledged (PUBREC) and the broker restarts
// before the client's PUBREL; the client resends it with DUP=1 and the
// same packet ID, and it is stored once: at the time of its first
// receipt. A DUP=0 message with that packet ID after the release is a new
// message.
func TestBrokerQoS2ExactlyOnceAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	app := newMemAppender()
	b, stop := startStateBroker(t, app, dir)
	w, _ := connectWire(t, b.Addr(), wireConnectOpts{id: "dev", persistent: true})
	w.write(wirePublish("plant/q2", 2, false, 9, "q2 v=1")) // no timestamp: the receive time
	w.expectAck(pktPubrec, 9)
	require.Len(t, dumpOf(app, "q2_v"), 1)
	first := dumpOf(app, "q2_v")[0]
	w.write(wirePublish("plant/other", 2, false, 10, wireLine("other", 1)))
	w.expectAck(pktPubrec, 10) // its PUBREL comes after the restart
	// The PUBRELs never came before the restart.
	stop()

	b, _ = startStateBroker(t, app, dir)
	w, _ = connectWire(t, b.Addr(), wireConnectOpts{id: "dev", persistent: true})
	time.Sleep(2 * time.Millisecond) // a new receive time would differ
	w.write(wirePublishDup("plant/q2", 9, "q2 v=1"))
	w.expectAck(pktPubrec, 9)
	w.write(wireAck(pktPubrel, 9))
	w.expectAck(pktPubcomp, 9)
	require.Equal(t, []string{first}, dumpOf(app, "q2_v"), "the resent message was stored at a new time")
	require.EqualValues(t, 1, b.in.Stats().QoS2Duplicates)
	w.write(wireAck(pktPubrel, 10)) // mochi has no session for it: the record completes it
	w.expectAck(pktPubcomp, 10)

	// Released: the packet ID is free, DUP=0 is a new message.
	w.write(wirePublish("plant/q2", 2, false, 9, "q2 v=2"))
	w.expectAck(pktPubrec, 9)
	w.write(wireAck(pktPubrel, 9))
	w.expectAck(pktPubcomp, 9)
	require.Len(t, dumpOf(app, "q2_v"), 2)
	waitFor(t, 5*time.Second, "the records released", func() bool { return b.qos2.len() == 0 })
}

// TestBrokerQoS2CleanSessionDropsRecords: a client that connects with a
// clean session will not resend anything: its records go.
func TestBrokerQoS2CleanSessionDropsRecords(t *testing.T) {
	app := newMemAppender()
	b, _ := startStateBroker(t, app, t.TempDir())
	w, _ := connectWire(t, b.Addr(), wireConnectOpts{id: "dev", persistent: true})
	w.write(wirePublish("plant/q2", 2, false, 1, "q2 v=1"))
	w.expectAck(pktPubrec, 1)
	require.Equal(t, 1, b.qos2.len())
	connectWire(t, b.Addr(), wireConnectOpts{id: "dev"})
	waitFor(t, 5*time.Second, "the records dropped", func() bool { return b.qos2.len() == 0 })
}

// TestBrokerQoS2ResendV5Success: a MQTT 5 client resending a QoS 2
// message before its PUBREL gets PUBREC success (mochi says 0x91, packet
// identifier in use), and the message is stored once.
func TestBrokerQoS2ResendV5Success(t *testing.T) {
	app := newMemAppender()
	b, _ := startBroker(t, app, BrokerOptions{})
	w := dialWire(t, b.Addr())
	w.write(wireConnect5("v5"))
	w.expect(pktConnack)
	pub := func(dup byte) []byte {
		body := wireAppendString(nil, "plant/q2")
		body = binary.BigEndian.AppendUint16(body, 3)
		body = append(body, 0)
		return wirePacket(pktPublish<<4|dup|2<<1, append(body, wireLine("v5q2", 1)...))
	}
	for _, dup := range []byte{0, 0x08} {
		w.write(pub(dup))
		m := w.expect(pktPubrec)
		require.EqualValues(t, 3, m.id())
		if len(m.body) > 2 {
			require.Zero(t, m.body[2], "PUBREC reason of %v (dup %#x)", m, dup)
		}
	}
	requireWireStored(t, app, "v5q2", 1)
}
