package mqtt

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/lightningdb/lightningdb/internal/mosquittotest"
	"github.com/lightningdb/lightningdb/series"
)

// stuckAppender blocks every Append until open is closed.
type stuckAppender struct {
	*memAppender
	open chan struct{}
}

func (a *stuckAppender) Append(ctx context.Context, b *series.Batch) (series.AppendResult, error) {
	select {
	case <-a.open:
	case <-ctx.Done():
		return series.AppendResult{}, ctx.Err()
	}
	return a.memAppender.Append(ctx, b)
}

// TestSubscriberQoS0FloodBounded: a QoS 0 flood against a subscriber whose
// storage is stuck holds at most MaxUndelivered messages; the rest are
// dropped and counted, and once storage moves again every message is
// either stored or counted as dropped, none both and none lost silently.
func TestSubscriberQoS0FloodBounded(t *testing.T) {
	m := mosquittotest.Start(t)
	app := &stuckAppender{memAppender: newMemAppender(), open: make(chan struct{})}
	in, err := New(app, Options{DB: "iot"})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { in.Run(ctx); close(done) }()
	qos0 := 0
	const maxUndelivered, n = 4, 500
	s, err := NewSubscriber(in, SubscriberOptions{Name: "flood", Brokers: []string{"tcp://" + m.Addr},
		MaxUndelivered: maxUndelivered, Rules: []Rule{{Filter: "flood/#", QoS: &qos0}}})
	require.NoError(t, err)
	go s.Run()
	t.Cleanup(func() {
		s.Close()
		cancel()
		<-done
	})
	release := sync.OnceFunc(func() { close(app.open) })
	t.Cleanup(release) // before the subscriber's cleanup: a failed wait must not hang Close
	waitFor(t, 10*time.Second, "subscriber to connect", func() bool { return in.Stats().Connects == 1 })

	pub := connect(t, m.Addr, "flooder", nil)
	for i := range n {
		tok := pub.Publish("flood/a", 0, false, fmt.Sprintf("flood v=%di %d", i, 1700000000000000000+int64(i)))
		require.True(t, tok.WaitTimeout(10*time.Second))
	}
	// Every message reached the subscriber: stuck in storage (at most
	// maxUndelivered of them) or dropped.
	waitFor(t, 20*time.Second, "the flood to be dropped", func() bool { return in.Stats().Failed >= n-maxUndelivered })
	require.Zero(t, app.count(), "nothing can be stored while storage is stuck")
	release()
	waitFor(t, 20*time.Second, "the waiting messages to be stored", func() bool { return app.count() == maxUndelivered })
	require.Equal(t, int64(n-maxUndelivered), int64(in.Stats().Failed))
}
