package mqtt

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/lightningdb/lightningdb/internal/mosquittotest"
)

// TestSubscriberMQTT5AckAfterCommit: an MQTT 5 subscription (paho.golang)
// to a real mosquitto acknowledges only after the commit. With the
// appender held, a QoS 1 message arrives but is not acknowledged; the
// subscriber closes; a new one with the same client ID gets it again from
// mosquitto (persistent session) and stores it, with its user property
// as a label.
func TestSubscriberMQTT5AckAfterCommit(t *testing.T) {
	m := mosquittotest.Start(t)
	pub := mosquittotest.Need(t, "mosquitto_pub")
	app := newMemAppender()
	gate := make(chan struct{})
	app.gate = gate
	t.Cleanup(func() {
		select {
		case <-gate:
		default:
			close(gate) // a held Append must end for the committer to stop
		}
	})
	in, err := New(app, Options{DB: "iot"})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { in.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	opts := SubscriberOptions{Name: "v5", Brokers: []string{"tcp://" + m.Addr}, ClientID: "ldb-v5-redeliver", ProtocolVersion: 5,
		Rules: []Rule{{Filter: "plant/#", UserPropertyLabels: []string{"site"}}}}
	s, err := NewSubscriber(in, opts)
	require.NoError(t, err)
	go s.Run()
	waitFor(t, 10*time.Second, "subscriber to connect", func() bool { return in.Stats().Connects == 1 })
	host, port, _ := strings.Cut(m.Addr, ":")
	out, err := exec.Command(pub, "-h", host, "-p", port, "-V", "mqttv5", "-q", "1", "-t", "plant/a",
		"-m", "r v=1 1700000000000000000", "-D", "publish", "user-property", "site", "north").CombinedOutput()
	require.NoError(t, err, "%s", out)
	waitFor(t, 10*time.Second, "the message to reach the held appender", func() bool { return in.Stats().Messages == 1 })
	require.NoError(t, s.Close())
	require.Zero(t, in.Stats().Acked)
	require.Zero(t, app.count())

	app.mu.Lock()
	app.gate = nil
	app.mu.Unlock()
	close(gate) // the held Append stores the message; it was not acknowledged
	s2, err := NewSubscriber(in, opts)
	require.NoError(t, err)
	go s2.Run()
	t.Cleanup(func() { s2.Close() })
	waitFor(t, 10*time.Second, "mosquitto to redeliver the message", func() bool { return in.Stats().Messages == 2 })
	waitFor(t, 10*time.Second, "the redelivered message to be stored", func() bool { return app.count() == 1 })
	require.Equal(t, []string{`r_v{db="iot", site="north"}=float:1`}, app.dump(true))
	waitFor(t, 10*time.Second, "the ack", func() bool { return in.Stats().Acked == 1 })
}

func TestSubscriberProtocolVersionOptions(t *testing.T) {
	in, err := New(newMemAppender(), Options{})
	require.NoError(t, err)
	_, err = NewSubscriber(in, SubscriberOptions{Name: "x", Brokers: []string{"ws://h:1"}, ProtocolVersion: 5, Rules: []Rule{{}}})
	require.ErrorContains(t, err, `protocol_version 5 takes tcp://`)
	_, err = NewSubscriber(in, SubscriberOptions{Name: "x", Brokers: []string{"tcp://h:1"}, ProtocolVersion: 3, Rules: []Rule{{}}})
	require.ErrorContains(t, err, "protocol_version 3: want 4 (MQTT 3.1.1) or 5")
}
