package main

import (
	"bytes"
	"fmt"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/lightningdb/lightningdb/internal/mosquittotest"
)

const redeliveryBase = int64(1_700_000_000_000_000_000)

// publishLines publishes lines from..to-1 of series k_v as one QoS 1
// message each, with mosquitto_pub -l.
func publishLines(t testing.TB, addr, topic string, from, to int) {
	t.Helper()
	if err := publishLinesErr(mosquittotest.Need(t, "mosquitto_pub"), addr, topic, from, to); err != nil {
		t.Fatal(err)
	}
}

func publishLinesErr(pub, addr, topic string, from, to int) error {
	var in bytes.Buffer
	for i := from; i < to; i++ {
		fmt.Fprintf(&in, "k v=%di %d\n", i, redeliveryBase+int64(i)*1e9)
	}
	host, port, _ := strings.Cut(addr, ":")
	cmd := exec.Command(pub, "-h", host, "-p", port, "-t", topic, "-q", "1", "-l", "-i", fmt.Sprintf("pub-%d", from))
	cmd.Stdin = &in
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("mosquitto_pub -l: %w\n%s", err, out)
	}
	return nil
}

// checkExactlyOnce checks that series k_v holds exactly the values 0..n-1
// at their own timestamps, each once.
func checkExactlyOnce(t testing.TB, p *proc, n int) {
	t.Helper()
	var last int
	deadline := time.Now().Add(20 * time.Second)
	var s exported
	for {
		s = p.export(`k_v`)["k_v{db=mqtt}"]
		if len(s.Timestamps) >= n {
			break
		}
		if len(s.Timestamps) != last {
			last, deadline = len(s.Timestamps), time.Now().Add(20*time.Second)
		}
		if time.Now().After(deadline) {
			m := metricsText(t, p)
			var mq []string
			for _, l := range strings.Split(m, "\n") {
				if strings.HasPrefix(l, "lightningdb_mqtt") && !strings.Contains(l, "bucket") {
					mq = append(mq, l)
				}
			}
			t.Fatalf("have %d of %d samples; metrics:\n%s\nlog:\n%s", len(s.Timestamps), n, strings.Join(mq, "\n"), p.log)
		}
		time.Sleep(50 * time.Millisecond) // polling the server's export: no event to wait on
	}
	if len(s.Timestamps) != n {
		t.Fatalf("%d samples, want %d", len(s.Timestamps), n)
	}
	for i, ts := range s.Timestamps {
		if ts != redeliveryBase+int64(i)*1e9 || fmt.Sprint(s.Values[i]) != fmt.Sprint(i) {
			t.Fatalf("sample %d: %v at %d, want %d at %d", i, s.Values[i], ts, i, redeliveryBase+int64(i)*1e9)
		}
	}
}

// TestMQTTSubscriberSIGKILLRedelivery kills the server with SIGKILL while
// it consumes a QoS 1 stream; the broker keeps what was not acknowledged
// (persistent session), redelivers it after the restart, and every
// message is stored exactly once per (series, timestamp).
func TestMQTTSubscriberSIGKILLRedelivery(t *testing.T) {
	m := mosquittotest.Start(t)
	conf := subscriptionConfig(t, m, "ldb-kill", "        - filter: lp/#\n")
	dir := t.TempDir()
	p := startServer(t, dir, "--config", conf, "--mqtt-addr", "")
	waitFor(t, func() bool {
		return strings.Contains(metricsText(t, p), `lightningdb_mqtt_subscriber_connected{source="plant"} 1`)
	})
	const n = 400
	pubErr := make(chan error, 1)
	go func() { pubErr <- publishLinesErr(mosquittotest.Need(t, "mosquitto_pub"), m.Addr, "lp/k", 0, n/2) }()
	waitFor(t, func() bool { return strings.Contains(metricsText(t, p), `lightningdb_mqtt_samples_stored_total`) })
	p.kill()
	if err := <-pubErr; err != nil {
		t.Fatal(err)
	}
	publishLines(t, m.Addr, "lp/k", n/2, n) // queued by mosquitto for the session
	p2 := startServer(t, dir, "--config", conf, "--mqtt-addr", "")
	checkExactlyOnce(t, p2, n)
}

// TestMQTTBrokerRestartUnderLoad restarts mosquitto twice while a paho
// client publishes a QoS 1 stream: the subscriber reconnects with backoff,
// re-subscribes, and nothing is lost.
func TestMQTTBrokerRestartUnderLoad(t *testing.T) {
	m := mosquittotest.Start(t)
	conf := subscriptionConfig(t, m, "ldb-restart", "        - filter: lp/#\n")
	p := startServer(t, t.TempDir(), "--config", conf, "--mqtt-addr", "")
	waitFor(t, func() bool {
		return strings.Contains(metricsText(t, p), `lightningdb_mqtt_subscriber_connected{source="plant"} 1`)
	})

	const n = 1000
	o := paho.NewClientOptions().AddBroker("tcp://" + m.Addr).SetClientID("load-pub").SetCleanSession(false).
		SetAutoReconnect(true).SetMaxReconnectInterval(100 * time.Millisecond).SetConnectRetry(true).
		SetConnectRetryInterval(100 * time.Millisecond)
	pub := paho.NewClient(o)
	if tok := pub.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connect: %v", tok.Error())
	}
	defer pub.Disconnect(100)
	var sent atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < n; i++ {
			line := fmt.Sprintf("k v=%di %d", i, redeliveryBase+int64(i)*1e9)
			for try := 0; try < 200; try++ { // until the broker acknowledged it
				tok := pub.Publish("lp/k", 1, false, line)
				if tok.WaitTimeout(2*time.Second) && tok.Error() == nil {
					break
				}
				time.Sleep(50 * time.Millisecond) // a device's retry pace while the broker is down
			}
			sent.Add(1)
		}
	}()
	for restart := 0; restart < 2; restart++ {
		waitFor(t, func() bool { return sent.Load() > int64(n/3*(restart+1)) && subscriberConnects(t, p) == restart+1 })
		m.Stop()
		waitFor(t, func() bool { // the server saw the broker go
			return strings.Contains(metricsText(t, p), `lightningdb_mqtt_subscriber_connected{source="plant"} 0`)
		})
		m.Restart()
	}
	<-done
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("mosquitto log:\n%s", m.Log())
		}
	})
	checkExactlyOnce(t, p, n)
	waitFor(t, func() bool { return subscriberConnects(t, p) >= 3 })
	if connects := subscriberConnects(t, p); connects < 3 {
		t.Errorf("%d connections, want at least 3 (1 + 2 reconnects)", connects)
	}
}

// subscriberConnects reads lightningdb_mqtt_subscriber_connects_total.
func subscriberConnects(t testing.TB, p *proc) int {
	const name = `lightningdb_mqtt_subscriber_connects_total{source="plant"} `
	var n int
	if met := metricsText(t, p); strings.Contains(met, name) {
		fmt.Sscan(met[strings.Index(met, name)+len(name):], &n)
	}
	return n
}
