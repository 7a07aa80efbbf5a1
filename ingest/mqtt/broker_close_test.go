//go:build linux

package mqtt

// Tests of closing the broker. Each failed against the code before its fix.

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// TestBrokerShutdownDisconnectV5: Broker.Close disconnects mochi's
// clients with DISCONNECT 0x8B (server shutting down), as mochi's own
// listener close does, before it closes their connections.
func TestBrokerShutdownDisconnectV5(t *testing.T) {
	b, closeB := startBrokerOpts(t, newMemAppender(), Options{DB: "iot"}, BrokerOptions{})
	w := dialWire(t, b.Addr())
	w.write(wireConnect5("v5"))
	w.expect(pktConnack)
	require.True(t, closeB(5*time.Second))
	var got []wireMsg
	for {
		m, err := w.read(2 * time.Second)
		if err != nil {
			break
		}
		got = append(got, m)
	}
	for _, m := range got {
		if m.typ == pktDisconnect && len(m.body) > 0 && m.body[0] == 0x8b {
			return
		}
	}
	t.Errorf("MQTT 5 client got %v before the close, no DISCONNECT 0x8B (server shutting down)", got)
}

// TestBrokerCloseWithStuckSubscriber: Close sends mochi's clients
// DISCONNECT, which mochi writes under the client's lock; a subscriber
// (keep alive 0) that stopped reading while the broker kept sending to it
// must not hold Close: the connections get a short write deadline
// first.
func TestBrokerCloseWithStuckSubscriber(t *testing.T) {
	b, closeB := startBrokerOpts(t, newMemAppender(), Options{DB: "iot"}, BrokerOptions{})
	sub := smallRcvDial(t, b.Addr())
	sub.write(wireConnect(wireConnectOpts{id: "sub"})) // keep alive 0
	sub.expect(pktConnack)
	sub.write(wireSubscribe(1, "cmd/#", 0))
	sub.expect(pktSuback)
	require.NoError(t, unix.SetsockoptInt(serverFD(t, b, sub.c), unix.SOL_SOCKET, unix.SO_SNDBUF, 4096))

	payload := strings.Repeat("x", 16<<10)
	for range 200 { // 3 MB to a client that reads nothing
		_ = b.srv.Publish("cmd/x", []byte(payload), false, 0)
	}
	cl, ok := b.srv.Clients.Get("sub")
	require.True(t, ok)
	rc, ok := cl.Net.Conn.(*clientConn)
	require.True(t, ok, "mochi's connection is %T", cl.Net.Conn)
	// A 16 KiB packet does not fit the socket buffers of a client that
	// reads nothing: once a Write is in progress, mochi's WriteLoop is
	// blocked in it.
	waitFor(t, 5*time.Second, "mochi's WriteLoop to block in Write", func() bool { return rc.writing.Load() != 0 })
	if !closeB(3 * time.Second) {
		t.Errorf("Broker.Close did not return within 3 s: DisconnectClient blocks on a subscriber that does not read")
	}
	sub.c.Close() // unblocks the write (RST); Close returns then
	require.True(t, closeB(10*time.Second), "Broker.Close did not return even after the subscriber closed")
}
