package mqtt

import (
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
)

// The embedded broker's resource limits (BrokerOptions). Each protects a
// small machine from one client: a packet's size bounds what one
// connection holds while its packet arrives, the retained limits bound
// what outlives the clients, and the in-flight and queue limits bound
// what one client makes the broker hold for it.
const (
	// DefaultMaxPacketSize is the largest MQTT packet (fixed header
	// included) the broker accepts: 1 MiB, EMQX's default (mosquitto and
	// the MQTT limit are 256 MiB). A Telegraf batch of 1,000 metrics is
	// ~200 KB of line protocol; AWS IoT Core takes 128 KB, Azure IoT Hub
	// 256 KB.
	DefaultMaxPacketSize = 1 << 20
	// DefaultMaxRetainedMessages bounds the retained messages (topics).
	DefaultMaxRetainedMessages = 10_000
	// DefaultMaxRetainedBytes bounds their topics and payloads together.
	DefaultMaxRetainedBytes = 16 << 20
	// DefaultMaxInflight is the Receive Maximum announced to MQTT 5
	// clients (QoS 1/2 messages a client may have unacknowledged towards
	// the broker) and the number of QoS 1/2 messages the broker keeps
	// unacknowledged towards one subscriber.
	DefaultMaxInflight = 100
	// DefaultMaxQueued bounds the messages waiting to be written to one
	// subscriber (mosquitto's max_queued_messages default); more are
	// dropped, as mochi does.
	DefaultMaxQueued = 1000
	// DefaultMaxSessionExpiry bounds how long the session of a client
	// that left (its subscriptions, the QoS 1/2 messages kept for it) is
	// kept: 2 hours, EMQX's default (mosquitto's is never).
	DefaultMaxSessionExpiry = 2 * time.Hour
	// DefaultMaxQoS2Records bounds the QoS 2 messages received and not
	// yet released that the broker records in BrokerOptions.StateDir
	// (about 30 bytes and the client ID each, in memory and on disk).
	DefaultMaxQoS2Records = 100_000
	// DefaultMaxClients bounds the clients: connected ones and the
	// sessions mochi keeps for those that left.
	DefaultMaxClients = 10_000
)

// Limit reasons, the reason label of mqtt_rejected_total.
const (
	reasonPacketTooLarge = "packet too large"
	reasonRetainedCount  = "retained messages"
	reasonRetainedBytes  = "retained bytes"
	reasonReceiveMaximum = "receive maximum exceeded"
	reasonClients        = "too many clients"
	reasonHandshakes     = "too many handshakes"
	reasonSessionBytes   = "kept session client ID bytes"
)

// limits are BrokerOptions' limits with the defaults filled in.
type limits struct {
	maxPacket        int
	maxRetained      int
	maxRetainedBytes int64
	maxInflight      int
	maxQueued        int
	maxSessionExpiry time.Duration
	maxClients       int
	writeTimeout     time.Duration

	maxSubscriberBytes int64
	subscriberStall    time.Duration
}

func (o *BrokerOptions) limits() (limits, error) {
	l := limits{maxPacket: o.MaxPacketSize, maxRetained: o.MaxRetainedMessages,
		maxRetainedBytes: o.MaxRetainedBytes, maxInflight: o.MaxInflight, maxQueued: o.MaxQueued,
		maxSessionExpiry: o.MaxSessionExpiry, maxClients: o.MaxClients, writeTimeout: o.writeTimeout,
		maxSubscriberBytes: o.MaxSubscriberBytes, subscriberStall: o.SubscriberStall}
	if l.subscriberStall == 0 {
		l.subscriberStall = DefaultSubscriberStall
	}
	if l.maxSubscriberBytes == 0 {
		l.maxSubscriberBytes = DefaultMaxSubscriberBytes
	}
	if l.maxClients == 0 {
		l.maxClients = DefaultMaxClients
	}
	if l.maxSessionExpiry == 0 {
		l.maxSessionExpiry = DefaultMaxSessionExpiry
	}
	if l.writeTimeout == 0 {
		l.writeTimeout = publishWriteTimeout
	}
	if l.maxPacket == 0 {
		l.maxPacket = DefaultMaxPacketSize
	}
	if l.maxRetained == 0 {
		l.maxRetained = DefaultMaxRetainedMessages
	}
	if l.maxRetainedBytes == 0 {
		l.maxRetainedBytes = DefaultMaxRetainedBytes
	}
	if l.maxInflight == 0 {
		l.maxInflight = DefaultMaxInflight
	}
	if l.maxQueued == 0 {
		l.maxQueued = DefaultMaxQueued
	}
	switch {
	case l.maxPacket < 64 || l.maxPacket > 268_435_460:
		return l, fmt.Errorf("%w: max packet size %d: want 64 bytes to 256 MiB", ErrConfig, l.maxPacket)
	case l.maxRetained < 0 || l.maxRetainedBytes < 0:
		return l, fmt.Errorf("%w: retained limits %d messages, %d bytes: want >= 0", ErrConfig, l.maxRetained, l.maxRetainedBytes)
	case l.maxInflight < 1 || l.maxInflight > 65535:
		return l, fmt.Errorf("%w: max in-flight %d: want 1 to 65535", ErrConfig, l.maxInflight)
	case l.maxClients < 1:
		return l, fmt.Errorf("%w: max clients %d: want >= 1", ErrConfig, l.maxClients)
	case l.maxQueued < 1:
		return l, fmt.Errorf("%w: max queued %d: want >= 1", ErrConfig, l.maxQueued)
	case l.subscriberStall < 0:
		return l, fmt.Errorf("%w: subscriber stall %v: want > 0", ErrConfig, l.subscriberStall)
	case l.maxSubscriberBytes < int64(l.maxPacket):
		return l, fmt.Errorf("%w: max subscriber bytes %d: want at least the max packet size, %d", ErrConfig, l.maxSubscriberBytes, l.maxPacket)
	case l.maxSessionExpiry < time.Second || l.maxSessionExpiry/time.Second > math.MaxUint32:
		return l, fmt.Errorf("%w: max session expiry %v: want 1s to 136 years", ErrConfig, l.maxSessionExpiry)
	}
	return l, nil
}

// retainedLimit counts the broker's retained messages and their bytes
// (topic and payload) and refuses one that would pass either limit. mochi
// keeps a retained message until a retained message with an empty
// payload on its topic deletes it, or until it expires.
type retainedLimit struct {
	maxCount int
	maxBytes int64

	mu    sync.Mutex
	sizes map[string]int64 // mu: retained topic -> its bytes
	bytes int64            // mu
}

func newRetainedLimit(maxCount int, maxBytes int64) *retainedLimit {
	return &retainedLimit{maxCount: maxCount, maxBytes: maxBytes, sizes: map[string]int64{}}
}

// admit reports whether a retained message on topic with a payload of n
// bytes may be retained, and records it if so; reason names the limit it
// would pass otherwise. An empty payload deletes the topic's message and
// is always admitted. A message replacing its topic's counts only the
// difference.
func (r *retainedLimit) admit(topic string, n int) (ok bool, reason string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	old, had := r.sizes[topic]
	if n == 0 {
		if had {
			delete(r.sizes, topic)
			r.bytes -= old
		}
		return true, ""
	}
	size := int64(len(topic) + n)
	if !had && len(r.sizes) >= r.maxCount {
		return false, reasonRetainedCount
	}
	if r.bytes-old+size > r.maxBytes {
		return false, reasonRetainedBytes
	}
	r.sizes[topic] = size
	r.bytes += size - old
	return true, ""
}

// forget drops topic's message (it expired in mochi).
func (r *retainedLimit) forget(topic string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if old, ok := r.sizes[topic]; ok {
		delete(r.sizes, topic)
		r.bytes -= old
	}
}

// usage returns the retained messages and bytes now.
func (r *retainedLimit) usage() (count int, bytes int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.sizes), r.bytes
}

// packetGate is the read side of a connection mochi serves: it passes
// mochi the connection's bytes one complete packet at a time. mochi sizes
// its buffer from a packet's fixed header (make([]byte, remaining) before
// the first byte of the body arrives); behind the gate the header reaches
// mochi only once the whole packet did, so what a connection holds grows
// with the bytes it sent, and a header announcing more than the maximum
// packet size closes the connection (an MQTT 5 client first gets
// DISCONNECT 0x95, packet too large).
type packetGate struct {
	max     int            // largest packet, fixed header included
	buf     []byte         // bytes read and not yet returned, from off
	off     int            // start of the bytes not returned yet
	ready   int            // bytes from off that belong to complete packets
	started bool           // the first packet (the CONNECT) was released
	v5      bool           // the CONNECT was MQTT 5
	tooBig  func(size int) // counts a packet over max; may be nil
}

// read returns bytes of complete packets, reading conn as needed.
func (g *packetGate) read(conn io.ReadWriter, p []byte) (int, error) {
	for g.ready == 0 {
		if err := g.fill(conn); err != nil {
			return 0, err
		}
	}
	n := copy(p, g.buf[g.off:g.off+g.ready])
	g.off += n
	g.ready -= n
	if g.off == len(g.buf) {
		g.off = 0
		g.buf = g.buf[:0]
		if cap(g.buf) > 64<<10 {
			g.buf = nil // a large packet passed: do not keep its buffer
		}
	}
	return n, nil
}

// fill marks the complete packets at off as ready or reads more.
func (g *packetGate) fill(conn io.ReadWriter) error {
	for {
		rest := g.buf[g.off+g.ready:]
		rem, hl, st := packetLen(rest)
		if st == lenBad {
			return fmt.Errorf("mqtt: malformed remaining length")
		}
		if st == lenShort {
			break
		}
		total := 1 + hl + rem
		if total > g.max {
			if g.ready > 0 {
				return nil // the packets before it first
			}
			return g.refuse(conn, total)
		}
		if len(rest) < total {
			break
		}
		if !g.started {
			g.started = true
			g.v5 = rest[0] == 0x10 && connectLevel(rest[1+hl:total]) == 5
		} else if t := rest[0] >> 4; t == packets.Subscribe || t == packets.Unsubscribe {
			// mochi's decoder panics on some malformed (UN)SUBSCRIBEs (an
			// MQTT 5 SUBSCRIBE whose last filter has no options byte
			// takes the whole server down): such a packet closes the
			// connection before mochi reads it.
			if _, _, err := decodeSubscribe(t, rest[1+hl:total], g.v5); errors.Is(err, errDecoderPanic) {
				if g.ready > 0 {
					return nil // the packets before it first
				}
				g.buf, g.off = nil, 0
				return err
			}
		}
		g.ready += total
	}
	if g.ready > 0 {
		return nil
	}
	return g.more(conn)
}

// more reads what the connection has (at least 4 KiB of room, the buffer
// growing with the bytes that arrived).
func (g *packetGate) more(conn io.ReadWriter) error {
	if g.off > 0 {
		g.buf = g.buf[:copy(g.buf, g.buf[g.off:])]
		g.off = 0
	}
	if cap(g.buf)-len(g.buf) < 4<<10 {
		g.buf = slices.Grow(g.buf, max(4<<10, len(g.buf)))
	}
	n, err := conn.Read(g.buf[len(g.buf):cap(g.buf)])
	g.buf = g.buf[:len(g.buf)+n]
	if n > 0 {
		return nil
	}
	if err == nil {
		return fmt.Errorf("mqtt: empty read")
	}
	return err
}

// refuse ends the connection for a packet of size bytes.
func (g *packetGate) refuse(conn io.ReadWriter, size int) error {
	if g.tooBig != nil {
		g.tooBig(size)
	}
	g.buf, g.off = nil, 0
	if g.v5 {
		// DISCONNECT, reason 0x95 [MQTT-3.2.2-15]; one Write, which Go
		// does not interleave with mochi's.
		_, _ = conn.Write([]byte{0xe0, 0x01, packets.ErrPacketTooLarge.Code})
	}
	return fmt.Errorf("%w: %d bytes, the limit is %d", errPacketTooLarge, size, g.max)
}

// connectLevel returns the protocol level of a CONNECT body, 0 if it has
// none.
func connectLevel(body []byte) byte {
	if len(body) < 2 {
		return 0
	}
	n := int(body[0])<<8 | int(body[1])
	if len(body) <= 2+n {
		return 0
	}
	return body[2+n]
}

const (
	lenOK = iota
	lenShort
	lenBad
)

// packetLen decodes a fixed header's remaining length: the length, the
// header's size after the first byte, and whether it is complete.
func packetLen(p []byte) (rem, hl int, st int) {
	mul := 1
	for i := 1; i < len(p) && i <= 4; i++ {
		rem += int(p[i]&0x7f) * mul
		mul <<= 7
		if p[i]&0x80 == 0 {
			return rem, i, lenOK
		}
	}
	if len(p) > 4 {
		return 0, 0, lenBad
	}
	return 0, 0, lenShort
}
