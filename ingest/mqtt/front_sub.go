//go:build linux

package mqtt

import (
	"bytes"
	"sync/atomic"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// Subscriptions on the front end: mochi routes, the front end delivers.
// Each filter a client subscribes to becomes an inline subscription of
// mochi's (Topics.InlineSubscribe); mochi calls its handler for every
// message on a matching topic, from whoever published it (a front end
// client, a mochi client, a will, the broker itself), and the handler
// queues the message, encoded as a QoS 0 PUBLISH, on the connection's
// loop. The SUBACK grants QoS 0 whatever QoS was asked for, which MQTT
// allows (the server may grant a lower QoS [MQTT-3.9.3]); the retained
// messages of the filter follow the SUBACK, with the retain flag.
// Subscriptions end with the connection: a front end client has no
// session to keep them in. Subscribers that need QoS 1/2 delivery or
// persistent sessions use mochi's own listener.

// subscribe serves a SUBSCRIBE; false means c is being closed.
func (lp *frontLoop) subscribe(c *frontConn, body []byte) bool {
	pk, code, err := decodeSubscribe(packets.Subscribe, body, c.v5)
	if err != nil {
		lp.protocolError(c, code, err.Error())
		return false
	}
	ver := pk.ProtocolVersion
	l, srv := lp.l, lp.l.b.srv
	codes := make([]byte, len(pk.Filters))
	var retained []packets.Packet
	for i, f := range pk.Filters {
		code := packets.CodeSuccess // granted QoS 0
		switch {
		case !mochi.IsValidFilter(f.Filter, false):
			code = packets.ErrTopicFilterInvalid
		case mochi.IsSharedFilter(f.Filter):
			code = packets.ErrSharedSubscriptionsNotSupported
		case !l.allow(c, f.Filter, false):
			code = packets.ErrNotAuthorized
		}
		if code != packets.CodeSuccess {
			codes[i] = code.Code
			if !c.v5 {
				codes[i] = packets.ErrUnspecifiedError.Code // 0x80 failure
			}
			continue
		}
		id, existed := c.subs[f.Filter]
		if !existed {
			if c.subs == nil {
				c.subs = map[string]int{}
			}
			id = int(l.subID.Add(1))
			c.subs[f.Filter] = id
			srv.Topics.InlineSubscribe(mochi.InlineSubscription{
				Subscription: packets.Subscription{Filter: f.Filter, Identifier: id},
				Handler:      func(_ *mochi.Client, _ packets.Subscription, m packets.Packet) { lp.deliver(c, m, false) },
			})
			// Counted as mochi counts its clients' subscriptions, so the
			// broker's paths know a message has somewhere to go
			// (Broker.hasSubscribers).
			atomic.AddInt64(&srv.Info.Subscriptions, 1)
		}
		if f.RetainHandling == 0 || f.RetainHandling == 1 && !existed {
			retained = append(retained, srv.Topics.Messages(f.Filter)...)
		}
	}
	ack := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Suback}, ProtocolVersion: ver, PacketID: pk.PacketID, ReasonCodes: codes}
	var buf bytes.Buffer
	_ = ack.SubackEncode(&buf)
	for _, m := range retained {
		if p := encodeDelivery(c, m, true); p != nil {
			buf.Write(p)
		}
	}
	lp.msgs = append(lp.msgs, frontMsg{c: c, kind: 8, answer: buf.Bytes()})
	lp.touch(c)
	return true
}

// unsubscribe serves an UNSUBSCRIBE; false means c is being closed.
func (lp *frontLoop) unsubscribe(c *frontConn, body []byte) bool {
	pk, code, err := decodeSubscribe(packets.Unsubscribe, body, c.v5)
	if err != nil {
		lp.protocolError(c, code, err.Error())
		return false
	}
	ver := pk.ProtocolVersion
	codes := make([]byte, len(pk.Filters))
	for i, f := range pk.Filters {
		id, ok := c.subs[f.Filter]
		if !ok {
			codes[i] = packets.CodeNoSubscriptionExisted.Code
			continue
		}
		lp.l.b.srv.Topics.InlineUnsubscribe(id, f.Filter)
		atomic.AddInt64(&lp.l.b.srv.Info.Subscriptions, -1)
		delete(c.subs, f.Filter)
	}
	ack := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Unsuback}, ProtocolVersion: ver, PacketID: pk.PacketID, ReasonCodes: codes}
	var buf bytes.Buffer
	_ = ack.UnsubackEncode(&buf)
	lp.msgs = append(lp.msgs, frontMsg{c: c, kind: 10, answer: buf.Bytes()})
	lp.touch(c)
	return true
}

// unsubscribeAll ends c's subscriptions (its connection closed).
func (lp *frontLoop) unsubscribeAll(c *frontConn) {
	for f, id := range c.subs {
		lp.l.b.srv.Topics.InlineUnsubscribe(id, f)
		atomic.AddInt64(&lp.l.b.srv.Info.Subscriptions, -1)
	}
	c.subs = nil
}

// deliver queues a message for c's subscription on c's loop (called by
// mochi, from the goroutine that published it).
func (lp *frontLoop) deliver(c *frontConn, m packets.Packet, retain bool) {
	if p := encodeDelivery(c, m, retain); p != nil {
		lp.post(frontCmd{send: c, pkt: p})
	}
}

// encodeDelivery encodes m as a QoS 0 PUBLISH for c, nil when it is over
// c's maximum packet size (MQTT 5: the message is not sent
// [MQTT-3.1.2-25]).
func encodeDelivery(c *frontConn, m packets.Packet, retain bool) []byte {
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Retain: retain}, ProtocolVersion: 4,
		TopicName: m.TopicName, Payload: m.Payload}
	if c.v5 {
		pk.ProtocolVersion = 5
		p := &m.Properties
		pk.Properties = packets.Properties{PayloadFormat: p.PayloadFormat, PayloadFormatFlag: p.PayloadFormatFlag,
			ContentType: p.ContentType, ResponseTopic: p.ResponseTopic, CorrelationData: p.CorrelationData, User: p.User,
			MessageExpiryInterval: p.MessageExpiryInterval}
	}
	var buf bytes.Buffer
	if err := pk.PublishEncode(&buf); err != nil {
		return nil
	}
	if c.maxOut > 0 && buf.Len() > c.maxOut {
		return nil
	}
	return buf.Bytes()
}
