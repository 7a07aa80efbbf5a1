package mqtt

// Decoders of the packets the publish front end decodes with mochi's
// code, also used by the gate of mochi's own connections (packetGate).

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/mochi-mqtt/server/v2/packets"
)

// errMalformed is a packet that does not decode.
var errMalformed = fmt.Errorf("mqtt: malformed packet")

// errDecoderPanic is a packet one of mochi's decoders panicked on.
var errDecoderPanic = errors.New("mochi's decoder failed")

// mochiDecode runs one of mochi's packet decoders, which index past the
// end of some malformed packets (an MQTT 5 SUBSCRIBE whose last filter
// has no options byte, FuzzFrontDecode): a panic is a malformed packet.
func mochiDecode(decode func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %w: %v", errMalformed, errDecoderPanic, r)
		}
	}()
	return decode()
}

// decodeSubscribe decodes the body of a SUBSCRIBE or an UNSUBSCRIBE (typ)
// with mochi's decoder; code is the DISCONNECT reason when it does not
// decode, err says what is wrong.
func decodeSubscribe(typ byte, body []byte, v5 bool) (pk packets.Packet, code packets.Code, err error) {
	ver := byte(4)
	if v5 {
		ver = 5
	}
	// The filters outlive the read buffer (see decodeFrontPublish).
	body = bytes.Clone(body)
	pk = packets.Packet{FixedHeader: packets.FixedHeader{Type: typ, Qos: 1, Remaining: len(body)}, ProtocolVersion: ver}
	name := "SUBSCRIBE"
	if typ == packets.Subscribe {
		err = mochiDecode(func() error { return pk.SubscribeDecode(body) })
	} else {
		name = "UNSUBSCRIBE"
		err = mochiDecode(func() error { return pk.UnsubscribeDecode(body) })
	}
	if err != nil {
		return pk, packets.ErrMalformedPacket, fmt.Errorf("%w: %s: %w", errMalformed, name, err)
	}
	if len(pk.Filters) == 0 {
		return pk, packets.ErrProtocolViolation, fmt.Errorf("%w: %s without a topic filter", errMalformed, name) // [MQTT-3.8.3-3]
	}
	return pk, packets.CodeSuccess, nil
}
