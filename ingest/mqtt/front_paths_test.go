//go:build linux

package mqtt

import (
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
