package main

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"testing"
)

// discardConn is a net.Conn whose writes vanish (the PONGs and PUBACKs
// the readers send back).
type discardConn struct{ net.Conn }

func (discardConn) Write(b []byte) (int, error) { return len(b), nil }

// FuzzNatsRead feeds the core NATS reader arbitrary server output: it
// must return at the end of it, never panic.
func FuzzNatsRead(f *testing.F) {
	f.Add([]byte("MSG bench.d1 1 5\r\nhello\r\nPING\r\n"))
	f.Add([]byte("HMSG bench.d1 1 12 17\r\nNATS/1.0\r\n\r\nhello\r\n"))
	f.Add([]byte("HMSG a 1 9 3\r\nabc\r\nMSG\r\nHMSG\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		s := &natsSub{c: discardConn{}, seen: map[uint64]int32{}}
		s.read(bufio.NewReader(bytes.NewReader(b)))
	})
}

// FuzzRawGot feeds the MQTT subscriber's PUBLISH handler arbitrary
// packet bodies at every flags value.
func FuzzRawGot(f *testing.F) {
	f.Add(byte(0x32), []byte{0, 3, 'a', '/', 'b', 0, 1, 'x'})
	f.Add(byte(0x30), []byte{0, 9, 'a'})
	f.Fuzz(func(t *testing.T, first byte, b []byte) {
		s := &rawSubscriber{seen: map[uint64]int32{}}
		_ = s.got(first, b, bufio.NewWriter(io.Discard))
	})
}

func TestMsgSizes(t *testing.T) {
	for _, tc := range []struct {
		line       string
		hdr, total int
		ok         bool
	}{
		{"MSG a 1 5\r\n", 0, 5, true},
		{"MSG a 1 reply 5\r\n", 0, 5, true},
		{"HMSG a 1 3 9\r\n", 3, 9, true},
		{"HMSG a 1 r 3 9\r\n", 3, 9, true},
		{"HMSG a 1 10 9\r\n", 0, 0, false},
		{"HMSG\r\n", 0, 0, false},
		{"MSG a 1 -1\r\n", 0, 0, false},
		{"MSG a 1 x\r\n", 0, 0, false},
	} {
		hdr, total, err := msgSizes(tc.line)
		if (err == nil) != tc.ok || hdr != tc.hdr || total != tc.total {
			t.Errorf("msgSizes(%q) = %d, %d, %v", tc.line, hdr, total, err)
		}
	}
}
