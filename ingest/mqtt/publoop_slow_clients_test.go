//go:build linux

package mqtt

// Tests of the publish loop (publoop.go) with clients that do not read.
// Each failed against the code before its fix.

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// TestPublishLoopNonReadingClientClosed: a client (keep alive 1 s) that
// pipelines PUBLISHes and never reads its PUBACKs is closed once its
// socket stayed full for 1.5 times its keep alive (as mochi's write
// deadline would); its unread bytes must not count as activity for the
// keep-alive sweep.
func TestPublishLoopNonReadingClientClosed(t *testing.T) {
	clk := newFakeClock()
	b, _ := startHookedBroker(t, newMemAppender(), BrokerOptions{now: clk.now})
	x := smallRcvDial(t, b.Addr())
	c := x.c
	x.write(wireConnect(wireConnectOpts{id: "slow", keepalive: 1}))
	x.expect(pktConnack)
	sfd := serverFD(t, b, c)
	require.NoError(t, unix.SetsockoptInt(sfd, unix.SOL_SOCKET, unix.SO_SNDBUF, 4096))

	var chunk []byte
	for i := range 1000 {
		chunk = append(chunk, wirePublish("a", 1, false, uint16(i+1), "")...)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = c.SetWriteDeadline(time.Now().Add(4 * time.Second))
		for range 300 {
			if _, err := c.Write(chunk); err != nil {
				return
			}
		}
	}()
	// The loop's clock runs 20 times faster than the wall clock: 4 s of
	// it (> 1.5 × the keep alive + the sweep's second, twice) in 200 ms.
	closed := eventually(5*time.Second, func() bool {
		clk.advance(100 * time.Millisecond)
		return loopOf(b, "slow") == nil
	})
	inq, _ := unix.IoctlGetInt(sfd, unix.SIOCINQ)
	outq, _ := unix.IoctlGetInt(sfd, unix.SIOCOUTQ)
	if !closed {
		t.Errorf("a client that never reads its PUBACKs is still connected after 5 s (keep alive 1 s; server socket: %d bytes unread, %d unsent)", inq, outq)
		c.Close()
	}
	<-done
}
