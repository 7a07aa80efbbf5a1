//go:build linux

package mqtt

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestFrontPendingHandshakesBounded: with MaxClients connections waiting
// for their CONNECT, the next is closed before anything is read.
func TestFrontPendingHandshakesBounded(t *testing.T) {
	b, _ := startBrokerOpts(t, newMemAppender(), Options{}, BrokerOptions{MaxClients: 5, PublishAddr: "127.0.0.1:0"})
	for range 5 {
		dialWire(t, b.PublishAddr())
	}
	waitFor(t, 5*time.Second, "5 connections in their handshake", func() bool {
		b.front.mu.Lock()
		defer b.front.mu.Unlock()
		return b.front.pending == 5
	})
	w := dialWire(t, b.PublishAddr())
	w.expectClosed(5 * time.Second)
	require.EqualValues(t, 1, b.in.Stats().Limited)
}

// TestBrokerMalformedSubscribeV5: an MQTT 5 SUBSCRIBE whose filter has no
// options byte made mochi's decoder index past the packet and took the
// whole server down (found by FuzzFrontDecode); on either port it now
// closes the connection, and the broker serves the next client.
func TestBrokerMalformedSubscribeV5(t *testing.T) {
	app := newMemAppender()
	b, front := startFront(t, app, BrokerOptions{})
	bad := []byte{0x82, 6, 0, 1, 0, 0, 1, 'a'} // packet ID 1, no properties, filter "a", no options
	for _, addr := range []string{b.Addr(), front} {
		w := dialWire(t, addr)
		w.write(wireConnect5("bad"))
		w.expect(pktConnack)
		w.write(bad)
		w.expectClosed(5 * time.Second)
		ok, _ := connectWire(t, addr, wireConnectOpts{id: "next"})
		ok.write(wirePublish("plant/next", 1, false, 1, wireLine("next", 1)))
		ok.expectAck(pktPuback, 1)
	}
}

// TestFrontAlone: a broker with the front end and no mochi listener
// (lightning-db without mqtt.subscribe_addr) serves publishers and
// subscribers on the front end; one with neither address is refused.
func TestFrontAlone(t *testing.T) {
	app := newMemAppender()
	in, err := New(app, Options{DB: "iot"})
	require.NoError(t, err)
	_, err = NewBroker(in, BrokerOptions{})
	require.ErrorIs(t, err, ErrConfig)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { in.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	b, err := NewBroker(in, BrokerOptions{PublishAddr: "127.0.0.1:0"})
	require.NoError(t, err)
	require.NoError(t, b.Serve())
	t.Cleanup(func() { require.NoError(t, b.Close()) })
	require.Empty(t, b.Addr())
	sub, _ := connectWire(t, b.PublishAddr(), wireConnectOpts{id: "s"})
	sub.write(wireSubscribe(1, "plant/#", 1))
	sub.expect(pktSuback)
	pub, _ := connectWire(t, b.PublishAddr(), wireConnectOpts{id: "p"})
	pub.write(wirePublish("plant/a", 1, false, 1, wireLine("alone", 1)))
	pub.expectAck(pktPuback, 1)
	requireWireStored(t, app, "alone", 1)
	_, _, _, _, payload := sub.expect(pktPublish).publish(t)
	require.Equal(t, wireLine("alone", 1), payload)
}
