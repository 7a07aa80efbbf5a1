//go:build linux

package mqtt

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/lightningdb/lightningdb/series"
)

// heldAppender holds every Append until the test releases it: each call
// shows up on calls with its batch's samples, and goes through to the
// memAppender once its release is closed (or the appender is, by
// releaseAll).
type heldAppender struct {
	*memAppender
	calls chan *heldCall
	all   chan struct{}
}

type heldCall struct {
	samples int
	release chan struct{}
}

func newHeldAppender() *heldAppender {
	return &heldAppender{memAppender: newMemAppender(), calls: make(chan *heldCall, 64), all: make(chan struct{})}
}

func (a *heldAppender) Append(ctx context.Context, b *series.Batch) (series.AppendResult, error) {
	call := &heldCall{samples: b.Samples(), release: make(chan struct{})}
	select {
	case a.calls <- call:
	case <-a.all:
	}
	select {
	case <-call.release:
	case <-a.all:
	case <-ctx.Done():
		return series.AppendResult{}, ctx.Err()
	}
	return a.memAppender.Append(ctx, b)
}

func (a *heldAppender) releaseAll() { close(a.all) }

// next waits for the next Append to start and requires its samples
// (unless -1).
func (a *heldAppender) next(t *testing.T, samples int) *heldCall {
	t.Helper()
	select {
	case c := <-a.calls:
		if samples != -1 {
			require.Equal(t, samples, c.samples, "samples of the next Append")
		}
		return c
	case <-time.After(5 * time.Second):
		t.Fatal("no Append started")
		return nil
	}
}

// TestFrontReadsWhileCommitting: while a round's commit is held, the
// loop reads, decodes and submits the connection's next publishes (a
// second round in flight), yet no acknowledgement leaves before the
// commit of the message it acknowledges, and they follow the packets'
// order even when the later round commits first. With frontMaxCommits
// (two) rounds in flight the loop reads nothing more until the older one
// commits. At QoS 1: a round with new QoS 2 messages is waited for
// (TestBrokerWireQoS2 holds its PUBREC until the commit).
func TestFrontReadsWhileCommitting(t *testing.T) {
	require.Equal(t, 2, frontMaxCommits, "the test follows two rounds in flight")
	for _, qos := range []byte{1} {
		t.Run(fmt.Sprintf("qos%d", qos), func(t *testing.T) {
			ack := byte(pktPuback)
			if qos == 2 {
				ack = pktPubrec
			}
			app := newHeldAppender()
			b, _ := startBrokerOpts(t, app, Options{DB: "iot"},
				BrokerOptions{PublishAddr: "127.0.0.1:0", StateDir: t.TempDir()})
			t.Cleanup(app.releaseAll) // before the broker closes
			w, _ := connectWire(t, b.PublishAddr(), wireConnectOpts{id: "held"})
			msgs := func() int64 { return b.in.Stats().Messages }
			pub := func(ids ...int) {
				var pkts [][]byte
				for _, i := range ids {
					pkts = append(pkts, wirePublish("plant/held", qos, false, uint16(i), wireLine("held", i)))
				}
				w.write(pkts...)
			}

			pub(1)
			first := app.next(t, 1)
			pub(2, 3) // one read, one round: read and submitted while 1 commits
			second := app.next(t, 2)
			// Two rounds in flight: 4 is not read until the older commits.
			pub(4)
			w.expectSilence(300 * time.Millisecond) // and no acknowledgement
			require.EqualValues(t, 3, msgs(), "read with two rounds in flight")
			require.Zero(t, app.count())

			close(second.release) // 2 and 3 commit before 1: their acks wait for 1's
			w.expectSilence(200 * time.Millisecond)
			require.EqualValues(t, 3, msgs(), "read before the older round committed")
			close(first.release)
			for i := 1; i <= 3; i++ {
				w.expectAck(ack, uint16(i))
			}
			require.Equal(t, 3, app.count())
			fourth := app.next(t, 1)
			w.expectSilence(100 * time.Millisecond)
			close(fourth.release)
			w.expectAck(ack, 4)
			for i := 1; i <= 4; i++ {
				requireWireStored(t, app.memAppender, "held", i)
			}
		})
	}
}

// slowAppender makes every Append take delay before it stores (a slow
// fsync), so that a loop's rounds overlap: one commits while the next is
// read.
type slowAppender struct {
	*memAppender
	delay time.Duration
}

func (a *slowAppender) Append(ctx context.Context, b *series.Batch) (series.AppendResult, error) {
	time.Sleep(a.delay)
	return a.memAppender.Append(ctx, b)
}

// TestFrontAcksAfterCommitUnderLoad: 16 clients, half at QoS 1 and half
// at QoS 2, each send 60 publishes in bursts without waiting for the
// acknowledgements, while every commit takes a millisecond. Each
// acknowledgement arrives in packet order, and only once its message is
// stored (checked the moment it arrives).
func TestFrontAcksAfterCommitUnderLoad(t *testing.T) {
	app := &slowAppender{memAppender: newMemAppender(), delay: time.Millisecond}
	b, _ := startBrokerOpts(t, app, Options{DB: "iot"}, BrokerOptions{PublishAddr: "127.0.0.1:0", StateDir: t.TempDir()})
	const clients, bursts, per = 16, 6, 10
	ws := make([]*wireConn, clients)
	for i := range ws {
		ws[i], _ = connectWire(t, b.PublishAddr(), wireConnectOpts{id: fmt.Sprintf("load%d", i)})
	}
	errs := make(chan error, 2*clients)
	var wg sync.WaitGroup
	for i, w := range ws {
		qos, name := byte(1+i%2), fmt.Sprintf("load%d", i)
		wg.Add(2)
		go func() { // the bursts, each written before the last is acknowledged
			defer wg.Done()
			for k := range bursts {
				var buf []byte
				for j := 1; j <= per; j++ {
					n := k*per + j
					buf = append(buf, wirePublish("plant/load", qos, false, uint16(n), wireLine(name, n))...)
				}
				if _, err := w.c.Write(buf); err != nil {
					errs <- err
					return
				}
				time.Sleep(200 * time.Microsecond) // a device's pace: the bursts fall into different rounds
			}
		}()
		go func() {
			defer wg.Done()
			errs <- readAcksAfterCommit(w, app.memAppender, qos, name, bursts*per)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.Equal(t, clients*bursts*per, app.count())
}

// readAcksAfterCommit reads n acknowledgements of qos from w: packet IDs
// 1..n in order, each message stored when its acknowledgement arrives.
func readAcksAfterCommit(w *wireConn, app *memAppender, qos byte, name string, n int) error {
	typ := byte(pktPuback)
	if qos == 2 {
		typ = pktPubrec
	}
	for i := 1; i <= n; i++ {
		m, err := w.read(10 * time.Second)
		if err != nil {
			return fmt.Errorf("%s: waiting for the ack of %d: %w", name, i, err)
		}
		if m.typ != typ || len(m.body) != 2 || m.id() != uint16(i) {
			return fmt.Errorf("%s: got %v, want %s %d", name, m, wirePacketNames[typ], i)
		}
		key := fmt.Sprintf(`%s_v{db="iot", n="1"}@%d`, name, wireTS+int64(i))
		app.mu.Lock()
		_, stored := app.data[key]
		app.mu.Unlock()
		if !stored {
			return fmt.Errorf("%s: %s %d arrived before its message was stored", name, wirePacketNames[typ], i)
		}
	}
	return nil
}
