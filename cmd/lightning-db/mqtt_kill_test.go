package main

import (
	"bufio"
	be "encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestMQTTEmbeddedBrokerSIGKILLKeepsAcked: raw MQTT 3.1.1 publishers
// stream QoS 1 messages, several in flight each, to the real server, which
// is killed with SIGKILL in the middle of the stream, twice. After each
// restart every message whose PUBACK a publisher had received is stored
// with its value: a PUBACK is only written after the commit that holds the
// message.
func TestMQTTEmbeddedBrokerSIGKILLKeepsAcked(t *testing.T) {
	sigkillUnderLoad(t, 20, func(int) byte { return 1 })
}

// sigkillUnderLoad runs clients raw publishers (client c at QoS qosOf(c),
// streamQoS) against a real server, kills it with SIGKILL after 2,000
// acknowledgements, twice, and after each restart requires every message
// acknowledged to be stored with its value.
func sigkillUnderLoad(t *testing.T, clients int, qosOf func(c int) byte) {
	dir := t.TempDir()
	acked := make([]int, clients) // per client: messages 0..acked-1 acknowledged
	for round := range 2 {
		p := startServer(t, dir)
		addr := mqttAddrOf(p)
		var total atomic.Int64
		reached := make(chan struct{}) // closed at the 2000th acknowledgement
		onAck := func() {
			if total.Add(1) == 2000 {
				close(reached)
			}
		}
		var wg sync.WaitGroup
		errs := make([]error, clients)
		for c := range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				acked[c], errs[c] = streamQoS(addr, c, acked[c], qosOf(c), onAck, nil)
			}()
		}
		select {
		case <-reached:
		case <-time.After(20 * time.Second):
			t.Fatalf("round %d: only %d acknowledgements in 20 s; log:\n%s", round, total.Load(), p.log)
		}
		p.kill()
		wg.Wait()
		for c, err := range errs {
			if err != nil {
				t.Fatalf("round %d: client %d: %v", round, c, err)
			}
		}
		p2 := startServer(t, dir)
		e := p2.export(`kill_v`)
		for c := range clients {
			s := e[fmt.Sprintf("kill_v{c=%d,db=mqtt}", c)]
			have := map[int64]string{}
			for i, ts := range s.Timestamps {
				have[ts] = fmt.Sprint(s.Values[i])
			}
			for i := range acked[c] {
				if v, ok := have[killTS(i)]; !ok || v != fmt.Sprint(i) {
					t.Fatalf("round %d: client %d (QoS %d) message %d acknowledged (of %d) but stored as %q (present %v)",
						round, c, qosOf(c), i, acked[c], v, ok)
				}
			}
		}
		p2.stop()
	}
}

func killTS(i int) int64 { return 1_700_000_000_000_000_000 + int64(i)*1e6 }

// streamQoS publishes kill,c=<c> v=<i>i from message from on, at QoS 1 or
// 2 with up to 8 in flight, until the connection ends (the kill) or stop is
// closed (nil: never); it returns how many messages (from 0) are
// acknowledged, and an error for anything but the end of the connection
// after a successful CONNECT. A QoS 2 message counts as acknowledged at its
// PUBREC, which the client answers with PUBREL.
func streamQoS(addr string, c, from int, qos byte, onAck func(), stop <-chan struct{}) (int, error) {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return from, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(60 * time.Second))
	id := fmt.Sprintf("killer-%d", c)
	body := be.BigEndian.AppendUint16(nil, 4)
	body = append(body, "MQTT"...)
	body = append(body, 4, 0x02, 0, 0)
	body = be.BigEndian.AppendUint16(body, uint16(len(id)))
	body = append(body, id...)
	if _, err := conn.Write(rawPacket(0x10, body)); err != nil {
		return from, err
	}
	r := bufio.NewReader(conn)
	var ack [4]byte
	if _, err := io.ReadFull(r, ack[:]); err != nil || ack[0] != 0x20 || ack[3] != 0 {
		return from, fmt.Errorf("CONNACK % x: %v", ack, err)
	}
	const window = 8
	sent, done := from, from
	ackType := byte(0x40)
	if qos == 2 {
		ackType = 0x50
	}
	for {
		select {
		case <-stop:
			return done, nil
		default:
		}
		for sent < done+window {
			pid := uint16(sent%65535 + 1)
			b := be.BigEndian.AppendUint16(nil, 6)
			b = append(b, "kill/x"...)
			b = be.BigEndian.AppendUint16(b, pid)
			b = fmt.Appendf(b, "kill,c=%d v=%di %d", c, sent, killTS(sent))
			if _, err := conn.Write(rawPacket(0x30|qos<<1, b)); err != nil {
				return done, nil
			}
			sent++
		}
		if _, err := io.ReadFull(r, ack[:]); err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return done, err
			}
			return done, nil
		}
		if ack[0] == 0x70 { // PUBCOMP
			continue
		}
		if want := uint16(done%65535 + 1); ack[0] != ackType || be.BigEndian.Uint16(ack[2:]) != want {
			return done, fmt.Errorf("got % x, want the acknowledgement %#x of %d", ack, ackType, want)
		}
		if qos == 2 {
			if _, err := conn.Write([]byte{0x62, 2, ack[2], ack[3]}); err != nil {
				return done + 1, nil
			}
		}
		done++
		onAck()
	}
}

func rawPacket(first byte, body []byte) []byte {
	out := []byte{first}
	for n := len(body); ; {
		b := byte(n & 0x7f)
		if n >>= 7; n > 0 {
			b |= 0x80
		}
		out = append(out, b)
		if n == 0 {
			break
		}
	}
	return append(out, body...)
}
