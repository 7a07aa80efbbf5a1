package mqtt

import (
	"context"
	"fmt"
	"runtime"
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

// TestSubscriberFloodBounded: a flood (mosquitto sends QoS 0 without
// waiting, and QoS 1 up to its max_inflight_messages, 20 here) against a
// subscriber whose storage is stuck: it takes at most MaxUndelivered
// messages and reads nothing more (the broker keeps the rest), and once
// storage moves again every message is stored, none lost.
func TestSubscriberFloodBounded(t *testing.T) {
	for _, qos := range []int{0, 1} {
		t.Run(fmt.Sprintf("qos%d", qos), func(t *testing.T) { subscriberFlood(t, qos) })
	}
}

func subscriberFlood(t *testing.T, qos int) {
	m := mosquittotest.Start(t)
	app := &stuckAppender{memAppender: newMemAppender(), open: make(chan struct{})}
	in, err := New(app, Options{DB: "iot"})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { in.Run(ctx); close(done) }()
	const maxUndelivered, n = 4, 500
	s, err := NewSubscriber(in, SubscriberOptions{Name: "flood", Brokers: []string{"tcp://" + m.Addr},
		MaxUndelivered: maxUndelivered, Rules: []Rule{{Filter: "flood/#", QoS: &qos}}})
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
	before := runtime.NumGoroutine()
	for i := range n {
		tok := pub.Publish("flood/a", byte(qos), false, fmt.Sprintf("flood v=%di %d", i, 1700000000000000000+int64(i)))
		require.True(t, tok.WaitTimeout(10*time.Second))
		require.NoError(t, tok.Error())
	}
	// The subscriber takes maxUndelivered messages, and then reads nothing
	// while storage is stuck: no goroutine per message waits for a slot
	// (what paho's unordered mode did), so the goroutine count stays put.
	waitFor(t, 10*time.Second, "the slots to fill", func() bool { return in.Stats().Messages >= maxUndelivered })
	if eventually(2*time.Second, func() bool { return runtime.NumGoroutine() > before+n/4 }) {
		t.Fatalf("%d goroutines with storage stuck, %d before the flood: messages pile up in memory", runtime.NumGoroutine(), before)
	}
	require.Equal(t, int64(maxUndelivered), in.Stats().Messages)
	require.Zero(t, app.count(), "nothing can be stored while storage is stuck")
	release()
	waitFor(t, 30*time.Second, "every message to be stored", func() bool { return app.count() == n })
	require.Zero(t, in.Stats().Failed)
}
