//go:build linux

package mqtt

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
	"golang.org/x/sys/unix"

	"github.com/lightningdb/lightningdb/series"
)

// frontConn is one client of the front end. Only its loop touches it
// once added (the fields set in the handshake are read-only after).
type frontConn struct {
	fd     int
	id     string
	anon   bool // the broker made the ID up (MQTT 5, or 3.1.1 clean session)
	v5     bool
	clean  bool
	user   string
	who    any // what the Authorizer said of the connection
	remote string
	loop   *frontLoop
	expire time.Duration // 1.5 × keep alive; 0: none
	maxOut int           // the client's maximum packet size (MQTT 5); 0: none
	will   *packets.Packet
	// willDelay is how long the will waits after the close (MQTT 5,
	// willDelay); 0: it goes at once.
	willDelay time.Duration

	last      time.Time // last read
	in        []byte    // an incomplete packet
	out       []byte    // answers not written yet
	waitOut   bool      // EPOLLOUT armed: not read until out is written
	waitSince time.Time
	touched   bool // in the touched of the round being read
	rounds    int  // rounds that hold c, open or in flight (not answered)
	readRound uint64
	state     connState
	failed    bool // a message could not be stored: no ack, close
	why       string
	sendWill  bool // the close publishes the will (no DISCONNECT 0x00)

	aliases map[uint16]string   // MQTT 5 topic aliases from the client
	qos2    map[uint16]struct{} // QoS 2 messages stored, PUBREL not yet received
	subs    map[string]int      // filter -> inline subscription ID
}

type connState uint8

const (
	connOpen    connState = iota
	connClosing           // close after the round
	connGone
)

// frontCmd is a request to a loop from another goroutine.
type frontCmd struct {
	add   *frontConn
	close *frontConn // session taken over
	send  *frontConn // deliver pkt (a message for a subscription)
	pkt   []byte
	stop  bool
	sweep chan struct{} // sweep at the clock's time now, then close it (tests that advance the clock)
}

// frontMsg is one packet of the round that needs an answer.
type frontMsg struct {
	c           *frontConn
	kind        byte // packet type of the answer's request: 3 PUBLISH, 6 PUBREL, 12 PINGREQ, 8/10 (SUB)UNSUBSCRIBE
	qos         byte
	retain      bool
	pid         uint16
	first, last int // the message's series in the batch
	topic       string
	payload     []byte // kept only when the message is forwarded
	props       *packets.Properties
	fwd         bool
	dup         bool // QoS 2 resent before its PUBREL: answered, not stored again
	r           *rule
	rm          *ruleMetrics
	parseErr    error
	refused     packets.Code // MQTT 5: answered with this code, not stored
	start       time.Time
	answer      []byte // SUBACK, UNSUBACK, PUBCOMP: written as is
	rec         bool   // a new QoS 2 record to put before the Append
	at          time.Time
}

// frontLoop serves its connections: one epoll instance, one goroutine,
// and up to frontMaxCommits rounds (frontRound) being committed, each in
// a goroutine of its own.
//
//	loop goroutine                                commit goroutine (one a round)
//	read the ready connections (a round), hand
//	it to a commit goroutine                  --> QoS 2 records: putAll (fsync),
//	read the next round meanwhile, hand it on     then Append (WAL group commit)
//	two in flight: wait for the older         <-- committed: sent on committed,
//	answer the committed rounds, oldest first:    evfd written
//	acks, forwards, flush, closes
//
// A loop does not wait for its round's commit before it reads again: the
// next round goes to the WAL while the first is being fsynced, so it joins
// the next group commit. With two in flight the loop waits for the older:
// reading more would add small rounds to the same group commit, at a cost
// in CPU per message (measured: bench/results/mqtt-matrix.md, "The front
// end reads while its commit is in flight"); a round with new QoS 2
// messages is waited for (settle). Rounds are answered in the
// order they were read, so a connection's acknowledgements follow its
// packets, and each only once the round that holds it is committed. A round
// is bounded (full: MaxBatchSamples samples, frontRoundMsgs messages or
// frontRoundBytes bytes read: the other ready connections wait for the
// next), so a loop holds at most frontMaxCommits of them.
type frontLoop struct {
	l    *frontListener
	epfd int
	evfd int

	mu      sync.Mutex
	cmds    []frontCmd
	queued  int // bytes of the messages to deliver in cmds
	stopped bool

	conns      map[int32]*frontConn
	events     []unix.EpollEvent
	rbuf       []byte
	batch      series.Batch // the round being read
	msgs       []frontMsg   // the round being read
	touched    []*frontConn // the round being read
	readBytes  int          // bytes read in this epoll round
	maxSamples int
	skipped    []*frontConn
	round      uint64
	sweepAt    time.Time
	encBuf     bytes.Buffer

	inflight  []*frontRound    // submitted, oldest first; answered in this order
	free      []*frontRound    // answered rounds, their buffers kept
	committed chan *frontRound // capacity frontMaxCommits: rounds whose commit returned
}

// frontRound is a round handed to its commit: the batch, messages and
// connections read move into it. The commit goroutine writes
// qerr, res and err, then sends the round on frontLoop.committed; the loop
// reads them after it receives it.
type frontRound struct {
	done    bool // received from committed (or nothing to commit)
	batch   series.Batch
	msgs    []frontMsg
	touched []*frontConn
	recs    []qos2Key // new QoS 2 messages, recorded before the Append
	ts      []int64
	qerr    error
	res     series.AppendResult
	err     error
}

const (
	// frontRoundMsgs and frontRoundBytes bound a round (with
	// MaxBatchSamples): past them the loop reads no other connection
	// until the next round.
	frontRoundMsgs  = 1 << 16
	frontRoundBytes = 8 << 20
	// frontMaxCommits bounds the rounds of a loop in flight.
	frontMaxCommits = 2
)

func newFrontLoop(l *frontListener) (*frontLoop, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	evfd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		unix.Close(epfd)
		return nil, err
	}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, evfd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(evfd)}); err != nil {
		unix.Close(epfd)
		unix.Close(evfd)
		return nil, err
	}
	return &frontLoop{l: l, epfd: epfd, evfd: evfd, conns: map[int32]*frontConn{},
		events: make([]unix.EpollEvent, 512), rbuf: make([]byte, frontReadBuf),
		maxSamples: l.b.in.opts.MaxBatchSamples, committed: make(chan *frontRound, frontMaxCommits)}, nil
}

func (lp *frontLoop) closeFDs() {
	unix.Close(lp.epfd)
	unix.Close(lp.evfd)
}

// post queues a command and wakes the loop; false when it has stopped,
// or for a message to deliver when frontMaxQueued bytes of them wait
// already (the loop is waiting for a commit).
func (lp *frontLoop) post(c frontCmd) bool {
	lp.mu.Lock()
	defer lp.mu.Unlock()
	if lp.stopped {
		return false
	}
	if c.send != nil {
		if lp.queued+len(c.pkt) > frontMaxQueued {
			lp.l.b.in.limitHit(reasonFrontQueue)
			return false
		}
		lp.queued += len(c.pkt)
	}
	lp.cmds = append(lp.cmds, c)
	one := [8]byte{1}
	_, _ = unix.Write(lp.evfd, one[:])
	return true
}

// run: wait for readiness, read every ready connection once, answer the
// rounds committed, hand the round read to its commit (with two in flight,
// wait for the older), repeat.
func (lp *frontLoop) run() {
	defer lp.shutdown()
	for {
		n, err := unix.EpollWait(lp.epfd, lp.events, 1000)
		if err != nil && !errors.Is(err, unix.EINTR) {
			lp.l.log.Error("mqtt publish front end: loop stopped", "err", err)
			return
		}
		lp.round++
		woke := false
		// Connections a full batch left unread last round go first.
		skipped := lp.skipped
		lp.skipped = nil
		full := false
		lp.readBytes = 0
		for _, c := range skipped {
			if lp.conns[int32(c.fd)] != c || c.state != connOpen || c.waitOut || c.readRound == lp.round {
				continue
			}
			c.readRound = lp.round
			if full {
				lp.skipped = append(lp.skipped, c)
				continue
			}
			lp.read(c)
			full = lp.full()
		}
		for i := 0; i < n; i++ {
			ev := &lp.events[i]
			if int(ev.Fd) == lp.evfd {
				woke = true
				continue
			}
			c := lp.conns[ev.Fd]
			if c == nil || c.state != connOpen || c.readRound == lp.round {
				continue
			}
			if c.waitOut {
				if ev.Events&(unix.EPOLLOUT|unix.EPOLLERR|unix.EPOLLHUP) != 0 {
					lp.flush(c)
				}
				continue
			}
			c.readRound = lp.round
			if full {
				lp.skipped = append(lp.skipped, c)
				continue
			}
			lp.read(c)
			full = lp.full()
		}
		lp.settle()
		if woke && lp.commands() {
			return
		}
		if now := lp.l.now(); now.Sub(lp.sweepAt) >= time.Second {
			lp.sweep(now)
		}
	}
}

// commands runs the queued commands; true means stop.
func (lp *frontLoop) commands() bool {
	var buf [8]byte
	_, _ = unix.Read(lp.evfd, buf[:])
	lp.mu.Lock()
	cmds := lp.cmds
	lp.cmds, lp.queued = nil, 0
	lp.mu.Unlock()
	stop := false
	for _, cmd := range cmds {
		switch {
		case cmd.stop:
			stop = true
		case cmd.sweep != nil:
			lp.sweep(lp.l.now())
			close(cmd.sweep)
		case cmd.add != nil:
			c := cmd.add
			if c.state != connOpen {
				lp.drop(c)
				continue
			}
			lp.conns[int32(c.fd)] = c
			if err := unix.EpollCtl(lp.epfd, unix.EPOLL_CTL_ADD, c.fd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(c.fd)}); err != nil {
				c.why = "epoll: " + err.Error()
				lp.drop(c)
			}
		case cmd.close != nil:
			c := cmd.close
			if c.state == connGone {
				continue
			}
			c.why, c.sendWill = "session taken over", true
			if lp.conns[int32(c.fd)] == c {
				lp.drop(c)
			} else {
				c.state = connClosing // not added yet: dropped when it is
			}
		case cmd.send != nil:
			c := cmd.send
			if c.state != connOpen || lp.conns[int32(c.fd)] != c {
				continue
			}
			if len(c.out)+len(cmd.pkt) > frontMaxOut {
				lp.l.b.in.limitHit(reasonFrontQueue)
				continue
			}
			c.out = append(c.out, cmd.pkt...)
			if !c.waitOut {
				lp.flush(c)
			}
		}
	}
	return stop
}

// read reads c once and handles its complete packets.
func (lp *frontLoop) read(c *frontConn) {
	buf, base, big := lp.rbuf, 0, false
	if len(c.in) > 0 {
		total := len(c.in) + 1
		if rem, hl, st := packetLen(c.in); st == lenOK {
			total = 1 + hl + rem
		}
		if total <= len(lp.rbuf) && len(c.in) <= 16<<10 {
			base = copy(lp.rbuf, c.in)
			buf = lp.rbuf[base:]
		} else {
			big = true
			if cap(c.in)-len(c.in) < 64<<10 {
				c.in = slices.Grow(c.in, min(total, 2*cap(c.in)+64<<10)-len(c.in))
			}
			buf = c.in[len(c.in):cap(c.in)]
		}
	}
	n, err := unix.Read(c.fd, buf)
	lp.readBytes += max(n, 0)
	if err != nil && (errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR)) {
		return
	}
	if err != nil || n == 0 {
		lp.closeLater(c, "connection closed by the client", true)
		return
	}
	c.last = lp.l.now()
	if big {
		c.in = c.in[:len(c.in)+n]
		rest := lp.parse(c, c.in)
		c.in = c.in[:copy(c.in, rest)]
		if len(c.in) == 0 {
			c.in = nil
		}
		return
	}
	rest := lp.parse(c, lp.rbuf[:base+n])
	switch {
	case len(rest) > 0 && c.state == connOpen:
		c.in = append(c.in[:0], rest...)
	case cap(c.in) > 64<<10:
		c.in = nil
	default:
		c.in = c.in[:0]
	}
}

// parse handles the complete packets in data and returns the incomplete
// rest.
func (lp *frontLoop) parse(c *frontConn, data []byte) []byte {
	maxPacket := lp.l.b.lim.maxPacket
	for len(data) > 0 && c.state == connOpen {
		rem, hl, st := packetLen(data)
		switch {
		case st == lenShort:
			return data
		case st == lenBad:
			lp.protocolError(c, packets.ErrMalformedPacket, "malformed remaining length")
			return nil
		}
		total := 1 + hl + rem
		if total > maxPacket {
			lp.l.b.tooBig(total)
			lp.protocolError(c, packets.ErrPacketTooLarge, fmt.Sprintf("packet of %d bytes is over the limit of %d", total, maxPacket))
			return nil
		}
		if len(data) < total {
			return data
		}
		if !lp.packet(c, data[0], data[1+hl:total]) {
			return nil
		}
		data = data[total:]
	}
	return nil
}

// packet handles one packet; false means c is being closed.
func (lp *frontLoop) packet(c *frontConn, first byte, body []byte) bool {
	flags := first & 0x0f
	switch first >> 4 {
	case 3: // PUBLISH
		return lp.publish(c, first, body)
	case 6: // PUBREL
		if flags != 2 || len(body) < 2 {
			lp.protocolError(c, packets.ErrMalformedPacket, "malformed PUBREL")
			return false
		}
		lp.pubrel(c, uint16(body[0])<<8|uint16(body[1]))
	case 12: // PINGREQ
		if flags != 0 || len(body) != 0 {
			lp.protocolError(c, packets.ErrMalformedPacket, "malformed PINGREQ")
			return false
		}
		lp.msgs = append(lp.msgs, frontMsg{c: c, kind: 12})
		lp.touch(c)
	case 14: // DISCONNECT
		if flags != 0 {
			lp.protocolError(c, packets.ErrMalformedPacket, "malformed DISCONNECT")
			return false
		}
		// MQTT 5 reason 0x04: disconnect with will message.
		will := c.v5 && len(body) > 0 && body[0] == packets.CodeDisconnectWillMessage.Code
		lp.closeLater(c, "DISCONNECT", will)
		if will {
			c.why = "DISCONNECT with will"
			c.willDelay = disconnectWillDelay(c, body, lp.l.b.lim.maxSessionExpiry)
		}
		return false
	case 4, 5, 7: // PUBACK, PUBREC, PUBCOMP: the front end sends QoS 0 only; ignored
		if len(body) < 2 {
			lp.protocolError(c, packets.ErrMalformedPacket, "malformed acknowledgement")
			return false
		}
	case 8: // SUBSCRIBE
		if flags != 2 {
			lp.protocolError(c, packets.ErrMalformedPacket, "malformed SUBSCRIBE")
			return false
		}
		return lp.subscribe(c, body)
	case 10: // UNSUBSCRIBE
		if flags != 2 {
			lp.protocolError(c, packets.ErrMalformedPacket, "malformed UNSUBSCRIBE")
			return false
		}
		return lp.unsubscribe(c, body)
	default: // CONNECT again, AUTH, a server's packet
		lp.protocolError(c, packets.ErrProtocolViolation, fmt.Sprintf("packet type %d not expected from a client", first>>4))
		return false
	}
	return true
}

// frontPublish is a decoded PUBLISH.
type frontPublish struct {
	qos     byte
	retain  bool
	dup     bool
	pid     uint16
	topic   string
	payload []byte
	props   *packets.Properties // MQTT 5; nil when none
}

// decodeFrontPublish decodes a PUBLISH of an MQTT 3.x (v5 false) or 5
// client; aliases resolves MQTT 5 topic aliases (nil: none allowed). code
// is the DISCONNECT reason when it does not decode, err says what is
// wrong.
func decodeFrontPublish(first byte, body []byte, v5 bool, aliases map[uint16]string) (p frontPublish, code packets.Code, err error) {
	p.qos, p.retain, p.dup = first>>1&3, first&1 != 0, first&8 != 0
	if p.qos == 3 {
		return p, packets.ErrMalformedQos, fmt.Errorf("%w: PUBLISH with QoS 3", errMalformed)
	}
	if !v5 {
		topic, pid, payload, bad := decodePublish(first, body)
		if bad != "" {
			return p, packets.ErrMalformedPacket, fmt.Errorf("%w: %s", errMalformed, bad)
		}
		p.topic, p.pid, p.payload = topic, pid, payload
		return p, packets.CodeSuccess, nil
	}
	// mochi's decoder makes strings that share the bytes they were
	// decoded from, and the loop's read buffer is read into again: the
	// packet gets bytes of its own.
	body = bytes.Clone(body)
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: p.qos, Remaining: len(body)}, ProtocolVersion: 5}
	if err := mochiDecode(func() error { return pk.PublishDecode(body) }); err != nil {
		return p, packets.ErrMalformedPacket, fmt.Errorf("%w: PUBLISH: %w", errMalformed, err)
	}
	if code := pk.PublishValidate(frontAliasMax); code != packets.CodeSuccess {
		return p, code, fmt.Errorf("%w: PUBLISH: %s", errMalformed, code.Reason)
	}
	p.pid, p.payload = pk.PacketID, pk.Payload
	p.topic = pk.TopicName
	if a := pk.Properties.TopicAlias; a != 0 {
		if p.topic == "" {
			t, ok := aliases[a]
			if !ok {
				return p, packets.ErrProtocolViolation, fmt.Errorf("%w: PUBLISH: topic alias %d not set", errMalformed, a)
			}
			p.topic = t
		} else if aliases != nil {
			aliases[a] = p.topic
		}
		pk.Properties.TopicAlias, pk.Properties.TopicAliasFlag = 0, false
	}
	if !utf8.ValidString(p.topic) || strings.ContainsAny(p.topic, "+#\x00") {
		return p, packets.ErrTopicNameInvalid, fmt.Errorf("%w: invalid topic name %q", errMalformed, p.topic)
	}
	props := pk.Properties
	p.props = &props
	return p, packets.CodeSuccess, nil
}

// decodePublish splits the body of an MQTT 3.x PUBLISH; bad names what
// is wrong with it.
func decodePublish(first byte, body []byte) (topic string, pid uint16, payload []byte, bad string) {
	qos := first >> 1 & 3
	if len(body) < 2 {
		return "", 0, nil, "malformed PUBLISH"
	}
	tl := int(body[0])<<8 | int(body[1])
	if len(body) < 2+tl+2*int(qos) {
		return "", 0, nil, "malformed PUBLISH"
	}
	topic = string(body[2 : 2+tl])
	payload = body[2+tl:]
	if qos > 0 {
		pid = uint16(payload[0])<<8 | uint16(payload[1])
		payload = payload[2:]
		if pid == 0 {
			return "", 0, nil, "PUBLISH with packet identifier 0"
		}
	}
	if tl == 0 || !utf8.ValidString(topic) || strings.ContainsAny(topic, "+#\x00") {
		return "", 0, nil, fmt.Sprintf("invalid topic name %q", topic) // [MQTT-3.3.2-2]
	}
	return topic, pid, payload, ""
}

// publish decodes one PUBLISH into the round's batch; false means c is
// being closed.
func (lp *frontLoop) publish(c *frontConn, first byte, body []byte) bool {
	if c.v5 && c.aliases == nil {
		c.aliases = map[uint16]string{}
	}
	p, code, err := decodeFrontPublish(first, body, c.v5, c.aliases)
	if err != nil {
		lp.protocolError(c, code, err.Error())
		return false
	}
	b := lp.l.b
	in, src := b.in, b.src
	now := time.Now()
	m := frontMsg{c: c, kind: 3, qos: p.qos, retain: p.retain, pid: p.pid, topic: p.topic, props: p.props,
		start: now, at: now, first: lp.batch.Len()}
	m.last = m.first
	if p.qos == 2 {
		if _, ok := c.qos2[p.pid]; ok {
			m.dup = true // resent before its PUBREL: stored already [MQTT-4.3.3-10]
			lp.msgs = append(lp.msgs, m)
			lp.touch(c)
			return true
		}
		if len(c.qos2) >= b.lim.maxInflight {
			b.in.limitHit(reasonReceiveMaximum)
			lp.protocolError(c, packets.ErrReceiveMaximum, "more unreleased QoS 2 messages than the receive maximum")
			return false
		}
	}
	if !lp.l.allow(c, p.topic, true) {
		// Not authorized: an MQTT 5 client learns it (0x87); an MQTT 3
		// client gets a positive acknowledgement [MQTT-3.3.5-2].
		if c.v5 {
			m.refused = reasonCode(packets.ErrNotAuthorized, fmt.Errorf("not authorized to publish to %q", truncate(p.topic)))
		}
		lp.msgs = append(lp.msgs, m)
		lp.touch(c)
		return true
	}
	if p.qos == 2 && b.qos2 != nil {
		if ts, ok := b.qos2.lookup(c.id, p.pid); ok && p.dup {
			in.cnt.qos2Duplicates.Add(1)
			in.m.qos2Duplicates.Inc()
			m.at = time.Unix(0, ts)
		} else {
			m.rec = true
		}
	}
	in.cnt.messages.Add(1)
	if !mochi.IsValidFilter(p.topic, true) { // $SYS: acknowledged, neither stored nor routed
		m.parseErr = fmt.Errorf("%w %q: $SYS topics are the broker's own", ErrNoRule, p.topic)
		in.parseError(src, "", p.topic, m.parseErr)
		lp.msgs = append(lp.msgs, m)
		lp.touch(c)
		return true
	}
	if m.r = matchRule(src.rules, p.topic); m.r == nil {
		m.parseErr = fmt.Errorf("%w %q", ErrNoRule, p.topic)
		in.parseError(src, "", p.topic, m.parseErr)
	} else {
		m.rm = in.ruleMetrics(src, m.r)
		m.rm.messages.Inc()
		var props *msgProps
		if p.props != nil {
			props = publishProps(&packets.Packet{Properties: *p.props})
		}
		if err := in.decode(m.r, &lp.batch, p.topic, p.payload, m.at, props); err != nil {
			m.parseErr = err
			in.parseError(src, m.r.Filter, p.topic, err)
		}
	}
	m.last = lp.batch.Len()
	if m.retain || b.hasSubscribers(p.topic) {
		m.fwd, m.payload = true, bytes.Clone(p.payload)
	}
	lp.msgs = append(lp.msgs, m)
	lp.touch(c)
	return true
}

// pubrel releases a QoS 2 message: PUBCOMP, in order after the PUBREC.
func (lp *frontLoop) pubrel(c *frontConn, pid uint16) {
	_, known := c.qos2[pid]
	delete(c.qos2, pid)
	if b := lp.l.b; b.qos2 != nil && b.qos2.del(c.id, pid) {
		known = true
	}
	code := packets.CodeSuccess
	if !known {
		code = packets.ErrPacketIdentifierNotFound
	}
	lp.msgs = append(lp.msgs, frontMsg{c: c, kind: 6, answer: lp.appendAck(nil, c, packets.Pubcomp, pid, code)})
	lp.touch(c)
}

// appendAck appends a PUBACK, PUBREC or PUBCOMP to dst.
func (lp *frontLoop) appendAck(dst []byte, c *frontConn, typ byte, pid uint16, code packets.Code) []byte {
	if !c.v5 || code.Code == 0 { // success: no reason code, no properties
		return append(dst, typ<<4, 2, byte(pid>>8), byte(pid))
	}
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: typ}, ProtocolVersion: 5, PacketID: pid, ReasonCode: code.Code}
	if code.Reason != "" && (c.maxOut == 0 || len(code.Reason)+16 <= c.maxOut) {
		pk.Properties.ReasonString = code.Reason
	}
	lp.encBuf.Reset()
	switch typ {
	case packets.Puback:
		_ = pk.PubackEncode(&lp.encBuf)
	case packets.Pubrec:
		_ = pk.PubrecEncode(&lp.encBuf)
	default:
		_ = pk.PubcompEncode(&lp.encBuf)
	}
	return append(dst, lp.encBuf.Bytes()...)
}

func (lp *frontLoop) touch(c *frontConn) {
	if !c.touched {
		c.touched = true
		c.rounds++
		lp.touched = append(lp.touched, c)
	}
}

// closeLater closes c after the round; will says whether its will is
// published. c leaves the epoll set at once: the round may wait for the
// commit in flight, and a socket closed by its peer stays readable, which
// would wake the loop again and again meanwhile.
func (lp *frontLoop) closeLater(c *frontConn, why string, will bool) {
	c.state, c.why, c.sendWill = connClosing, why, will
	if lp.conns[int32(c.fd)] == c {
		_ = unix.EpollCtl(lp.epfd, unix.EPOLL_CTL_DEL, c.fd, nil)
	}
	lp.touch(c)
}

// protocolError closes c after the round for a packet it should not have
// sent; an MQTT 5 client gets a DISCONNECT with code first.
func (lp *frontLoop) protocolError(c *frontConn, code packets.Code, why string) {
	if c.v5 {
		pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Disconnect}, ProtocolVersion: 5, ReasonCode: code.Code}
		// A reason string when it fits the client's maximum packet size;
		// none with 0x95 (packet too large), as mochi's gate sends it.
		if r := truncate(why); code != packets.ErrPacketTooLarge && (c.maxOut == 0 || len(r)+16 <= c.maxOut) {
			pk.Properties.ReasonString = r
		}
		if pk.Properties.ReasonString == "" {
			c.out = append(c.out, 0xe0, 1, code.Code) // no properties: no property length either
		} else {
			lp.encBuf.Reset()
			_ = pk.DisconnectEncode(&lp.encBuf)
			c.out = append(c.out, lp.encBuf.Bytes()...)
		}
	}
	lp.closeLater(c, why, true)
}

// full reports whether the round being read holds all it may: the
// other ready connections wait (skipped) for the next.
func (lp *frontLoop) full() bool {
	return lp.batch.Samples() >= lp.maxSamples || len(lp.msgs) >= frontRoundMsgs || lp.readBytes >= frontRoundBytes
}

// settle answers the committed rounds at the head of inflight and
// submits the round read; with frontMaxCommits rounds in flight, it waits
// for the oldest. A round with new QoS 2 messages waits for two fsyncs
// (the QoS 2 store's, then the WAL's): the loop waits for it before it
// reads again, as before the rounds overlapped (with the next rounds in
// flight meanwhile, QoS 2 at 1,000 publishers lost about 10 %: smaller
// rounds, more fsyncs; bench/results/mqtt-matrix.md).
func (lp *frontLoop) settle() {
	lp.collect(false)
	lp.answerDone()
	if len(lp.touched) > 0 {
		lp.submit()
	}
	switch n := len(lp.inflight); {
	case n == 0:
	case len(lp.inflight[n-1].recs) > 0:
		lp.waitFor(n - 1)
	case n == frontMaxCommits:
		lp.waitFor(0)
	}
}

// waitFor waits until the commit of inflight[i] and those before it have
// returned, and answers them.
func (lp *frontLoop) waitFor(i int) {
	for !lp.inflight[i].done {
		lp.collect(true)
	}
	lp.answerDone()
}

// collect marks the rounds whose commit has returned; with wait, it
// waits for one first.
func (lp *frontLoop) collect(wait bool) {
	if wait {
		r := <-lp.committed
		r.done = true
	}
	for {
		select {
		case r := <-lp.committed:
			r.done = true
		default:
			return
		}
	}
}

// answerDone answers the committed rounds at the head of inflight.
func (lp *frontLoop) answerDone() {
	for len(lp.inflight) > 0 && lp.inflight[0].done {
		r := lp.inflight[0]
		lp.inflight[0] = nil
		lp.inflight = lp.inflight[1:]
		lp.answer(r)
	}
	if len(lp.inflight) == 0 {
		lp.inflight = lp.inflight[:0:0]
	}
}

// submit moves the round read into a frontRound and starts its commit in
// a goroutine. A round with nothing to store is answered at once, or
// after the rounds in flight before it. Fewer than frontMaxCommits
// rounds are in flight.
func (lp *frontLoop) submit() {
	var r *frontRound
	if n := len(lp.free); n > 0 {
		r, lp.free = lp.free[n-1], lp.free[:n-1]
	} else {
		r = &frontRound{}
	}
	r.batch, lp.batch = lp.batch, r.batch
	r.msgs, lp.msgs = lp.msgs, r.msgs
	r.touched, lp.touched = lp.touched, r.touched
	for _, c := range r.touched {
		c.touched = false
	}
	if lp.l.b.qos2 != nil {
		for i := range r.msgs {
			if m := &r.msgs[i]; m.rec {
				r.recs, r.ts = append(r.recs, qos2Key{m.c.id, m.pid}), append(r.ts, m.at.UnixNano())
			}
		}
	}
	if r.batch.Len() == 0 && len(r.recs) == 0 {
		if len(lp.inflight) == 0 {
			lp.answer(r)
			return
		}
		r.done = true
		lp.inflight = append(lp.inflight, r)
		return
	}
	lp.inflight = append(lp.inflight, r)
	go lp.commit(r)
}

// commit records r's new QoS 2 messages (fsynced), stores its batch, and
// gives r back to the loop. It runs in a goroutine of its own and touches
// nothing of r but its batch, its records and the results.
func (lp *frontLoop) commit(r *frontRound) {
	b := lp.l.b
	if len(r.recs) > 0 {
		r.qerr = b.qos2.putAll(r.recs, r.ts)
	}
	if r.batch.Len() > 0 {
		r.res, r.err = b.in.c.app.Append(b.ctx, &r.batch)
		slices.SortFunc(r.res.Rejected, func(a, b series.Rejection) int { return a.Index - b.Index })
	}
	// Under mu: a loop that stopped has closed evfd (shutdown receives
	// r, then sets stopped under mu before it closes the descriptors).
	lp.mu.Lock()
	lp.committed <- r
	if !lp.stopped {
		one := [8]byte{1}
		_, _ = unix.Write(lp.evfd, one[:])
	}
	lp.mu.Unlock()
}

// answer answers a committed round in the order of its packets, then
// forwards, writes and closes; rd goes back to free.
func (lp *frontLoop) answer(rd *frontRound) {
	b := lp.l.b
	in, src := b.in, b.src
	qerr, err := rd.qerr, rd.err
	rej := rd.res.Rejected
	for i := range rd.msgs {
		m := &rd.msgs[i]
		c := m.c
		switch m.kind {
		case 12:
			c.out = append(c.out, 0xd0, 0)
			continue
		case 6, 8, 10:
			c.out = append(c.out, m.answer...)
			continue
		}
		if c.failed {
			continue
		}
		typ := byte(packets.Puback)
		if m.qos == 2 {
			typ = packets.Pubrec
		}
		if m.dup {
			c.out = lp.appendAck(c.out, c, typ, m.pid, packets.CodeSuccess)
			continue
		}
		if m.refused.Code != 0 {
			if m.qos > 0 {
				c.out = lp.appendAck(c.out, c, typ, m.pid, m.refused)
			}
			continue
		}
		o := outcome{parseErr: m.parseErr}
		failErr := err
		if m.rec && qerr != nil {
			failErr = qerr
		}
		if m.last > m.first || (m.rec && qerr != nil) {
			if failErr != nil {
				in.failure(src, m.topic, failErr)
				if m.rec && b.qos2 != nil {
					b.qos2.del(c.id, m.pid)
				}
				switch {
				case m.qos == 0:
				case c.v5:
					c.out = lp.appendAck(c.out, c, typ, m.pid, storeRefusal(failErr))
				default:
					c.failed = true // no ack and a close: the client sends it again
					c.state, c.why, c.sendWill = connClosing, "message not stored: "+failErr.Error(), true
				}
				continue
			}
			var r result
			for len(rej) > 0 && rej[0].Index < m.first {
				rej = rej[1:]
			}
			for i := m.first; i < m.last; i++ {
				_, _, ts, _ := rd.batch.Series(i)
				if len(rej) > 0 && rej[0].Index == i {
					r.rejected += len(ts)
					if r.rejErr == nil {
						r.rejErr = rej[0].Err
					}
					rej = rej[1:]
				} else {
					r.accepted += len(ts)
				}
			}
			o = in.settle(src, m.r, m.rm, m.topic, r, m.parseErr)
		}
		if m.qos > 0 {
			in.observeAck(src, m.qos, m.start)
			code := packets.CodeSuccess
			if c.v5 && o.parseErr != nil && o.stored == 0 {
				code = parseRefusal(o.parseErr)
			}
			if code.Code >= 0x80 {
				if m.rec && b.qos2 != nil {
					b.qos2.del(c.id, m.pid) // the exchange ends here: no PUBREL comes
				}
				c.out = lp.appendAck(c.out, c, typ, m.pid, code)
				continue // not forwarded
			}
			if m.qos == 2 {
				if c.qos2 == nil {
					c.qos2 = map[uint16]struct{}{}
				}
				c.qos2[m.pid] = struct{}{}
			}
			c.out = lp.appendAck(c.out, c, typ, m.pid, code)
		}
		if m.fwd {
			lp.forward(c, m)
		}
	}
	for _, c := range rd.touched {
		c.rounds--
		switch {
		case c.state == connOpen, c.state == connClosing && c.rounds > 0 && !c.failed:
			lp.flush(c) // closing: the last round that holds it drops it
		case c.state == connClosing:
			if len(c.out) > 0 && !c.failed {
				_, _ = unix.Write(c.fd, c.out) // best effort before the close
			}
			lp.drop(c)
		}
	}
	clear(rd.msgs)
	rd.msgs = rd.msgs[:0]
	clear(rd.touched)
	rd.touched = rd.touched[:0]
	rd.batch.Reset()
	clear(rd.recs)
	rd.recs, rd.ts = rd.recs[:0], rd.ts[:0]
	rd.res, rd.err, rd.qerr, rd.done = series.AppendResult{}, nil, nil, false
	lp.free = append(lp.free, rd)
}

// forward gives a stored message to mochi's subscribers (and its
// retained messages) through the front end's inline client, with its
// MQTT 5 properties.
func (lp *frontLoop) forward(c *frontConn, m *frontMsg) {
	b := lp.l.b
	retain := m.retain
	if retain {
		retain = b.admitRetained(c.id, m.topic, len(m.payload))
	}
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: m.qos, Retain: retain},
		TopicName: m.topic, Payload: m.payload, PacketID: uint16(max(1, m.qos)), Created: time.Now().Unix()}
	if m.props != nil {
		pk.Properties = *m.props
	}
	if m.qos == 0 {
		pk.PacketID = 0
	}
	if err := b.srv.InjectPacket(lp.l.fwd, pk); err != nil {
		lp.l.log.Debug("mqtt publish front end: forward to subscribers", "topic", truncate(m.topic), "err", err)
	}
}

// flush writes c.out; what the socket does not take waits for EPOLLOUT,
// and c is not read meanwhile.
func (lp *frontLoop) flush(c *frontConn) {
	progressed := false
	for len(c.out) > 0 {
		n, err := unix.Write(c.fd, c.out)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if errors.Is(err, unix.EAGAIN) {
			if c.waitOut && progressed {
				c.waitSince = lp.l.now() // a slow reader, not a dead one
			}
			if !c.waitOut {
				c.waitOut, c.waitSince = true, lp.l.now()
				_ = unix.EpollCtl(lp.epfd, unix.EPOLL_CTL_MOD, c.fd, &unix.EpollEvent{Events: unix.EPOLLOUT, Fd: int32(c.fd)})
			}
			return
		}
		if err != nil {
			c.why, c.sendWill = "write: "+err.Error(), true
			lp.drop(c)
			return
		}
		c.out = c.out[:copy(c.out, c.out[n:])]
		progressed = true
	}
	if cap(c.out) > 64<<10 {
		c.out = nil
	}
	if c.waitOut {
		c.waitOut = false
		_ = unix.EpollCtl(lp.epfd, unix.EPOLL_CTL_MOD, c.fd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(c.fd)})
	}
}

// drop closes c: its subscriptions go, presence records why, and its
// will is published (after its delay) unless it said DISCONNECT.
func (lp *frontLoop) drop(c *frontConn) {
	if c.state == connGone {
		return
	}
	l := lp.l
	if lp.conns[int32(c.fd)] == c {
		delete(lp.conns, int32(c.fd))
		_ = unix.EpollCtl(lp.epfd, unix.EPOLL_CTL_DEL, c.fd, nil)
	}
	c.state = connGone
	unix.Close(c.fd)
	l.n.Add(-1)
	l.forget(c)
	lp.unsubscribeAll(c)
	l.b.presence.disconnect(presenceID(c), c, frontGone(c.why))
	if c.will != nil && c.sendWill && c.why != "broker closed" {
		l.publishWill(c)
	}
	l.log.Debug("mqtt client disconnected", "client", c.id, "reason", c.why)
}

// frontGone names why a front end client went (presence).
func frontGone(why string) string {
	switch {
	case why == "session taken over":
		return "" // not gone: the new connection holds the ID
	case why == "DISCONNECT":
		return goneDisconnect
	case why == "DISCONNECT with will":
		return goneDisconnectWill
	case why == "keep alive expired":
		return goneKeepAlive
	case why == "broker closed":
		return goneShutdown
	case why == "connection closed by the client", strings.HasPrefix(why, "write"), strings.HasPrefix(why, "epoll"):
		return goneLost
	}
	return goneError
}

// sendWill stores c's will as if c had published it, then gives it to
// mochi's subscribers, in a goroutine of its own (storing waits for a
// commit). publishWill calls it when the will delay interval is over.
func (l *frontListener) sendWill(c *frontConn) {
	w := c.will
	if !l.allow(c, w.TopicName, true) {
		return
	}
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		b := l.b
		b.in.handleProps(b.ctx, b.src, w.TopicName, w.Payload, time.Now(), publishProps(w))
		pk := *w
		if pk.FixedHeader.Retain {
			pk.FixedHeader.Retain = b.admitRetained(c.id, pk.TopicName, len(pk.Payload))
		}
		pk.Properties.WillDelayInterval = 0
		pk.PacketID = uint16(pk.FixedHeader.Qos)
		pk.Created = time.Now().Unix()
		if err := b.srv.InjectPacket(l.fwd, pk); err != nil {
			l.log.Debug("mqtt publish front end: will to subscribers", "topic", truncate(pk.TopicName), "err", err)
		}
	}()
}

// sweep closes the clients silent for 1.5 times their keep alive, and
// those that leave their answers unread, then sends the wills whose
// delay is over. now is the listener's clock (frontListener.now).
func (lp *frontLoop) sweep(now time.Time) {
	lp.sweepAt = now
	for _, c := range lp.conns {
		if c.waitOut {
			limit := c.expire
			if limit == 0 {
				limit = lp.l.b.lim.writeTimeout
			}
			if now.Sub(c.waitSince) > limit {
				c.why, c.sendWill = "client does not read its acknowledgements", true
				lp.drop(c)
			}
			continue
		}
		if c.expire > 0 && now.Sub(c.last) > c.expire {
			if n, err := unix.IoctlGetInt(c.fd, unix.SIOCINQ); err == nil && n > 0 {
				c.last = now // sent something not read yet (a slow Append)
				continue
			}
			c.why, c.sendWill = "keep alive expired", true
			lp.drop(c)
		}
	}
	lp.l.sendDueWills(now)
}

// shutdown answers the rounds in flight (the broker's context is
// cancelled: their commits return), closes every connection and the
// loop's descriptors.
func (lp *frontLoop) shutdown() {
	for len(lp.inflight) > 0 {
		if !lp.inflight[0].done {
			lp.collect(true)
		}
		lp.answerDone()
	}
	for _, c := range lp.conns {
		c.why = "broker closed"
		lp.drop(c)
	}
	lp.mu.Lock()
	cmds := lp.cmds
	lp.cmds, lp.stopped = nil, true
	lp.mu.Unlock()
	for _, cmd := range cmds {
		if cmd.add != nil {
			cmd.add.why = "broker closed"
			lp.drop(cmd.add)
		}
	}
	lp.closeFDs()
}
