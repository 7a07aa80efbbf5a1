package mqtt

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestBrokerKeptSessionIDBytesBounded: clients with clean session 0 and
// long client IDs that leave keep sessions only up to maxKeptIDBytes of
// IDs (the oldest go first, counted); one that comes back in time finds
// its session.
func TestBrokerKeptSessionIDBytesBounded(t *testing.T) {
	b, _ := startBroker(t, newMemAppender(), BrokerOptions{})
	b.kept.max = 4 << 10 // four 1 KiB IDs
	id := func(i int) string { return strconv.Itoa(i) + strings.Repeat("i", 1<<10-1) }
	for i := range 10 {
		w, _ := connectWire(t, b.Addr(), wireConnectOpts{id: id(i), persistent: true})
		w.write(wireDisconnect)
		w.expectClosed(5 * time.Second)
		// mochi closes the socket before its OnDisconnect hook lists the
		// session: wait for the listing, so the kept order is the order
		// the clients left in.
		waitFor(t, 5*time.Second, "session "+strconv.Itoa(i)+" listed as kept", func() bool {
			b.kept.mu.Lock()
			defer b.kept.mu.Unlock()
			_, ok := b.kept.byID[id(i)]
			return ok
		})
	}
	waitFor(t, 5*time.Second, "the oldest sessions dropped", func() bool { return b.srv.Clients.Len()-1 <= 4 })
	// dropSessions deletes a session, then counts it: wait for the count
	// too.
	eventually(5*time.Second, func() bool { return b.in.Stats().Limited >= 6 })
	require.EqualValues(t, 6, b.in.Stats().Limited)
	_, present := connectWire(t, b.Addr(), wireConnectOpts{id: id(9), persistent: true})
	require.True(t, present, "the newest kept session was dropped")
	_, present = connectWire(t, b.Addr(), wireConnectOpts{id: id(0), persistent: true})
	require.False(t, present, "the oldest session was kept")
}
