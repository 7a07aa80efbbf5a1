package mqtt

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/require"

	"github.com/lightningdb/lightningdb/internal/mosquittotest"
)

// sharedN is how many QoS 1 messages the shared-subscription tests publish.
const sharedN = 400

// publishShared publishes sharedN QoS 1 messages on plant/<i%4>, each one
// sample of its own (series, timestamp), and waits for every PUBACK.
func publishShared(t *testing.T, addr string) {
	t.Helper()
	pub := connect(t, addr, "device", nil)
	for i := range sharedN {
		line := fmt.Sprintf("sensor,device=d%d v=%di %d", i%4, i, 1700000000000000000+int64(i))
		tok := pub.Publish(fmt.Sprintf("plant/%d", i%4), 1, false, line)
		require.True(t, tok.WaitTimeout(10*time.Second), "publish %d timed out", i)
		require.NoError(t, tok.Error())
	}
}

// fenceShared publishes one message on fence/<i> for each instance i (each
// subscribes to its own) and waits until every instance stored its own.
// The broker queues a subscriber's messages in order, and every message
// of the test was routed before its PUBACK: once an instance has its
// fence, any duplicate copy for it would have come before.
func fenceShared(t *testing.T, addr string, apps ...*memAppender) {
	t.Helper()
	pub := connect(t, addr, "fence", nil)
	for i, a := range apps {
		tok := pub.Publish(fmt.Sprintf("fence/%d", i), 1, false, "fence v=1i 1")
		require.True(t, tok.WaitTimeout(10*time.Second), "fence %d timed out", i)
		require.NoError(t, tok.Error())
		waitFor(t, 10*time.Second, fmt.Sprintf("instance %d to store its fence", i), func() bool {
			a.mu.Lock()
			defer a.mu.Unlock()
			return a.writes[`fence_v{db="iot"}@1`] > 0
		})
	}
}

// requireSplit checks that the instances together stored each of the
// sharedN samples exactly once and that each instance stored some.
func requireSplit(t *testing.T, addr string, apps ...*memAppender) {
	t.Helper()
	waitFor(t, 20*time.Second, "every message to be stored", func() bool {
		n := 0
		for _, a := range apps {
			n += a.count()
		}
		return n >= sharedN
	})
	fenceShared(t, addr, apps...)
	seen := map[string]int{}
	for i, a := range apps {
		a.mu.Lock()
		require.NotZero(t, len(a.writes), "instance %d received nothing", i)
		for k, n := range a.writes {
			if !strings.HasPrefix(k, "fence_") {
				seen[k] += n
			}
		}
		t.Logf("instance %d stored %d messages", i, len(a.writes))
		a.mu.Unlock()
	}
	require.Len(t, seen, sharedN)
	for k, n := range seen {
		require.Equal(t, 1, n, "%s stored %d times", k, n)
	}
}

// TestSubscriberSharedSubscription runs two ingest instances (an Ingestor
// and a Subscriber each, with their own storage and client ID) on the same
// $share/ldb/plant/# of a real mosquitto: the stream is split between them,
// every message stored exactly once. paho speaks MQTT 3.1.1; mosquitto
// accepts $share/ from 3.1.1 clients as well.
func TestSubscriberSharedSubscription(t *testing.T) {
	m := mosquittotest.Start(t)
	apps := []*memAppender{newMemAppender(), newMemAppender()}
	for i, app := range apps {
		in, err := New(app, Options{DB: "iot"})
		require.NoError(t, err)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { in.Run(ctx); close(done) }()
		s, err := NewSubscriber(in, SubscriberOptions{Name: fmt.Sprintf("node%d", i), Brokers: []string{"tcp://" + m.Addr},
			Rules: []Rule{{Filter: "$share/ldb/plant/#"}, {Filter: fmt.Sprintf("fence/%d", i)}}}) // QoS 1 by default
		require.NoError(t, err)
		go s.Run()
		t.Cleanup(func() {
			s.Close()
			cancel()
			<-done
		})
		waitFor(t, 10*time.Second, "subscriber to connect", func() bool { return in.Stats().Connects == 1 })
	}
	publishShared(t, m.Addr)
	requireSplit(t, m.Addr, apps...)
}

// TestBrokerSharedSubscription: the embedded broker gives each message of
// a shared subscription ($share/dash/plant/#) to one member of the group,
// and stores every message once.
func TestBrokerSharedSubscription(t *testing.T) {
	app := newMemAppender()
	// mochi picks the member at random and drops the copy when that
	// member holds MaxInflight unacknowledged ones (100 by default): on a
	// loaded machine a paho member fell 100 acknowledgements behind and
	// the group lost copies (2 of 300 runs beside the hostile process
	// tests; 42 and 6 copies dropped). This test is about the split, not
	// that limit: room for every message.
	b, _ := startBroker(t, app, BrokerOptions{MaxInflight: 2 * sharedN})
	var mu sync.Mutex
	got := map[string]int{}
	member := map[string]int{}
	t.Cleanup(func() {
		if t.Failed() { // why copies went missing, if mochi dropped them
			mu.Lock()
			defer mu.Unlock()
			t.Logf("group received %d of %d (by member %v); mochi dropped %d in-flight copies (quota) and %d queued messages",
				len(got), sharedN, member, atomic.LoadInt64(&b.srv.Info.InflightDropped), atomic.LoadInt64(&b.srv.Info.MessagesDropped))
		}
	})
	fences := make(chan string, 2)
	for _, id := range []string{"dash-a", "dash-b"} {
		sub := connect(t, b.Addr(), id, nil)
		tok := sub.Subscribe("$share/dash/plant/#", 1, func(_ paho.Client, msg paho.Message) {
			mu.Lock()
			got[string(msg.Payload())]++
			member[id]++
			mu.Unlock()
		})
		require.True(t, tok.WaitTimeout(5*time.Second))
		require.NoError(t, tok.Error())
		tok = sub.Subscribe("fence/"+id, 1, func(paho.Client, paho.Message) { fences <- id })
		require.True(t, tok.WaitTimeout(5*time.Second))
		require.NoError(t, tok.Error())
	}
	publishShared(t, b.Addr())
	require.Equal(t, sharedN, app.count(), "every QoS 1 message is stored before its PUBACK")
	waitFor(t, 10*time.Second, "the group to receive every message", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) == sharedN
	})
	// A fence for each member, after every message: a member's messages
	// come in the order the broker routed them, so a duplicate would come
	// before its fence.
	pub := connect(t, b.Addr(), "fence", nil)
	for _, id := range []string{"dash-a", "dash-b"} {
		tok := pub.Publish("fence/"+id, 1, false, "fence v=1i 1")
		require.True(t, tok.WaitTimeout(10*time.Second))
		require.NoError(t, tok.Error())
	}
	for range 2 {
		select {
		case <-fences:
		case <-time.After(10 * time.Second):
			t.Fatal("a member did not receive its fence")
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for p, n := range got {
		require.Equal(t, 1, n, "%q delivered %d times to the group", p, n)
	}
	t.Logf("members received %v", member)
	require.Len(t, member, 2, "both members receive some")
	require.Equal(t, 1, app.writes[`sensor_v{db="iot", device="d0"}@1700000000000000000`])
}
