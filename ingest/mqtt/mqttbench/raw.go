package main

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// rawConn is a minimal MQTT 3.1.1 publisher: CONNECT, then PUBLISH at
// QoS 0, 1 or 2, completing the flow of each message before the next
// (PUBACK at QoS 1; PUBREC, PUBREL, PUBCOMP at QoS 2).
// It costs the load process much less CPU than paho (no goroutines, tokens
// or stores per message), so one core of load can drive a faster broker.
type rawConn struct {
	c   net.Conn
	r   *bufio.Reader
	buf []byte
	id  uint16
}

func dialRaw(addr, clientID string) (*rawConn, error) {
	return dialRawSession(addr, clientID, true)
}

// dialRawSession connects with a clean or a persistent session.
func dialRawSession(addr, clientID string, clean bool) (*rawConn, error) {
	c, err := dialSpread(addr)
	if err != nil {
		return nil, err
	}
	rc := &rawConn{c: c, r: bufio.NewReaderSize(c, 512)}
	flags := byte(0)
	if clean {
		flags = 0x02
	}
	// Variable header: protocol name, level 4, session flag, keep alive 0.
	body := append([]byte{0, 4, 'M', 'Q', 'T', 'T', 4, flags, 0, 0}, appendString(nil, clientID)...)
	if _, err := c.Write(appendPacket(nil, 0x10, body)); err != nil {
		c.Close()
		return nil, err
	}
	var ack [4]byte
	if _, err := io.ReadFull(rc.r, ack[:]); err != nil {
		c.Close()
		return nil, fmt.Errorf("connack: %w", err)
	}
	if ack[0] != 0x20 || ack[1] != 2 || ack[3] != 0 {
		c.Close()
		return nil, fmt.Errorf("connack refused: % x", ack)
	}
	return rc, nil
}

// publish sends one message and waits for its PUBACK (QoS 1) or runs
// the QoS 2 flow: PUBREC, then PUBREL, then PUBCOMP.
func (rc *rawConn) publish(topic string, qos byte, payload []byte) error {
	body := appendString(rc.buf[:0], topic)
	if qos > 0 {
		rc.id++
		if rc.id == 0 {
			rc.id = 1
		}
		body = binary.BigEndian.AppendUint16(body, rc.id)
	}
	body = append(body, payload...)
	pk := appendPacket(body[len(body):], 0x30|qos<<1, body)
	rc.buf = body[:0]
	if _, err := rc.c.Write(pk); err != nil {
		return err
	}
	if qos == 0 {
		return nil
	}
	if qos == 1 {
		return rc.expect(0x40, "PUBACK")
	}
	if err := rc.expect(0x50, "PUBREC"); err != nil {
		return err
	}
	rel := [4]byte{0x62, 2, byte(rc.id >> 8), byte(rc.id)}
	if _, err := rc.c.Write(rel[:]); err != nil {
		return err
	}
	return rc.expect(0x70, "PUBCOMP")
}

// expect reads a 4-byte acknowledgement of type first for the last
// packet ID.
func (rc *rawConn) expect(first byte, name string) error {
	var ack [4]byte
	if _, err := io.ReadFull(rc.r, ack[:]); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if ack[0] != first || ack[1] != 2 || binary.BigEndian.Uint16(ack[2:]) != rc.id {
		return fmt.Errorf("unexpected packet % x waiting for the %s of %d", ack, name, rc.id)
	}
	return nil
}

// dials counts connections made, to spread them over source addresses.
var dials atomic.Int64

// connsPerSource is how many connections dialSpread makes from one
// source address before moving to the next: well below the 28,232
// ephemeral ports of Linux's default range, so 10,000 publishers and the
// TIME_WAIT sockets of earlier runs never run short.
const connsPerSource = 4000

// dialSpread dials addr from 127.0.0.2, 127.0.0.3, ... (the loopback
// network is 127.0.0.0/8 on Linux), connsPerSource connections each,
// cycling over 200 addresses; other hosts than loopback dial from the
// default address. The connection closes with RST (SO_LINGER 0), leaving
// no TIME_WAIT behind.
func dialSpread(addr string) (net.Conn, error) {
	d := net.Dialer{Timeout: 30 * time.Second}
	if host, _, _ := net.SplitHostPort(addr); net.ParseIP(host).IsLoopback() && net.ParseIP(host).To4() != nil {
		n := dials.Add(1) - 1
		d.LocalAddr = &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(2+(n/connsPerSource)%200))}
	}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	c.(*net.TCPConn).SetLinger(0)
	return c, nil
}

func (rc *rawConn) close() {
	rc.c.Write([]byte{0xe0, 0}) // DISCONNECT
	rc.c.Close()
}

func appendString(dst []byte, s string) []byte {
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(s)))
	return append(dst, s...)
}

// appendPacket appends a packet of type/flags first with body to dst.
func appendPacket(dst []byte, first byte, body []byte) []byte {
	dst = append(dst, first)
	for n := len(body); ; {
		b := byte(n & 0x7f)
		n >>= 7
		if n > 0 {
			b |= 0x80
		}
		dst = append(dst, b)
		if n == 0 {
			break
		}
	}
	return append(dst, body...)
}

// rawSubscriber is a minimal MQTT 3.1.1 subscriber that counts the
// PUBLISH packets it receives and discards them (mosquitto alone: the
// messages must go somewhere, and paho as the subscriber would cost the
// load process more than the publishers). At QoS 1 it acknowledges each
// message as it reads it, and with record it remembers how often each
// payload came (the fleet mode's consumer deaths).
type rawSubscriber struct {
	c        net.Conn
	received atomic.Int64
	done     chan struct{}

	mu       sync.Mutex
	seen     map[uint64]int32 // payload hash -> deliveries; nil without record
	dupCount int64            // deliveries of a payload seen before
}

// subOptions configure subscribeRawOpts.
type subOptions struct {
	clientID string // default "discard"
	qos      byte   // 0 or 1
	clean    bool
	record   bool
}

func subscribeRaw(addr, filter string) (*rawSubscriber, error) {
	return subscribeRawOpts(addr, filter, subOptions{clean: true})
}

func subscribeRawOpts(addr, filter string, o subOptions) (*rawSubscriber, error) {
	if o.clientID == "" {
		o.clientID = "discard"
	}
	rc, err := dialRawSession(addr, o.clientID, o.clean)
	if err != nil {
		return nil, err
	}
	body := binary.BigEndian.AppendUint16(nil, 1)    // packet ID
	body = append(appendString(body, filter), o.qos) // requested QoS
	if _, err := rc.c.Write(appendPacket(nil, 0x82, body)); err != nil {
		rc.c.Close()
		return nil, err
	}
	s := &rawSubscriber{c: rc.c, done: make(chan struct{})}
	if o.record {
		s.seen = map[uint64]int32{}
	}
	r := bufio.NewReaderSize(io.MultiReader(rc.r, rc.c), 1<<16)
	subacked := make(chan error, 1)
	go func() {
		defer close(s.done)
		w := bufio.NewWriterSize(rc.c, 1<<14)
		var buf []byte
		for {
			first, err := r.ReadByte()
			if err != nil {
				subacked <- err
				return
			}
			n, err := readLength(r)
			if err != nil {
				subacked <- err
				return
			}
			if cap(buf) < n {
				buf = make([]byte, n)
			}
			buf = buf[:n]
			if _, err := io.ReadFull(r, buf); err != nil {
				subacked <- err
				return
			}
			switch first >> 4 {
			case 9: // SUBACK
				if len(buf) != 3 || buf[2] > 2 {
					subacked <- fmt.Errorf("suback refused: % x", buf)
					return
				}
				subacked <- nil
			case 3:
				s.received.Add(1)
				if err := s.got(first, buf, w); err != nil {
					return
				}
			}
			if r.Buffered() == 0 && w.Flush() != nil {
				return
			}
		}
	}()
	select {
	case err = <-subacked:
	case <-time.After(30 * time.Second):
		err = errors.New("no SUBACK in 30 s")
	}
	if err != nil {
		rc.c.Close()
		<-s.done
		return nil, fmt.Errorf("subscribe %s: %w", filter, err)
	}
	return s, nil
}

// got handles one PUBLISH body: PUBACK at QoS 1, and the payload counted
// with record.
func (s *rawSubscriber) got(first byte, b []byte, w *bufio.Writer) error {
	if len(b) < 2 {
		return errors.New("short PUBLISH")
	}
	off := 2 + int(binary.BigEndian.Uint16(b))
	qos := first >> 1 & 3
	if qos > 0 {
		if len(b) < off+2 {
			return errors.New("short PUBLISH")
		}
		if _, err := w.Write([]byte{0x40, 2, b[off], b[off+1]}); err != nil {
			return err
		}
		off += 2
	}
	if s.seen != nil && len(b) >= off {
		h := fnv.New64a()
		h.Write(b[off:])
		k := h.Sum64()
		s.mu.Lock()
		if s.seen[k]++; s.seen[k] > 1 {
			s.dupCount++
		}
		s.mu.Unlock()
	}
	return nil
}

func (s *rawSubscriber) close() {
	s.c.Close()
	<-s.done
}

// kill drops the connection as a crashed process would: no DISCONNECT,
// an RST, the messages in flight not acknowledged.
func (s *rawSubscriber) kill() { s.close() }

// readLength reads an MQTT remaining length.
func readLength(r *bufio.Reader) (int, error) {
	n, shift := 0, 0
	for range 4 {
		b, err := r.ReadByte()
		if err != nil {
			return 0, err
		}
		n |= int(b&0x7f) << shift
		if b&0x80 == 0 {
			return n, nil
		}
		shift += 7
	}
	return 0, errors.New("malformed remaining length")
}
