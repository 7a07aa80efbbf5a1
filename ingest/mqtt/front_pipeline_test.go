//go:build linux

package mqtt

import (
	"context"
	"fmt"
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
