package main

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync/atomic"
	"time"
)

// rawConn is a minimal MQTT 3.1.1 publisher: CONNECT, then PUBLISH at
// QoS 0 or 1, reading the PUBACK of each QoS 1 message before the next.
// It costs the load process much less CPU than paho (no goroutines, tokens
// or stores per message), so one core of load can drive a faster broker.
type rawConn struct {
	c   net.Conn
	r   *bufio.Reader
	buf []byte
	id  uint16
}

func dialRaw(addr, clientID string) (*rawConn, error) {
	c, err := net.DialTimeout("tcp", addr, 30*time.Second)
	if err != nil {
		return nil, err
	}
	rc := &rawConn{c: c, r: bufio.NewReaderSize(c, 512)}
	// Variable header: protocol name, level 4, clean session, keep alive 0.
	body := append([]byte{0, 4, 'M', 'Q', 'T', 'T', 4, 0x02, 0, 0}, appendString(nil, clientID)...)
	if _, err := c.Write(appendPacket(nil, 0x10, body)); err != nil {
		c.Close()
		return nil, err
	}
	var ack [4]byte
	if _, err := io.ReadFull(rc.r, ack[:]); err != nil {
		c.Close()
		return nil, fmt.Errorf("connack: %w", err)
	}
	if ack[0] != 0x20 || ack[3] != 0 {
		c.Close()
		return nil, fmt.Errorf("connack refused: % x", ack)
	}
	return rc, nil
}

// publish sends one message and, at QoS 1, waits for its PUBACK; at QoS
// 2, for its PUBREC, then sends PUBREL and waits for the PUBCOMP.
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
	var ack [4]byte
	if _, err := io.ReadFull(rc.r, ack[:]); err != nil {
		return fmt.Errorf("puback: %w", err)
	}
	want := byte(0x40) // PUBACK; QoS 2: PUBREC, then PUBREL and PUBCOMP
	if qos == 2 {
		want = 0x50
	}
	if ack[0] != want || binary.BigEndian.Uint16(ack[2:]) != rc.id {
		return fmt.Errorf("unexpected packet % x waiting for the acknowledgement %#x of %d", ack, want, rc.id)
	}
	if qos == 2 {
		if _, err := rc.c.Write([]byte{0x62, 2, ack[2], ack[3]}); err != nil {
			return err
		}
		if _, err := io.ReadFull(rc.r, ack[:]); err != nil {
			return fmt.Errorf("pubcomp: %w", err)
		}
		if ack[0] != 0x70 || binary.BigEndian.Uint16(ack[2:]) != rc.id {
			return fmt.Errorf("unexpected packet % x waiting for the PUBCOMP of %d", ack, rc.id)
		}
	}
	return nil
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
// PUBLISH packets it receives at QoS 0 and discards them (mosquitto
// alone: the messages must go somewhere, and paho as the subscriber would
// cost the load process more than the publishers).
type rawSubscriber struct {
	c        net.Conn
	received atomic.Int64
	done     chan struct{}
}

func subscribeRaw(addr, filter string) (*rawSubscriber, error) {
	rc, err := dialRaw(addr, "discard")
	if err != nil {
		return nil, err
	}
	body := binary.BigEndian.AppendUint16(nil, 1) // packet ID
	body = append(appendString(body, filter), 0)  // QoS 0
	if _, err := rc.c.Write(appendPacket(nil, 0x82, body)); err != nil {
		rc.c.Close()
		return nil, err
	}
	var ack [5]byte
	if _, err := io.ReadFull(rc.r, ack[:]); err != nil || ack[0] != 0x90 || ack[4] > 2 {
		rc.c.Close()
		return nil, fmt.Errorf("suback % x: %v", ack, err)
	}
	s := &rawSubscriber{c: rc.c, done: make(chan struct{})}
	r := bufio.NewReaderSize(rc.c, 1<<16)
	go func() {
		defer close(s.done)
		for {
			first, err := r.ReadByte()
			if err != nil {
				return
			}
			n, err := readLength(r)
			if err != nil {
				return
			}
			if _, err := r.Discard(n); err != nil {
				return
			}
			if first>>4 == 3 {
				s.received.Add(1)
			}
		}
	}()
	return s, nil
}

func (s *rawSubscriber) close() {
	s.c.Close()
	<-s.done
}

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
