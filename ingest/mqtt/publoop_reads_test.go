//go:build linux

package mqtt

// Tests of how the publish loop (publoop.go) reads: partial packets and
// read sizes. Each failed against the code before its fix.

import (
	"fmt"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// TestPublishLoopPartialPacketGrowsWithData: the fixed header of a
// 16 MiB PUBLISH and one more byte must not make the loop allocate the
// announced 16 MiB: c.in grows as the bytes arrive.
func TestPublishLoopPartialPacketGrowsWithData(t *testing.T) {
	// Packets of 16 MiB allowed: with the default limit (1 MiB) the
	// header alone closes the connection, and nothing would be tested.
	b, _ := startHookedBroker(t, newMemAppender(), BrokerOptions{MaxPacketSize: 32 << 20})
	const conns = 4
	var ws []*wireConn
	var fds []int
	for i := range conns {
		w, _ := connectWire(t, b.Addr(), wireConnectOpts{id: "big" + strconv.Itoa(i)})
		ws = append(ws, w)
		fds = append(fds, serverFD(t, b, w.c))
	}
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for _, w := range ws {
		w.write([]byte{0x32, 0xff, 0xff, 0xff, 0x07}) // remaining length 16 MiB - 1
	}
	readAll := func() { // the loop took every byte sent so far
		for _, fd := range fds {
			waitFor(t, 5*time.Second, "the loop to read the bytes sent", func() bool {
				n, err := unix.IoctlGetInt(fd, unix.SIOCINQ)
				return err == nil && n == 0
			})
		}
	}
	readAll()
	for _, w := range ws {
		w.write([]byte{0x00})
	}
	readAll()
	for i := range ws {
		require.NotNil(t, loopOf(b, "big"+strconv.Itoa(i)), "connection %d closed: its partial packet was not held", i)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	grew := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("heap grew by %d MiB for %d connections that sent 6 bytes each", grew>>20, conns)
	if grew > 8<<20 {
		t.Errorf("heap grew by %d MiB for %d connections that sent 6 bytes each", grew>>20, conns)
	}
}

// TestPublishLoopReadsStayLarge: once a read ends in the middle of a
// packet, the incomplete packet moves to the 256 KiB round buffer for the
// next read, so a connection that streams (a gateway at QoS 0) is read in
// large pieces, not ~8 KiB per round (per Append, per fsync). Here 3,000
// QoS 0 messages of ~100 bytes (300 KB) written at once must take a few
// rounds.
func TestPublishLoopReadsStayLarge(t *testing.T) {
	app := newMemAppender()
	b, _ := startHookedBroker(t, app, BrokerOptions{})
	w, _ := connectWire(t, b.Addr(), wireConnectOpts{id: "gw"})
	const n = 3000
	var buf []byte
	for i := range n {
		buf = append(buf, wirePublish("plant/gw", 0, false, 0, fmt.Sprintf("gw,n=1,pad=padding-to-about-a-hundred-bytes-per-packet v=%d %d", i, wireTS+int64(i)))...)
	}
	w.write(buf)
	waitFor(t, 20*time.Second, "every message stored", func() bool { return app.count() == n })
	app.mu.Lock()
	rounds := app.batches
	app.mu.Unlock()
	t.Logf("%d bytes stored in %d Appends (%d bytes per round)", len(buf), rounds, len(buf)/rounds)
	if rounds > 10 {
		t.Errorf("%d bytes took %d rounds (%d bytes per round)", len(buf), rounds, len(buf)/rounds)
	}
}
