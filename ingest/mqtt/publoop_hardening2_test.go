//go:build linux

package mqtt

// Hardening tests of the publish loop (publoop.go) from its second
// review: each failed against the code before.

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/lightningdb/lightningdb/ingest"
	"github.com/lightningdb/lightningdb/series"
)

// countAppender counts the samples it is given and stores nothing (a
// streaming client would fill a memAppender's maps).
type countAppender struct{ samples, batches atomic.Int64 }

func (a *countAppender) Append(_ context.Context, b *series.Batch) (series.AppendResult, error) {
	a.samples.Add(int64(b.Samples()))
	a.batches.Add(1)
	return series.AppendResult{Accepted: b.Samples()}, nil
}

// startBrokerOpts starts a broker over app (an Ingestor with inOpts) with
// extra mochi hooks. closeB closes it once (later calls wait for the same
// Close) and reports whether Close returned within d.
func startBrokerOpts(t *testing.T, app ingest.Appender, inOpts Options, opts BrokerOptions, hooks ...mochi.Hook) (b *Broker, closeB func(d time.Duration) bool) {
	t.Helper()
	in, err := New(app, inOpts)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	runDone := make(chan struct{})
	go func() { in.Run(ctx); close(runDone) }()
	opts.Addr = "127.0.0.1:0"
	b, err = NewBroker(in, opts)
	require.NoError(t, err)
	for _, h := range hooks {
		require.NoError(t, b.srv.AddHook(h, nil))
	}
	require.NoError(t, b.Serve())
	var once sync.Once
	closed := make(chan struct{})
	closeB = func(d time.Duration) bool {
		once.Do(func() { go func() { b.Close(); close(closed) }() })
		select {
		case <-closed:
			return true
		case <-time.After(d):
			return false
		}
	}
	t.Cleanup(func() {
		if !closeB(15 * time.Second) {
			t.Error("Broker.Close did not return")
		}
		cancel()
		<-runDone
	})
	return b, closeB
}

// streamer writes chunk to w's connection until stop is closed or a
// write fails; done is closed when it returns.
func streamer(w *wireConn, chunk []byte) (stop func()) {
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-quit:
				return
			default:
			}
			_ = w.c.SetWriteDeadline(time.Now().Add(200 * time.Millisecond))
			if _, err := w.c.Write(chunk); err != nil && !isTimeout(err) {
				return
			}
		}
	}()
	var once sync.Once
	return func() { once.Do(func() { close(quit); <-done }) }
}

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

// TestPublishLoopWillClientCountedInMochiIDs: a client that goes to mochi
// because of its will (or MQTT 5) is counted in mochiIDs by its client
// ID, so a loop-eligible client with the same ID that connects after
// mochi's takeover hook and before mochi's Clients.Add goes to mochi too
// instead of being served by the loop next to it [MQTT-3.1.4-2].
func TestPublishLoopWillClientCountedInMochiIDs(t *testing.T) {
	h := newStallHook(mochi.OnSessionEstablish, "twin")
	b, _ := startBrokerOpts(t, newMemAppender(), Options{DB: "iot"}, BrokerOptions{}, h)
	m := dialWire(t, b.Addr())
	m.write(wireConnect(wireConnectOpts{id: "twin", willTopic: "will/twin", willMsg: "gone"}))
	select {
	case <-h.entered:
	case <-time.After(5 * time.Second):
		t.Fatal("mochi did not establish the will client")
	}
	l, _ := connectWire(t, b.Addr(), wireConnectOpts{id: "twin"})
	onLoop := loopOf(b, "twin") != nil
	close(h.release)
	m.expect(pktConnack)
	requireOneServed(t, l, m, fmt.Sprintf("the second on the loop: %v", onLoop))
}

// TestPublishLoopRefusesWhatMochiRefuses: a MQTT 3.1.1 CONNECT that
// mochi's ConnectValidate refuses (here: the password flag with an empty
// password, ErrProtocolViolationFlagNoPassword) is not served by the
// loop: it would be cut off at its first hand-over (SUBSCRIBE), when
// mochi refuses the replayed CONNECT. It is refused at CONNECT, as with
// NoPublishLoop.
func TestPublishLoopRefusesWhatMochiRefuses(t *testing.T) {
	connectEmptyPass := func(id string) []byte {
		body := wireAppendString(nil, "MQTT")
		body = append(body, 4, 0xc0|0x02, 0, 0)
		body = wireAppendString(body, id)
		body = wireAppendString(body, "dev")
		body = wireAppendString(body, "")
		return wirePacket(pktConnect<<4, body)
	}
	for _, noLoop := range []bool{true, false} {
		b, _ := startBrokerOpts(t, newMemAppender(), Options{DB: "iot"}, BrokerOptions{NoPublishLoop: noLoop})
		w := dialWire(t, b.Addr())
		w.write(connectEmptyPass("nopass"))
		ca := w.expect(pktConnack)
		t.Logf("NoPublishLoop=%v: CONNACK %v", noLoop, ca)
		if ca.body[1] != 0 {
			continue // refused up front: consistent
		}
		w.write(wirePublish("plant/a", 1, false, 1, wireLine("nopass", 1)))
		w.expectAck(pktPuback, 1)
		w.write(wireSubscribe(2, "cmd/#", 1))
		got, err := w.read(2 * time.Second)
		if err != nil || got.typ != pktSuback {
			t.Errorf("NoPublishLoop=%v: connection accepted and publishing, then SUBSCRIBE answered with %v, %v (the hand-over's replayed CONNECT was refused)", noLoop, got, err)
		}
	}
}

// TestPublishLoopHandoverSupersededByNewer: while a loop connection is on
// its way into mochi (its hand-over goroutine still writing the owed
// acknowledgements to a slow reader), a newer connection with the same
// client ID goes to mochi (mochiIDs) and attaches first. The hand-over
// must then be dropped, not attached: mochi would let the older
// connection take the session over from the newer [MQTT-3.1.4-2].
func TestPublishLoopHandoverSupersededByNewer(t *testing.T) {
	b, _ := startBrokerOpts(t, newMemAppender(), Options{DB: "iot"}, BrokerOptions{})
	old := smallRcvDial(t, b.Addr())
	c := old.c
	old.write(wireConnect(wireConnectOpts{id: "x"}))
	old.expect(pktConnack)
	require.NotNil(t, loopOf(b, "x"))
	sfd := serverFD(t, b, c)
	require.NoError(t, unix.SetsockoptInt(sfd, unix.SOL_SOCKET, unix.SO_SNDBUF, 4096))
	var buf []byte
	for i := range 6000 {
		buf = append(buf, wirePublish("a", 1, false, uint16(i+1), "")...)
	}
	old.write(append(buf, wireSubscribe(60000, "cmd/#", 1)...)) // owed 24 KB of PUBACKs, then the hand-over
	l := b.pl.(*publishListener)
	waitFor(t, 5*time.Second, "the hand-over writing the owed acknowledgements", func() bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		return l.handing["x"] != nil
	})
	nw, _ := connectWire(t, b.Addr(), wireConnectOpts{id: "x"}) // to mochi: the ID is in mochiIDs

	var oldGot []string
	for {
		m, err := old.read(5 * time.Second)
		if err != nil {
			break
		}
		if m.typ != pktPuback {
			oldGot = append(oldGot, m.String())
		}
	}
	if len(oldGot) > 0 {
		t.Errorf("the older connection, superseded during its hand-over, was served: %v", oldGot)
	}
	nw.write(wirePublish("plant/a", 1, false, 1, wireLine("x", 1)))
	m, err := nw.read(3 * time.Second)
	require.NoError(t, err, "the newer connection was closed")
	require.Equal(t, byte(pktPuback), m.typ, "%v", m)
}

// TestPublishLoopShutdownDisconnectV5: Broker.Close disconnects mochi's
// clients with DISCONNECT 0x8B (server shutting down), as mochi's own
// listener close does, before it closes their connections.
func TestPublishLoopShutdownDisconnectV5(t *testing.T) {
	b, closeB := startBrokerOpts(t, newMemAppender(), Options{DB: "iot"}, BrokerOptions{NoPublishLoop: true})
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
