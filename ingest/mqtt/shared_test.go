package mqtt

import (
	"context"
	"fmt"
	"sync"
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

// requireSplit checks that the instances together stored each of the
// sharedN samples exactly once and that each instance stored some.
func requireSplit(t *testing.T, apps ...*memAppender) {
	t.Helper()
	waitFor(t, 20*time.Second, "every message to be stored", func() bool {
		n := 0
		for _, a := range apps {
			n += a.count()
		}
		return n >= sharedN
	})
	time.Sleep(200 * time.Millisecond) // a duplicate would arrive about now
	seen := map[string]int{}
	for i, a := range apps {
		a.mu.Lock()
		require.NotZero(t, len(a.writes), "instance %d received nothing", i)
		for k, n := range a.writes {
			seen[k] += n
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
			Rules: []Rule{{Filter: "$share/ldb/plant/#"}}}) // QoS 1 by default
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
	requireSplit(t, apps...)
}

// TestBrokerSharedSubscription: the embedded broker gives each message of
// a shared subscription ($share/dash/plant/#) to one member of the group,
// and stores every message once.
func TestBrokerSharedSubscription(t *testing.T) {
	app := newMemAppender()
	b, _ := startBroker(t, app, BrokerOptions{})
	var mu sync.Mutex
	got := map[string]int{}
	member := map[string]int{}
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
	}
	publishShared(t, b.Addr())
	require.Equal(t, sharedN, app.count(), "every QoS 1 message is stored before its PUBACK")
	waitFor(t, 10*time.Second, "the group to receive every message", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) == sharedN
	})
	time.Sleep(200 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	for p, n := range got {
		require.Equal(t, 1, n, "%q delivered %d times to the group", p, n)
	}
	t.Logf("members received %v", member)
	require.Len(t, member, 2, "both members receive some")
	require.Equal(t, 1, app.writes[`sensor_v{db="iot", device="d0"}@1700000000000000000`])
}
