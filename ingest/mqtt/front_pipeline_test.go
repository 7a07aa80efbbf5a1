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

// heldAppender holds every Append until the test releases it: entered
// gets each batch's samples when its Append starts, and each value sent
// on release lets one Append through to the memAppender.
type heldAppender struct {
	*memAppender
	entered chan int
	release chan struct{}
}

func newHeldAppender() *heldAppender {
	return &heldAppender{memAppender: newMemAppender(), entered: make(chan int, 64), release: make(chan struct{})}
}

func (a *heldAppender) Append(ctx context.Context, b *series.Batch) (series.AppendResult, error) {
	select {
	case a.entered <- b.Samples():
	default: // nobody waits for it (the test has ended)
	}
	select {
	case <-a.release:
	case <-ctx.Done():
		return series.AppendResult{}, ctx.Err()
	}
	return a.memAppender.Append(ctx, b)
}

// waitEntered waits for the next Append to start and returns its samples.
func (a *heldAppender) waitEntered(t *testing.T) int {
	t.Helper()
	select {
	case n := <-a.entered:
		return n
	case <-time.After(5 * time.Second):
		t.Fatal("no Append started")
		return 0
	}
}

// TestFrontReadsWhileCommitting: while a round's commit is held, the
// loop reads and decodes the connection's next publishes (they do not
// wait for the commit), yet no acknowledgement leaves before the commit
// of the message it acknowledges, and the acknowledgements follow the
// packets' order. The open round is bounded: once it holds
// MaxBatchSamples samples the loop reads nothing more until the commit in
// flight returns. At QoS 1 (PUBACK) and QoS 2 (PUBREC, with the QoS 2
// store).
func TestFrontReadsWhileCommitting(t *testing.T) {
	for _, qos := range []byte{1, 2} {
		t.Run(fmt.Sprintf("qos%d", qos), func(t *testing.T) {
			ack := byte(pktPuback)
			if qos == 2 {
				ack = pktPubrec
			}
			app := newHeldAppender()
			// MaxBatchSamples 2: the open round is full with two messages.
			b, _ := startBrokerOpts(t, app, Options{DB: "iot", MaxBatchSamples: 2},
				BrokerOptions{PublishAddr: "127.0.0.1:0", StateDir: t.TempDir()})
			t.Cleanup(func() { close(app.release) }) // before the broker closes
			w, _ := connectWire(t, b.PublishAddr(), wireConnectOpts{id: "held"})
			msgs := func() int64 { return b.in.Stats().Messages }

			w.write(wirePublish("plant/held", qos, false, 1, wireLine("held", 1)))
			require.Equal(t, 1, app.waitEntered(t))
			// Message 1's commit is held; 2 and 3 (one read, one round) are
			// read and decoded meanwhile.
			w.write(wirePublish("plant/held", qos, false, 2, wireLine("held", 2)),
				wirePublish("plant/held", qos, false, 3, wireLine("held", 3)))
			waitFor(t, 5*time.Second, "messages 2 and 3 read while 1 commits", func() bool { return msgs() == 3 })
			// The open round is full: message 4 is not read until 1 commits.
			w.write(wirePublish("plant/held", qos, false, 4, wireLine("held", 4)))
			w.expectSilence(300 * time.Millisecond) // and no acknowledgement of 1
			require.EqualValues(t, 3, msgs(), "read past a full open round")
			require.Zero(t, app.count())

			app.release <- struct{}{} // commit 1
			w.expectAck(ack, 1)
			require.Equal(t, 2, app.waitEntered(t)) // the round of 2 and 3
			waitFor(t, 5*time.Second, "message 4 read", func() bool { return msgs() == 4 })
			w.expectSilence(200 * time.Millisecond) // 2 and 3 wait for their commit
			require.Equal(t, 1, app.count())

			app.release <- struct{}{} // commit 2 and 3
			w.expectAck(ack, 2)
			w.expectAck(ack, 3)
			require.Equal(t, 1, app.waitEntered(t)) // the round of 4
			w.expectSilence(100 * time.Millisecond)
			app.release <- struct{}{}
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
