//go:build linux

package mqtt

// Tests that a full batch of the publish loop (publoop.go) starves no
// connection, and that its list of skipped connections stays bounded.
// Each failed against the code before its fix.

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/lightningdb/lightningdb/series"
)

// TestPublishLoopFullBatchDoesNotStarve: once a round's batch holds
// MaxBatchSamples, the loop leaves the rest of the ready connections for
// the next round, and reads those first then: epoll reports the ready
// descriptors in the same order every round, so otherwise a streaming
// gateway at the front would starve the connections behind it and the
// loop's eventfd (commands: new connections, takeovers, Close). A
// publisher on the same loop gets its PUBACK while the gateway streams,
// and Broker.Close returns. MaxBatchSamples is lowered so that one
// gateway fills the batch.
func TestPublishLoopFullBatchDoesNotStarve(t *testing.T) {
	app := &countAppender{}
	b, closeB := startBrokerOpts(t, app, Options{DB: "iot", MaxBatchSamples: 1000}, BrokerOptions{})
	gw, _ := connectWire(t, b.Addr(), wireConnectOpts{id: "gw"})
	lp := loopOf(b, "gw")
	dev, _ := connectOnLoop(t, b, lp, "dev", func() *wireConn { return dialWire(t, b.Addr()) })

	var chunk []byte
	for i := 0; len(chunk) < 64<<10; i++ {
		chunk = append(chunk, wirePublish("plant/gw", 0, false, 0, fmt.Sprintf("gw,n=1 v=%d %d", i, wireTS+int64(i)))...)
	}
	stop := streamer(gw, chunk)
	defer stop()
	// Streaming, with many full batches behind it (a generous wait: CI
	// runs this under -race next to the engine's race tests).
	waitFor(t, 30*time.Second, "the gateway's messages stored", func() bool { return app.samples.Load() > 20000 })

	dev.write(wirePublish("plant/a", 1, false, 1, wireLine("dev", 1)))
	start := time.Now()
	m, err := dev.read(5 * time.Second)
	if err != nil {
		t.Errorf("a QoS 1 PUBLISH on the gateway's loop got no PUBACK within 5 s (%v) while %d samples of the gateway were stored", err, app.samples.Load())
	} else {
		require.Equal(t, byte(pktPuback), m.typ, "%v", m)
	}
	returned := closeB(5 * time.Second)
	if !returned {
		t.Errorf("Broker.Close did not return within 5 s while the gateway streams")
	}
	stop()
	if err != nil {
		m, err = dev.read(5 * time.Second)
		t.Logf("after the gateway stopped, %v later: %v %v", time.Since(start), m, err)
	}
	if !returned {
		require.True(t, closeB(5*time.Second), "Broker.Close did not return after the gateway stopped")
	}
}

// TestPublishLoopFullBatchDoesNotStarveDefaults is the same with the
// default MaxBatchSamples: two gateways streaming line protocol of about
// 4 bytes a sample (52 one-letter fields a line) fill the batch from two
// 256 KiB reads every round; a publisher behind them on the same loop
// gets its PUBACK while they stream.
func TestPublishLoopFullBatchDoesNotStarveDefaults(t *testing.T) {
	app := &countAppender{}
	b, _ := startBrokerOpts(t, app, Options{DB: "iot"}, BrokerOptions{})
	gw1, _ := connectWire(t, b.Addr(), wireConnectOpts{id: "gw"})
	lp := loopOf(b, "gw")
	dial := func() *wireConn { return dialWire(t, b.Addr()) }
	gw2, _ := connectOnLoop(t, b, lp, "gwb", dial)
	dev, _ := connectOnLoop(t, b, lp, "dev", dial)

	var line strings.Builder
	line.WriteString("m ")
	for i, r := range "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ" {
		if i > 0 {
			line.WriteByte(',')
		}
		line.WriteString(string(r) + "=1")
	}
	line.WriteByte('\n')
	payload := strings.Repeat(line.String(), 300) // ~63 KB, 15,600 samples
	chunk := wirePublish("plant/gw", 0, false, 0, payload)
	stop1, stop2 := streamer(gw1, chunk), streamer(gw2, chunk)
	defer stop1()
	defer stop2()
	waitFor(t, 30*time.Second, "the gateways' messages stored", func() bool { return app.samples.Load() > 200000 }) // a few full batches

	dev.write(wirePublish("plant/a", 1, false, 1, wireLine("dev", 1)))
	m, err := dev.read(5 * time.Second)
	if err != nil {
		r, s := app.batches.Load(), app.samples.Load()
		t.Errorf("a QoS 1 PUBLISH on the gateways' loop got no PUBACK within 5 s (%v); %d samples in %d Appends so far", err, s, r)
	} else {
		require.Equal(t, byte(pktPuback), m.typ, "%v", m)
	}
	stop1()
	stop2()
}

// skipProbe is an Appender that looks at its loop's skipped list from
// inside Append, which the loop calls (no race: same goroutine).
type skipProbe struct {
	lp      atomic.Pointer[pubLoop]
	samples atomic.Int64
	maxLen  atomic.Int64
	maxDup  atomic.Int64
}

func (p *skipProbe) Append(_ context.Context, b *series.Batch) (series.AppendResult, error) {
	p.samples.Add(int64(b.Samples()))
	if lp := p.lp.Load(); lp != nil {
		if n := int64(len(lp.skipped)); n > p.maxLen.Load() {
			p.maxLen.Store(n)
		}
		seen := map[*pubConn]int64{}
		for _, c := range lp.skipped {
			seen[c]++
			if seen[c] > p.maxDup.Load() {
				p.maxDup.Store(seen[c])
			}
		}
	}
	return series.AppendResult{Accepted: b.Samples()}, nil
}

// TestPublishLoopSkippedListBounded: when the batch fills while the loop
// works through the connections a full batch left last round, the rest
// go back to the list once each (marked read for the round, so the epoll
// pass does not add them again), and gone connections leave it: five
// streaming gateways on one loop keep it at most five long.
func TestPublishLoopSkippedListBounded(t *testing.T) {
	p := &skipProbe{}
	b, _ := startBrokerOpts(t, p, Options{DB: "iot", MaxBatchSamples: 1000}, BrokerOptions{})
	gw, _ := connectWire(t, b.Addr(), wireConnectOpts{id: "gw"})
	lp := loopOf(b, "gw")
	gws := []*wireConn{gw}
	for i := range 4 {
		w, _ := connectOnLoop(t, b, lp, fmt.Sprintf("gw%d-", i), func() *wireConn { return dialWire(t, b.Addr()) })
		gws = append(gws, w)
	}
	p.lp.Store(lp)
	var chunk []byte
	for i := 0; len(chunk) < 64<<10; i++ {
		chunk = append(chunk, wirePublish("plant/gw", 0, false, 0, fmt.Sprintf("gw,n=1 v=%d %d", i, wireTS+int64(i)))...)
	}
	var stops []func()
	for _, w := range gws {
		stops = append(stops, streamer(w, chunk))
	}
	// A load window, not a wait for an event: the streams run for 2 s
	// or until the skipped list shows the growth.
	eventually(2*time.Second, func() bool { return p.maxLen.Load() > 50 })
	for _, s := range stops {
		s()
	}
	t.Logf("%d samples; skipped list: at most %d entries, one connection at most %d times", p.samples.Load(), p.maxLen.Load(), p.maxDup.Load())
	if p.maxDup.Load() > 1 || p.maxLen.Load() > int64(len(gws)) {
		t.Errorf("skipped list of a loop with %d connections held %d entries, one connection %d times", len(gws), p.maxLen.Load(), p.maxDup.Load())
	}
}
