package mqtt

import (
	"encoding/binary"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestSelectFormat(t *testing.T) {
	for _, c := range []struct {
		ct      string
		utf8    bool
		payload string
		want    string
		err     string
	}{
		{"", false, "21.5", "", ""},
		{"", true, "21.5", FormatValue, ""},
		{"", true, " -3e2\n", FormatValue, ""},
		{"", true, "inf", "", ""},
		{"", true, "m v=1", "", ""},
		{"", true, "\xff", "", "not valid UTF-8"},
		{"application/json", false, "{}", FormatJSON, ""},
		{"application/json; charset=utf-8", false, "{}", FormatJSON, ""},
		{"application/senml+json", false, "[]", FormatJSON, ""},
		{"text/json", false, "{}", FormatJSON, ""},
		{"application/vnd.influx.line-protocol", true, "42", FormatLine, ""},
		{"text/plain; format=line", false, "m v=1", FormatLine, ""},
		{"text/plain; format=value", false, "on", FormatValue, ""},
		{"text/plain", false, "m v=1", "", ""},
		{"application/octet-stream", false, "x", "", ""},
		{"not a type;;", false, "x", "", ""},
	} {
		got, err := selectFormat(&msgProps{contentType: c.ct, utf8: c.utf8}, []byte(c.payload))
		if c.err != "" {
			require.ErrorContains(t, err, c.err, "%+v", c)
			require.ErrorIs(t, err, ErrSyntax)
			continue
		}
		require.NoError(t, err, "%+v", c)
		require.Equal(t, c.want, got, "%+v", c)
	}
}

func TestUserPropertyLabelsConfig(t *testing.T) {
	o := DefaultOptions()
	o.fill()
	for _, bad := range []string{"__name__", "db", ""} {
		_, err := compileRule(Rule{UserPropertyLabels: []string{bad}}, &o)
		require.Error(t, err, bad)
		require.ErrorContains(t, err, "user_property_labels")
	}
	_, err := compileRule(Rule{UserPropertyLabels: []string{"site", "line"}}, &o)
	require.NoError(t, err)
}

// wireProps encodes MQTT 5 properties with their length.
func wireProps(props ...[]byte) []byte {
	var all []byte
	for _, p := range props {
		all = append(all, p...)
	}
	return append(wireVarint(nil, len(all)), all...)
}

func wireVarint(dst []byte, n int) []byte {
	for {
		b := byte(n % 128)
		n /= 128
		if n > 0 {
			b |= 0x80
		}
		dst = append(dst, b)
		if n == 0 {
			return dst
		}
	}
}

func propString(id byte, s string) []byte { return wireAppendString([]byte{id}, s) }
func propUser(k, v string) []byte         { return wireAppendString(wireAppendString([]byte{0x26}, k), v) }
func propU32(id byte, v uint32) []byte    { return binary.BigEndian.AppendUint32([]byte{id}, v) }
func propU16(id byte, v uint16) []byte    { return binary.BigEndian.AppendUint16([]byte{id}, v) }

// wirePublish5P is an MQTT 5 PUBLISH with properties (props from wireProps).
func wirePublish5P(topic string, qos byte, retain bool, id uint16, props []byte, payload string) []byte {
	first := byte(pktPublish<<4) | qos<<1
	if retain {
		first |= 1
	}
	body := wireAppendString(nil, topic)
	if qos > 0 {
		body = binary.BigEndian.AppendUint16(body, id)
	}
	body = append(body, props...)
	return wirePacket(first, append(body, payload...))
}

// ack5 returns the reason code and reason string of an MQTT 5 PUBACK or
// PUBREC.
func ack5(t *testing.T, m wireMsg, typ byte, id uint16) (byte, string) {
	t.Helper()
	require.Equal(t, typ, m.typ, "%v", m)
	require.Equal(t, id, binary.BigEndian.Uint16(m.body), "%v", m)
	if len(m.body) < 3 {
		return 0, ""
	}
	code := m.body[2]
	if len(m.body) < 4 {
		return code, ""
	}
	n, k := binary.Uvarint(m.body[3:]) // MQTT's variable byte integer is a uvarint
	props := m.body[3+k : 3+k+int(n)]
	for len(props) > 0 {
		switch props[0] {
		case 0x1F:
			n := int(binary.BigEndian.Uint16(props[1:]))
			return code, string(props[3 : 3+n])
		case 0x26:
			k := int(binary.BigEndian.Uint16(props[1:]))
			v := int(binary.BigEndian.Uint16(props[3+k:]))
			props = props[5+k+v:]
		default:
			t.Fatalf("unexpected property %#x in %v", props[0], m)
		}
	}
	return code, ""
}

// TestBrokerMQTT5Properties on the wire: user properties as labels, the
// content type choosing the format, a topic alias, and refusals with
// reason strings, for QoS 1 (PUBACK) and QoS 2 (PUBREC: mochi would
// answer a refused QoS 2 message with a PUBACK).
func TestBrokerMQTT5Properties(t *testing.T) {
	app := newMemAppender()
	b, _ := startBroker(t, app, BrokerOptions{Rules: []Rule{{Filter: "#", UserPropertyLabels: []string{"site"}}}})
	w := dialWire(t, b.Addr())
	w.write(wireConnect5("props"))
	w.expect(pktConnack)

	w.write(wirePublish5P("p/1", 1, false, 1, wireProps(propUser("site", "north"), propUser("site", "second"), propUser("x", "y")),
		"m v=1 1700000000000000000"))
	code, _ := ack5(t, w.expect(pktPuback), pktPuback, 1)
	require.Zero(t, code)
	w.write(wirePublish5P("p/1", 2, false, 2, wireProps(propString(0x03, "application/json"), propU16(0x23, 7)), `{"j":2}`))
	code, _ = ack5(t, w.expect(pktPubrec), pktPubrec, 2)
	require.Zero(t, code)
	w.write(wireAck(pktPubrel, 2))
	w.expect(pktPubcomp)
	// The alias alone names p/1 now.
	w.write(wirePublish5P("", 1, false, 3, wireProps(propU16(0x23, 7), propU32(0x02, 60)), "a v=3 1700000000000000000"))
	code, _ = ack5(t, w.expect(pktPuback), pktPuback, 3)
	require.Zero(t, code)

	w.write(wirePublish5P("p/1", 1, false, 4, wireProps(), "garbage"))
	code, reason := ack5(t, w.expect(pktPuback), pktPuback, 4)
	require.Equal(t, byte(0x99), code)
	require.Contains(t, reason, "bad payload: 1 of 1 lines rejected, first: line 1: unable to parse 'garbage'")
	w.write(wirePublish5P("p/1", 2, false, 5, wireProps(propU32(0x02, 60)), "garbage"))
	code, reason = ack5(t, w.expect(pktPubrec), pktPubrec, 5)
	require.Equal(t, byte(0x99), code)
	require.Contains(t, reason, "bad payload")
	w.write(wirePublish5P("p/1", 1, false, 6, wireProps(propUser("site", strings.Repeat("x", 300))), "m v=6 1700000000000000000"))
	code, _ = ack5(t, w.expect(pktPuback), pktPuback, 6)
	require.Zero(t, code)
	// Payload format indicator 1 (UTF-8) and a payload that is not.
	w.write(wirePublish5P("p/1", 1, false, 7, wireProps([]byte{0x01, 1}), "\xff"))
	code, reason = ack5(t, w.expect(pktPuback), pktPuback, 7)
	require.Equal(t, byte(0x99), code)
	require.Contains(t, reason, "not valid UTF-8")

	// Storage refuses every sample (a value type conflict): 0x83.
	w.write(wirePublish5P("p/1", 1, false, 8, wireProps(propUser("site", "north")), `m v="text" 1700000000000000000`))
	code, reason = ack5(t, w.expect(pktPuback), pktPuback, 8)
	require.Equal(t, byte(0x83), code)
	require.Contains(t, reason, "rejected by storage: 1 samples: value type conflict")

	w.expectSilence(100 * time.Millisecond)
	got := app.dump(true)
	require.Contains(t, got, `m_v{db="iot", site="north"}=float:1`)
	require.Contains(t, got, `j{db="iot"}=float:2`)
	require.Contains(t, got, `a_v{db="iot"}=float:3`)
	require.Contains(t, got, `m_v{db="iot", site="`+strings.Repeat("x", 300)+`"}=float:6`)
	require.Len(t, got, 4, "%v", got)
}

// TestBrokerMQTT5MessageExpiry: a retained message with a message expiry
// interval of 1 s is stored as samples like any other; a subscriber
// right away gets it with the interval left; once it expired, a new
// subscriber gets no retained message.
func TestBrokerMQTT5MessageExpiry(t *testing.T) {
	app := newMemAppender()
	b, _ := startBroker(t, app, BrokerOptions{})
	w := dialWire(t, b.Addr())
	w.write(wireConnect5("exp-pub"))
	w.expect(pktConnack)
	w.write(wirePublish5P("exp/1", 1, true, 1, wireProps(propU32(0x02, 1)), "e v=1 1700000000000000000"))
	code, _ := ack5(t, w.expect(pktPuback), pktPuback, 1)
	require.Zero(t, code)
	require.Contains(t, app.dump(true), `e_v{db="iot"}=float:1`)

	subscribe := func(id string) (wireMsg, bool) {
		s := dialWire(t, b.Addr())
		s.write(wireConnect5(id))
		s.expect(pktConnack)
		body := binary.BigEndian.AppendUint16(nil, 1)
		body = append(body, 0) // no properties
		body = wireAppendString(body, "exp/#")
		body = append(body, 1)
		s.write(wirePacket(pktSubscribe<<4|2, body))
		s.expect(pktSuback)
		m, err := s.read(300 * time.Millisecond)
		if err != nil {
			require.True(t, isTimeout(err), "%v", err)
			return wireMsg{}, false
		}
		return m, true
	}
	m, ok := subscribe("exp-sub0")
	require.True(t, ok, "the retained message did not arrive")
	require.Equal(t, byte(pktPublish), m.typ)
	// topic, packet ID, then the properties: 0x02 message expiry interval.
	tl := int(binary.BigEndian.Uint16(m.body))
	props := m.body[2+tl+2:]
	require.Contains(t, string(props[1:1+props[0]]), "\x02\x00\x00\x00", "message expiry interval forwarded: %v", m)
	waitFor(t, 10*time.Second, "the retained message expires", func() bool {
		_, ok := subscribe("exp-sub")
		return !ok
	})
}
