package mqtt

import (
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/lightningdb/lightningdb/series"
)

// MQTT 5 publishers are mochi's on every path (the publish loop serves
// MQTT 3.x); these tests pin the reason codes docs/mqtt.md promises them.

// wireConnect5 is a MQTT 5 CONNECT (clean start, no properties).
func wireConnect5(id string) []byte {
	body := wireAppendString(nil, "MQTT")
	body = append(body, 5, 0x02, 0, 0, 0) // level 5, clean start, keep alive 0, no properties
	body = wireAppendString(body, id)
	return wirePacket(pktConnect<<4, body)
}

// wirePublish5 is a MQTT 5 QoS 1 PUBLISH without properties.
func wirePublish5(topic string, id uint16, payload string) []byte {
	body := wireAppendString(nil, topic)
	body = binary.BigEndian.AppendUint16(body, id)
	body = append(body, 0) // property length
	return wirePacket(pktPublish<<4|1<<1, append(body, payload...))
}

// ackReason5 is the reason code of a MQTT 5 PUBACK (absent means success).
func ackReason5(t *testing.T, m wireMsg, id uint16) byte {
	t.Helper()
	require.Equal(t, byte(pktPuback), m.typ, "%v", m)
	require.GreaterOrEqual(t, len(m.body), 2, "%v", m)
	require.Equal(t, id, binary.BigEndian.Uint16(m.body), "%v", m)
	if len(m.body) == 2 {
		return 0
	}
	return m.body[2]
}

// TestBrokerMQTT5ReasonCodes: a MQTT 5 publisher gets PUBACK success for a
// stored message, 0x99 (payload format invalid) when nothing of the
// payload could be stored, and 0x97 (quota exceeded) when storage is
// overloaded or fails, on a connection that stays open; every PUBACK
// after the Append returned.
func TestBrokerMQTT5ReasonCodes(t *testing.T) {
	wirePaths(t, func(t *testing.T, opts BrokerOptions) {
		app := newMemAppender()
		b, _ := startBroker(t, app, opts)
		w := dialWire(t, b.Addr())
		w.write(wireConnect5("v5"))
		ca := w.expect(pktConnack)
		require.GreaterOrEqual(t, len(ca.body), 3, "%v", ca)
		require.Zero(t, ca.body[1], "CONNACK reason: %v", ca)

		w.write(wirePublish5("plant/v5", 1, wireLine("v5", 1)))
		require.Zero(t, ackReason5(t, w.expect(pktPuback), 1))
		requireWireStored(t, app, "v5", 1)

		w.write(wirePublish5("plant/v5", 2, "not line protocol"))
		require.Equal(t, byte(0x99), ackReason5(t, w.expect(pktPuback), 2))

		app.mu.Lock()
		app.err = series.ErrOverloaded
		app.mu.Unlock()
		w.write(wirePublish5("plant/v5", 3, wireLine("v5", 3)))
		require.Equal(t, byte(0x97), ackReason5(t, w.expect(pktPuback), 3))
		app.mu.Lock()
		app.err = errors.New("disk on fire")
		app.mu.Unlock()
		w.write(wirePublish5("plant/v5", 4, wireLine("v5", 4)))
		require.Equal(t, byte(0x97), ackReason5(t, w.expect(pktPuback), 4))

		app.mu.Lock()
		app.err = nil
		app.gate = make(chan struct{})
		gate := app.gate
		app.mu.Unlock()
		w.write(wirePublish5("plant/v5", 5, wireLine("v5", 5)))
		w.expectSilence(200 * time.Millisecond)
		close(gate)
		require.Zero(t, ackReason5(t, w.expect(pktPuback), 5))
		requireWireStored(t, app, "v5", 5)
		require.Equal(t, 2, app.count(), "%v", app.dump(true))
	})
}
