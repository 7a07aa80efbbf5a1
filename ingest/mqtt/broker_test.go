package mqtt

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/stretchr/testify/require"
)

// startBroker runs an Ingestor over app and an embedded broker on a free
// loopback port; everything stops at the end of the test.
func startBroker(t *testing.T, app *memAppender, opts BrokerOptions) (*Broker, *Ingestor) {
	t.Helper()
	in, err := New(app, Options{DB: "iot"})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { in.Run(ctx); close(done) }()
	opts.Addr = "127.0.0.1:0"
	b, err := NewBroker(in, opts)
	require.NoError(t, err)
	require.NoError(t, b.Serve())
	t.Cleanup(func() {
		b.Close()
		cancel()
		<-done
	})
	return b, in
}

func connect(t testing.TB, addr, id string, opt func(*paho.ClientOptions)) paho.Client {
	t.Helper()
	o := paho.NewClientOptions().AddBroker("tcp://" + addr).SetClientID(id).
		SetAutoReconnect(false).SetConnectTimeout(5 * time.Second)
	if opt != nil {
		opt(o)
	}
	c := paho.NewClient(o)
	tok := c.Connect()
	require.True(t, tok.WaitTimeout(10*time.Second), "connect timed out")
	require.NoError(t, tok.Error())
	t.Cleanup(func() { c.Disconnect(100) })
	return c
}

func TestBrokerStoresEveryQoSAndForwards(t *testing.T) {
	app := newMemAppender()
	b, in := startBroker(t, app, BrokerOptions{})

	var mu sync.Mutex
	var got []string
	sub := connect(t, b.Addr(), "dashboard", nil)
	tok := sub.Subscribe("plant/#", 1, func(_ paho.Client, m paho.Message) {
		mu.Lock()
		got = append(got, m.Topic()+" "+string(m.Payload()))
		mu.Unlock()
	})
	require.True(t, tok.WaitTimeout(5*time.Second))
	require.NoError(t, tok.Error())

	pub := connect(t, b.Addr(), "device", nil)
	for qos := byte(0); qos <= 2; qos++ {
		line := fmt.Sprintf("sensor,device=d1,qos=q%d temp=21.5,count=%di 1700000000000000000", qos, qos)
		tok := pub.Publish("plant/line", qos, false, line)
		require.True(t, tok.WaitTimeout(5*time.Second))
		require.NoError(t, tok.Error())
	}
	// QoS 1 and 2 are stored before the publish returns (ack after commit).
	want := []string{
		`sensor_count{db="iot", device="d1", qos="q1"}@1700000000000000000=integer:1`,
		`sensor_count{db="iot", device="d1", qos="q2"}@1700000000000000000=integer:2`,
		`sensor_temp{db="iot", device="d1", qos="q1"}@1700000000000000000=float:21.5`,
		`sensor_temp{db="iot", device="d1", qos="q2"}@1700000000000000000=float:21.5`,
	}
	for _, w := range want {
		require.Contains(t, app.dump(false), w)
	}
	waitFor(t, 5*time.Second, "QoS 0 sample", func() bool { return app.count() == 6 })
	waitFor(t, 5*time.Second, "dashboard to receive 3 messages", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) == 3
	})
	st := in.Stats()
	require.Equal(t, int64(3), st.Messages)
	require.Equal(t, int64(6), st.Samples)
	require.Equal(t, int64(2), st.Acked)
}

func TestBrokerCredentials(t *testing.T) {
	b, _ := startBroker(t, newMemAppender(), BrokerOptions{Username: "dev", Password: "s3cret"})
	for _, tc := range []struct {
		name, user, pass string
		ok               bool
	}{
		{"none", "", "", false},
		{"wrong password", "dev", "guess", false},
		{"wrong user", "root", "s3cret", false},
		{"right", "dev", "s3cret", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := paho.NewClient(paho.NewClientOptions().AddBroker("tcp://" + b.Addr()).SetClientID("auth-" + tc.name).
				SetUsername(tc.user).SetPassword(tc.pass).SetAutoReconnect(false).SetConnectTimeout(5 * time.Second))
			tok := c.Connect()
			require.True(t, tok.WaitTimeout(10*time.Second), "connect timed out")
			if tc.ok {
				require.NoError(t, tok.Error())
				c.Disconnect(100)
				return
			}
			require.Error(t, tok.Error())
		})
	}
}

func TestBrokerHookProvides(t *testing.T) {
	h := &brokerHook{}
	for _, ev := range []byte{mochi.OnConnectAuthenticate, mochi.OnACLCheck, mochi.OnPublish,
		mochi.OnConnect, mochi.OnPacketEncode, mochi.OnRetainedExpired, mochi.OnDisconnect, mochi.OnWill,
		mochi.OnSelectSubscribers, mochi.OnQosPublish, mochi.OnQosComplete, mochi.OnQosDropped,
		mochi.OnPublishDropped, mochi.OnClientExpired, mochi.OnSubscribe} {
		require.True(t, h.Provides(ev), "event %d", ev)
	}
	for _, ev := range []byte{mochi.OnPacketRead, mochi.OnPublished, mochi.OnUnsubscribe, mochi.OnSessionEstablish} {
		require.False(t, h.Provides(ev), "event %d", ev)
	}
}

// TestBrokerAckAfterCommit: with the appender held, a QoS 1 publisher gets
// no PUBACK; once the append returns, it does, and the sample is stored.
// Both of the broker's paths: nobody subscribed (the hook writes the
// PUBACK itself), and a subscriber to the topic (mochi writes it and
// routes the message).
func TestBrokerAckAfterCommit(t *testing.T) {
	for _, subscribed := range []bool{false, true} {
		t.Run(fmt.Sprintf("subscribed=%v", subscribed), func(t *testing.T) {
			app := newMemAppender()
			gate := make(chan struct{})
			app.gate = gate
			b, in := startBroker(t, app, BrokerOptions{})
			got := make(chan string, 1)
			if subscribed {
				sub := connect(t, b.Addr(), "dashboard", nil)
				tok := sub.Subscribe("plant/#", 1, func(_ paho.Client, m paho.Message) { got <- string(m.Payload()) })
				require.True(t, tok.WaitTimeout(5*time.Second))
				require.NoError(t, tok.Error())
			}
			pub := connect(t, b.Addr(), "device", nil)
			tok := pub.Publish("plant/line", 1, false, "sensor,device=d1 temp=21.5 1700000000000000000")
			require.False(t, tok.WaitTimeout(300*time.Millisecond), "PUBACK before the commit")
			require.Zero(t, app.count())
			close(gate)
			require.True(t, tok.WaitTimeout(5*time.Second), "no PUBACK after the commit")
			require.NoError(t, tok.Error())
			require.Equal(t, 1, app.count())
			require.Equal(t, int64(1), in.Stats().Acked)
			if subscribed {
				select {
				case p := <-got:
					require.Equal(t, "sensor,device=d1 temp=21.5 1700000000000000000", p)
				case <-time.After(5 * time.Second):
					t.Fatal("the subscriber got nothing")
				}
			}
		})
	}
}
