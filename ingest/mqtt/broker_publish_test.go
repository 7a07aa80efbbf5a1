//go:build linux

package mqtt

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestBrokerServesPublisherThenSubscriber: a MQTT 3.1.1 publisher is
// served by mochi from its CONNECT; a SUBSCRIBE and a PUBLISH in the same
// write are both answered, and the PUBLISH is acknowledged and routed.
func TestBrokerServesPublisherThenSubscriber(t *testing.T) {
	app := newMemAppender()
	b, _ := startBroker(t, app, BrokerOptions{})
	w, _ := connectWire(t, b.Addr(), wireConnectOpts{id: "pub1"})
	w.write(wirePublish("plant/a", 1, false, 1, wireLine("pub", 1)))
	w.expectAck(pktPuback, 1)
	requireWireStored(t, app, "pub", 1)
	_, known := b.srv.Clients.Get("pub1")
	require.True(t, known, "client known to mochi")
	require.EqualValues(t, 1, atomic.LoadInt64(&b.srv.Info.ClientsConnected))

	w.write(wireSubscribe(2, "plant/#", 1), wirePublish("plant/b", 1, false, 3, wireLine("pub", 3)))
	require.EqualValues(t, 2, w.expect(pktSuback).id())
	var acked, routed bool
	for !acked || !routed {
		m, err := w.read(5 * time.Second)
		require.NoError(t, err)
		switch m.typ {
		case pktPuback:
			require.EqualValues(t, 3, m.id(), "%v", m)
			acked = true
		case pktPublish:
			topic, qos, _, id, payload := m.publish(t)
			require.Equal(t, "plant/b", topic)
			require.Equal(t, wireLine("pub", 3), payload)
			if qos > 0 {
				w.write(wireAck(pktPuback, id))
			}
			routed = true
		default:
			t.Fatalf("unexpected %v", m)
		}
	}
	requireWireStored(t, app, "pub", 3)
}

// TestBrokerRejectionAccounting: many clients publish at once, so
// appends hold messages of many connections; some messages carry a
// sample storage refuses (a type conflict). Every message is acknowledged,
// and the counters attribute each refusal to its own message.
func TestBrokerRejectionAccounting(t *testing.T) {
	app := newMemAppender()
	b, in := startBroker(t, app, BrokerOptions{})
	w, _ := connectWire(t, b.Addr(), wireConnectOpts{id: "first"})
	w.write(wirePublish("plant/c", 1, false, 1, "conf,c=x v=1 1700000000000000000"))
	w.expectAck(pktPuback, 1)

	const clients, msgs = 40, 10
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := publishRaw(b.Addr(), c, msgs); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	st := in.Stats()
	rejectedMsgs := (msgs + 2) / 3 // j = 0, 3, 6, 9
	require.EqualValues(t, 1+clients*msgs, st.Messages)
	require.EqualValues(t, 1+clients*msgs, st.Samples, "stored samples")
	require.EqualValues(t, clients*rejectedMsgs, st.Rejected, "refused samples")
	require.EqualValues(t, clients*rejectedMsgs, st.ParseErrors, "messages with a refusal")
	require.EqualValues(t, 1+clients*msgs, st.Acked)
	for c := range clients {
		for j := range msgs {
			key := fmt.Sprintf(`ok_v{c="%d", db="iot"}@%d`, c, 1700000000000000000+int64(j))
			app.mu.Lock()
			v := app.data[key]
			app.mu.Unlock()
			require.Equal(t, fmt.Sprintf("float:%d", j), v, key)
		}
	}
}

// publishRaw connects client c and publishes msgs QoS 1 messages, every
// third with a string sample for the float series conf, pipelined in one
// write, and checks the PUBACKs.
func publishRaw(addr string, c, msgs int) error {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	out := wireConnect(wireConnectOpts{id: "c" + strconv.Itoa(c)})
	for j := range msgs {
		payload := fmt.Sprintf("ok,c=%d v=%d %d", c, j, 1700000000000000000+int64(j))
		if j%3 == 0 {
			payload += fmt.Sprintf("\nconf,c=x v=\"s\" %d", 1700000000000000000+int64(c*msgs+j))
		}
		out = append(out, wirePublish("plant/c", 1, false, uint16(j+1), payload)...)
	}
	if _, err := conn.Write(out); err != nil {
		return err
	}
	want := []byte{0x20, 2, 0, 0}
	for j := range msgs {
		want = append(want, 0x40, 2, 0, byte(j+1))
	}
	got := make([]byte, len(want))
	if _, err := ioReadFull(conn, got); err != nil {
		return fmt.Errorf("client %d: %w", c, err)
	}
	if !bytes.Equal(got, want) {
		return fmt.Errorf("client %d: got % x, want % x", c, got, want)
	}
	return nil
}

func ioReadFull(conn net.Conn, p []byte) (int, error) {
	n := 0
	for n < len(p) {
		k, err := conn.Read(p[n:])
		n += k
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// BenchmarkBrokerPublish: 100 raw MQTT 3.1.1 publishers over loopback,
// one QoS 1 message of one line-protocol sample in flight each, through
// the broker into an appender that returns at once. Reports messages per
// second and per Append; allocations include the publishers'.
func BenchmarkBrokerPublish(b *testing.B) {
	app := &nopAppender{}
	in, err := New(app, Options{})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { in.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	br, err := NewBroker(in, BrokerOptions{Addr: "127.0.0.1:0"})
	if err != nil {
		b.Fatal(err)
	}
	if err := br.Serve(); err != nil {
		b.Fatal(err)
	}
	defer br.Close()
	const clients = 100
	conns := make([]net.Conn, clients)
	for i := range conns {
		c, err := net.Dial("tcp", br.Addr())
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		if _, err := c.Write(wireConnect(wireConnectOpts{id: "bench" + strconv.Itoa(i)})); err != nil {
			b.Fatal(err)
		}
		var ack [4]byte
		if _, err := ioReadFull(c, ack[:]); err != nil {
			b.Fatal(err)
		}
		conns[i] = c
	}
	pkt := wirePublish("bench/d1", 1, false, 1, "bench,dev=d1 v=1.5")
	b.SetBytes(int64(len(pkt)))
	b.ReportAllocs()
	b.ResetTimer()
	var next atomic.Int64
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := bytes.Clone(pkt)
			var ack [4]byte
			for next.Add(1) <= int64(b.N) {
				if _, err := c.Write(p); err != nil {
					b.Error(err)
					return
				}
				if _, err := ioReadFull(c, ack[:]); err != nil || ack[0] != 0x40 {
					b.Errorf("ack % x: %v", ack, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	b.ReportMetric(float64(b.N)/float64(max(app.batches.Load(), 1)), "msgs/Append")
}
