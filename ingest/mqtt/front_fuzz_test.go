//go:build linux

package mqtt

import (
	"strings"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
)

// FuzzFrontDecode feeds the front end's decoders (CONNECT, PUBLISH of
// MQTT 3.x and 5 with topic aliases, SUBSCRIBE/UNSUBSCRIBE through a
// loop's packet handler on no socket, the session expiry of an MQTT 5
// DISCONNECT) arbitrary bytes: none may panic, a PUBLISH that decodes has
// a valid topic name, and the will delay after a DISCONNECT is at most
// the will delay interval.
func FuzzFrontDecode(f *testing.F) {
	f.Add(byte(0x10), wireConnect(wireConnectOpts{id: "a", willTopic: "w", willMsg: "x"})[2:], false)
	f.Add(byte(0x10), wireConnect5("b")[2:], true)
	f.Add(byte(0x32), wirePublish("t/a", 1, false, 1, "m v=1")[2:], false)
	f.Add(byte(0x32), wirePublish5("t/a", 1, "m v=1")[2:], true)
	f.Add(byte(0x34), []byte{0, 0, 0, 1, 3, 0x23, 0, 1, 'x'}, true)
	f.Add(byte(0x82), wireSubscribe(1, "t/#", 1)[2:], false)
	f.Add(byte(0xa2), []byte{0, 1, 0, 3, 't', '/', '#'}, true)
	f.Add(byte(0xe0), []byte{4, 5, 0x11, 0, 0, 0, 2}, true)
	f.Fuzz(func(t *testing.T, first byte, body []byte, v5 bool) {
		_, _, _ = decodeConnect(first, body)
		if first>>4 == 3 {
			aliases := map[uint16]string{1: "t/alias"}
			p, _, err := decodeFrontPublish(first, body, v5, aliases)
			if err == nil && (p.topic == "" || strings.ContainsAny(p.topic, "+#\x00")) {
				t.Fatalf("PUBLISH decoded with topic %q", p.topic)
			}
			return
		}
		if t := first >> 4; t == 8 || t == 10 {
			_, _, _ = decodeSubscribe(t, body, v5)
		}
		if first>>4 == 14 {
			will := packets.Packet{Properties: packets.Properties{WillDelayInterval: 30}}
			c := &frontConn{will: &will, willDelay: 30 * time.Second}
			if d := disconnectWillDelay(c, body, time.Minute); d < 0 || d > c.willDelay {
				t.Fatalf("DISCONNECT made the will delay %v from %v", d, c.willDelay)
			}
		}
	})
}
