//go:build linux

package mqtt

// Tests of CONNECT handling in the publish loop (publoop.go): what it
// refuses and counts the way mochi does. Each failed against the code
// before its fix.

import (
	"encoding/binary"
	"fmt"
	"strings"
	"testing"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/stretchr/testify/require"
)

// TestPublishLoopWillClientCountedInMochiIDs: a client that goes to mochi
// because of its will (or MQTT 5) is counted in mochiIDs by its client
// ID, so a loop-eligible client with the same ID that connects after
// mochi's takeover hook and before mochi's Clients.Add goes to mochi too
// instead of being served by the loop next to it [MQTT-3.1.4-2].
func TestPublishLoopWillClientCountedInMochiIDs(t *testing.T) {
	h := newStallHook(mochi.OnSessionEstablish, "twin")
	b, _ := startBrokerOpts(t, newMemAppender(), Options{DB: "iot"}, BrokerOptions{}, h)
	m := dialWire(t, b.Addr())
	m.write(wireConnect(wireConnectOpts{id: "twin", willTopic: "will/twin", willMsg: "gone"}))
	select {
	case <-h.entered:
	case <-time.After(5 * time.Second):
		t.Fatal("mochi did not establish the will client")
	}
	l, _ := connectWire(t, b.Addr(), wireConnectOpts{id: "twin"})
	onLoop := loopOf(b, "twin") != nil
	close(h.release)
	m.expect(pktConnack)
	requireOneServed(t, b, l, m, fmt.Sprintf("the second on the loop: %v", onLoop))
}

// TestPublishLoopRefusesWhatMochiRefuses: a MQTT 3.1.1 CONNECT that
// mochi's ConnectValidate refuses (here: the password flag with an empty
// password, ErrProtocolViolationFlagNoPassword) is not served by the
// loop: it would be cut off at its first hand-over (SUBSCRIBE), when
// mochi refuses the replayed CONNECT. It is refused at CONNECT, as with
// NoPublishLoop.
func TestPublishLoopRefusesWhatMochiRefuses(t *testing.T) {
	connectEmptyPass := func(id string) []byte {
		body := wireAppendString(nil, "MQTT")
		body = append(body, 4, 0xc0|0x02, 0, 0)
		body = wireAppendString(body, id)
		body = wireAppendString(body, "dev")
		body = wireAppendString(body, "")
		return wirePacket(pktConnect<<4, body)
	}
	for _, noLoop := range []bool{true, false} {
		b, _ := startBrokerOpts(t, newMemAppender(), Options{DB: "iot"}, BrokerOptions{NoPublishLoop: noLoop})
		w := dialWire(t, b.Addr())
		w.write(connectEmptyPass("nopass"))
		ca := w.expect(pktConnack)
		t.Logf("NoPublishLoop=%v: CONNACK %v", noLoop, ca)
		if ca.body[1] != 0 {
			continue // refused up front: consistent
		}
		w.write(wirePublish("plant/a", 1, false, 1, wireLine("nopass", 1)))
		w.expectAck(pktPuback, 1)
		w.write(wireSubscribe(2, "cmd/#", 1))
		got, err := w.read(2 * time.Second)
		if err != nil || got.typ != pktSuback {
			t.Errorf("NoPublishLoop=%v: connection accepted and publishing, then SUBSCRIBE answered with %v, %v (the hand-over's replayed CONNECT was refused)", noLoop, got, err)
		}
	}
}

// TestPublishLoopLargeConnectCounted: a CONNECT over 64 KiB (a large
// will) goes to mochi unparsed, but its client ID, read from the first
// 64 KiB, is counted in mochiIDs, so a loop-eligible client with the same
// ID connecting meanwhile goes to mochi too.
func TestPublishLoopLargeConnectCounted(t *testing.T) {
	h := newStallHook(mochi.OnSessionEstablish, "twin")
	b, _ := startBrokerOpts(t, newMemAppender(), Options{DB: "iot"}, BrokerOptions{}, h)
	released := false
	t.Cleanup(func() {
		if !released {
			close(h.release)
		}
	})
	m := dialWire(t, b.Addr())
	m.write(wireConnect(wireConnectOpts{id: "twin", willTopic: "will/twin", willMsg: strings.Repeat("w", 70<<10)}))
	select {
	case <-h.entered:
	case <-time.After(5 * time.Second):
		t.Fatal("mochi did not establish the will client")
	}
	l, _ := connectWire(t, b.Addr(), wireConnectOpts{id: "twin"})
	onLoop := loopOf(b, "twin") != nil
	close(h.release)
	released = true
	m.expect(pktConnack)
	requireOneServed(t, b, l, m, fmt.Sprintf("the second on the loop: %v", onLoop))
}

// FuzzParseConnectMochi: parseConnect never panics on CONNECTs of MQTT
// 3.1, 3.1.1 and 5 with wills, properties and trailing bytes; the ID it
// returns is mochi's whenever mochi decodes the CONNECT, and loop=true
// always means mochi accepts it.
func FuzzParseConnectMochi(f *testing.F) {
	f.Add(byte(5), byte(0x02), "dev", []byte{0x11, 0, 0, 0, 10}, "", "", "", "", []byte{})
	f.Add(byte(4), byte(0x06), "dev", []byte{}, "w", "m", "", "", []byte{})
	f.Add(byte(3), byte(0xc2), "dev", []byte{}, "", "", "u", "p", []byte{})
	f.Add(byte(5), byte(0xc6), "", []byte{0x80, 0x80, 0x80, 0x80, 1}, "w", "m", "u", "p", []byte{1, 2})
	f.Fuzz(func(t *testing.T, level, flags byte, id string, props []byte, wt, wm, user, pass string, junk []byte) {
		parseConnect(junk)
		name := "MQTT"
		if level == 3 {
			name = "MQIsdp"
		}
		body := wireAppendString(nil, name)
		body = append(body, level, flags, 0, 30)
		if level == 5 {
			body = append(body, wirePacket(0, props)[1:]...) // property length, properties
		}
		body = wireAppendString(body, id)
		if flags&0x04 != 0 {
			if level == 5 {
				body = append(body, 0)
			}
			body = wireAppendString(body, wt)
			body = wireAppendString(body, wm)
		}
		if flags&0x80 != 0 {
			body = wireAppendString(body, user)
		}
		if flags&0x40 != 0 {
			body = wireAppendString(body, pass)
		}
		body = append(body, junk...)
		ci := parseConnect(body)

		pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connect, Remaining: len(body)}}
		var derr error
		func() {
			defer func() {
				if r := recover(); r != nil {
					derr = fmt.Errorf("mochi panicked: %v", r)
				}
			}()
			derr = pk.ConnectDecode(body)
		}()
		if derr == nil && (level == 3 || level == 4 || level == 5) && len(id) < 1<<16 {
			require.Equal(t, pk.Connect.ClientIdentifier, ci.id, "client ID")
		}
		if ci.loop {
			require.NoError(t, derr)
			require.Equal(t, packets.CodeSuccess, pk.ConnectValidate())
			require.Contains(t, []byte{3, 4}, pk.ProtocolVersion)
			require.False(t, pk.Connect.WillFlag)
			require.Equal(t, uint16(30), ci.keepalive)
			require.Equal(t, binary.BigEndian.Uint16([]byte{0, 30}), pk.Connect.Keepalive)
		}
	})
}
