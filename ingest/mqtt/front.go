//go:build linux

package mqtt

// The publish front end (issue #21, option A): a listener whose
// connections it serves alone, from the CONNECT to the close. It serves
// the device port (lightning-db's mqtt.addr, plain TCP on Linux); mochi
// has a listener of its own (mqtt.subscribe_addr). It never
// hands a socket to anything else: there is no replayed CONNECT, no
// dropped CONNACK and no session map beside mochi's. mochi is its router:
// a message someone subscribed to, or with the retain flag, goes to
// mochi's subscribers through an inline client after it is stored, and a
// SUBSCRIBE on the front end becomes an inline subscription of mochi's
// whose messages the front end writes to the connection at QoS 0.
//
// A few epoll loops (frontLoop) serve the connections. A round reads every
// ready connection once, decodes the publishes of all of them into one
// batch, records the round's new QoS 2 messages in the QoS 2 store with
// one fsync, stores the batch with one Append (one WAL group commit for
// them all), then writes each connection's answers (PUBACK, PUBREC,
// PUBCOMP, PINGRESP, SUBACK, ...) in order, in one write per connection.
// The commit runs in a goroutine of its own: the loop reads the next
// round meanwhile and answers the rounds in order, each once it is
// committed (frontLoop has the pipeline and its bounds).
//
// It serves what a publishing device does (MQTT 3.1, 3.1.1 and 5 CONNECT,
// PUBLISH at QoS 0/1/2, PINGREQ, DISCONNECT, wills, topic aliases, the
// MQTT 5 reason codes) and subscriptions at QoS 0; QoS 1/2 delivery and
// persistent sessions are mochi's, on its own listener (docs/mqtt.md,
// "The publish front end").
//
// The decision (issue #21, one owner per connection, option A), measured
// side by side on the shared 2-core machine, servers pinned to CPU 0, load
// on CPU 1, 1,000 raw MQTT 3.1.1 publishers, one message in flight each,
// 10 s, each QoS one run of:
//
//	go build -o /tmp/mqttbench ./ingest/mqtt/mqttbench
//	taskset -c 1 /tmp/mqttbench -matrix -client raw -row 1,1,1000   # and -row 2,1,1000
//
//	QoS 1  mosquitto alone (no persistence)   104,762 msgs/s   9.3 µs CPU/msg
//	       mochi (mqtt.subscribe_addr)          39,618 msgs/s  23.2 µs CPU/msg
//	       this front end (mqtt.addr)          115,401 msgs/s   8.0 µs CPU/msg
//	QoS 2  mosquitto alone                      46,053 msgs/s  16.8 µs CPU/msg
//	       mochi                                 2,107 msgs/s 137.3 µs CPU/msg
//	       this front end                       52,405 msgs/s  17.4 µs CPU/msg
//
// 110 % of mosquitto's throughput at QoS 1, below the 8.6 µs CPU
// per message, without a hand-over (docs/mqtt.md, "The publish front
// end", has the other runs).

import (
	"bytes"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
	"golang.org/x/sys/unix"
)

const (
	// frontReadBuf is a loop's read buffer: one read per ready
	// connection per round.
	frontReadBuf = 256 << 10
	// frontAliasMax is the Topic Alias Maximum announced to MQTT 5
	// clients (mosquitto's default is 10).
	frontAliasMax = 32
	// frontMaxOut bounds the bytes waiting to be written to one
	// connection; a message for a subscription of a client that does not
	// read is dropped over it (counted, reason "device port queue full").
	frontMaxOut = 1 << 20
	// frontMaxQueued bounds the bytes of the messages for subscriptions
	// waiting for a loop (it waits for a commit); more are dropped.
	frontMaxQueued = 16 << 20
	// reasonFrontQueue is the limit reason of such a drop.
	reasonFrontQueue = "device port queue full"
)

// frontListener owns the connections of BrokerOptions.PublishAddr.
type frontListener struct {
	b   *Broker
	log *slog.Logger
	ln  net.Listener
	fwd *mochi.Client // the inline client messages are forwarded through

	now   func() time.Time // the clock of deadlines (BrokerOptions.now)
	loops []*frontLoop
	next  atomic.Uint32
	wg    sync.WaitGroup // accept, handshakes, loops, wills
	n     atomic.Int64   // connected clients
	subID atomic.Int64   // inline subscription identifiers
	anon  atomic.Uint64  // assigned client IDs

	mu      sync.Mutex
	closed  bool
	pending int                   // handshakes in progress
	ids     map[string]*frontConn // connected clients by client ID (takeover)
	// wills are the wills waiting for their delay, by client ID
	// (front_will.go).
	wills map[string]delayedWill
}

func newFrontListener(b *Broker, addr string, now func() time.Time) (*frontListener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("mqtt publish front end: listen on %s: %w", addr, err)
	}
	fwd := b.srv.NewClient(nil, "local", "lightningdb-front", true)
	fwd.Properties.ProtocolVersion = 5 // forwards keep their MQTT 5 properties
	if now == nil {
		now = time.Now
	}
	l := &frontListener{b: b, log: b.log, ln: ln, fwd: fwd, now: now, ids: map[string]*frontConn{},
		wills: map[string]delayedWill{}}
	// Two loops at least (one core too), each with up to two rounds in
	// flight (frontLoop).
	for range max(2, runtime.GOMAXPROCS(0)) {
		lp, err := newFrontLoop(l)
		if err != nil {
			for _, lp := range l.loops {
				lp.closeFDs()
			}
			ln.Close()
			return nil, fmt.Errorf("mqtt publish front end: %w", err)
		}
		l.loops = append(l.loops, lp)
	}
	return l, nil
}

func (l *frontListener) addr() string { return l.ln.Addr().String() }

// serve runs the loops and accepts connections until close.
func (l *frontListener) serve() {
	for _, lp := range l.loops {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			lp.run()
		}()
	}
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		l.accept()
	}()
}

func (l *frontListener) accept() {
	for {
		conn, ok := acceptRetry(l.ln, l.isClosed, l.log, "mqtt publish front end: accept")
		if !ok {
			return
		}
		l.mu.Lock()
		if l.closed || l.pending >= l.b.lim.maxClients {
			busy := !l.closed
			l.mu.Unlock()
			if busy {
				l.b.in.limitHit(reasonHandshakes)
			}
			conn.Close()
			continue
		}
		l.pending++
		l.wg.Add(1)
		l.mu.Unlock()
		go func() {
			defer l.wg.Done()
			l.handshake(conn)
			l.mu.Lock()
			l.pending--
			l.mu.Unlock()
		}()
	}
}

func (l *frontListener) isClosed() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.closed
}

// close stops accepting, closes every connection and waits for the loops
// and the wills being stored.
func (l *frontListener) close() {
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
	l.ln.Close()
	for _, lp := range l.loops {
		lp.post(frontCmd{stop: true})
	}
	l.wg.Wait()
}

// readPacket reads one whole packet (at most max bytes) from r: its first
// byte and its body.
func readPacket(r io.Reader, maxSize int) (byte, []byte, error) {
	var hdr [5]byte
	if _, err := io.ReadFull(r, hdr[:2]); err != nil {
		return 0, nil, err
	}
	n := 2
	for hdr[n-1]&0x80 != 0 {
		if n == 5 {
			return 0, nil, fmt.Errorf("%w: remaining length of more than 4 bytes", errMalformed)
		}
		if _, err := io.ReadFull(r, hdr[n:n+1]); err != nil {
			return 0, nil, err
		}
		n++
	}
	rem, _, _ := packetLen(hdr[:n])
	if size := n + rem; size > maxSize {
		return 0, nil, fmt.Errorf("%w: packet of %d bytes, the limit is %d", errPacketTooLarge, size, maxSize)
	}
	body := make([]byte, rem)
	if _, err := io.ReadFull(r, body); err != nil {
		return 0, nil, err
	}
	return hdr[0], body, nil
}

// decodeConnect decodes a CONNECT body with mochi's decoder and checks
// it; code is the CONNACK reason when it is refused (success otherwise),
// err says what is wrong.
func decodeConnect(first byte, body []byte) (pk packets.Packet, code packets.Code, err error) {
	if first != 0x10 {
		return pk, packets.ErrProtocolViolation, fmt.Errorf("%w: first packet of type %d, want CONNECT", errMalformed, first>>4)
	}
	pk.FixedHeader = packets.FixedHeader{Type: packets.Connect, Remaining: len(body)}
	if err := mochiDecode(func() error { return pk.ConnectDecode(body) }); err != nil {
		return pk, packets.ErrMalformedPacket, fmt.Errorf("%w: CONNECT: %w", errMalformed, err)
	}
	if code := pk.ConnectValidate(); code != packets.CodeSuccess {
		return pk, code, fmt.Errorf("%w: CONNECT: %s", errMalformed, code.Reason)
	}
	if pk.Connect.WillFlag && !mochi.IsValidFilter(pk.Connect.WillTopic, true) {
		return pk, packets.ErrTopicNameInvalid, fmt.Errorf("%w: CONNECT: will topic %q", errMalformed, pk.Connect.WillTopic)
	}
	return pk, packets.CodeSuccess, nil
}

// handshake reads the CONNECT, authenticates the client, answers with a
// CONNACK and puts the connection on a loop, which serves it until it
// closes.
func (l *frontListener) handshake(conn net.Conn) {
	b := l.b
	_ = conn.SetReadDeadline(time.Now().Add(handshakeTimeout))
	first, body, err := readPacket(conn, b.lim.maxPacket)
	if err != nil {
		if isTooLarge(err) {
			b.tooBig(0)
		}
		l.log.Debug("mqtt publish front end: no CONNECT", "remote", conn.RemoteAddr().String(), "err", err)
		conn.Close()
		return
	}
	pk, code, err := decodeConnect(first, body)
	v5 := pk.ProtocolVersion == 5
	if err != nil {
		if code == packets.ErrProtocolViolationProtocolVersion || code == packets.ErrProtocolViolationProtocolName {
			code = packets.ErrUnsupportedProtocolVersion
		}
		l.refuse(conn, pk, code)
		l.log.Debug("mqtt publish front end: CONNECT refused", "remote", conn.RemoteAddr().String(), "err", err)
		return
	}
	id := pk.Connect.ClientIdentifier
	assigned := ""
	if id == "" {
		if !pk.Connect.Clean && !v5 {
			l.refuse(conn, pk, packets.ErrClientIdentifierNotValid) // [MQTT-3.1.3-8]
			return
		}
		assigned = "lightningdb-" + strconv.FormatUint(l.anon.Add(1), 36) + "-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	}
	c := &frontConn{fd: -1, id: id, v5: v5, user: string(pk.Connect.Username), clean: pk.Connect.Clean,
		remote: conn.RemoteAddr().String()}
	if assigned != "" {
		c.id, c.anon = assigned, true
	}
	if !l.authenticate(c, &pk) {
		l.refuse(conn, pk, packets.ErrBadUsernameOrPassword)
		return
	}
	l.mu.Lock()
	_, back := l.ids[c.id] // a client taking its connection over is not a new one
	l.mu.Unlock()
	if !back && b.full() { // both ports' clients (clientCounts)
		b.in.limitHit(reasonClients)
		l.refuse(conn, pk, packets.ErrServerBusy)
		return
	}
	if pk.Connect.WillFlag {
		w := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: pk.Connect.WillQos, Retain: pk.Connect.WillRetain},
			TopicName: pk.Connect.WillTopic, Payload: pk.Connect.WillPayload, Properties: pk.Connect.WillProperties}
		c.will = &w
		if v5 {
			c.willDelay = willDelay(&pk, b.lim.maxSessionExpiry)
		}
	}
	if ka := pk.Connect.Keepalive; ka > 0 {
		c.expire = time.Duration(ka) * 1500 * time.Millisecond
	}
	if v5 {
		c.maxOut = int(pk.Properties.MaximumPacketSize)
	}
	// Session present: the front end keeps no subscriptions; it keeps
	// the QoS 2 messages not yet released of a client with clean
	// session 0 (the QoS 2 store), and says so.
	present := false
	if b.qos2 != nil {
		if pk.Connect.Clean {
			b.qos2.dropClient(c.id)
		} else {
			present = b.qos2.has(c.id)
		}
	}
	ack := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connack}, ProtocolVersion: pk.ProtocolVersion,
		SessionPresent: present, ReasonCode: packets.CodeSuccess.Code}
	if v5 {
		p := &ack.Properties
		p.ReceiveMaximum = uint16(b.lim.maxInflight)
		p.TopicAliasMaximum = frontAliasMax
		p.MaximumPacketSize = uint32(b.lim.maxPacket)
		p.AssignedClientID = assigned
		if exp := pk.Properties.SessionExpiryInterval; pk.Properties.SessionExpiryIntervalFlag &&
			time.Duration(exp)*time.Second > b.lim.maxSessionExpiry {
			p.SessionExpiryInterval = uint32(b.lim.maxSessionExpiry / time.Second)
			p.SessionExpiryIntervalFlag = true
		}
	}
	var buf bytes.Buffer
	_ = ack.ConnackEncode(&buf)
	fd, err := takeFD(conn)
	if err != nil {
		l.log.Debug("mqtt publish front end: descriptor", "err", err)
		return
	}
	c.fd = fd
	c.last = l.now()
	lp := l.loops[int(l.next.Add(1))%len(l.loops)]
	c.loop = lp
	l.n.Add(1)
	// The ID is the new connection's before the client has its CONNACK,
	// so a client that connects again at once takes over this one, not
	// the other way round.
	l.takeover(c)
	// A few bytes on a new socket: the send buffer takes them. A failure
	// shows as a closed connection on the loop.
	_, _ = unix.Write(fd, buf.Bytes())
	b.presence.connect(presenceID(c), c)
	if !lp.post(frontCmd{add: c}) {
		c.why = "broker closed"
		lp.drop(c)
	}
}

// presenceID is the ID presence records c under: none for a client
// without an ID of its own (a made-up one would be new every time).
func presenceID(c *frontConn) string {
	if c.anon {
		return ""
	}
	return c.id
}

// takeover makes c the connection of its client ID: an older one with
// the same ID, on the front end or on mochi's listeners, is closed
// [MQTT-3.1.4-2], and a will waiting for its delay is not sent
// [MQTT-3.1.3-9].
func (l *frontListener) takeover(c *frontConn) {
	l.mu.Lock()
	old := l.ids[c.id]
	l.ids[c.id] = c
	delete(l.wills, c.id)
	l.mu.Unlock()
	if old != nil {
		old.loop.post(frontCmd{close: old})
	}
	if cl, ok := l.b.srv.Clients.Get(c.id); ok && !cl.Net.Inline && !cl.Closed() {
		_ = l.b.srv.DisconnectClient(cl, packets.ErrSessionTakenOver)
	}
}

// closeID closes the front end's connection with client ID id, if any,
// and drops its will waiting for its delay: a client with that ID
// connected to mochi's port takes it over.
func (l *frontListener) closeID(id string) {
	l.mu.Lock()
	c := l.ids[id]
	delete(l.ids, id)
	delete(l.wills, id)
	l.mu.Unlock()
	if c != nil {
		c.loop.post(frontCmd{close: c})
	}
}

// forget drops c from the IDs, unless a newer connection holds its ID.
func (l *frontListener) forget(c *frontConn) {
	l.mu.Lock()
	if l.ids[c.id] == c {
		delete(l.ids, c.id)
	}
	l.mu.Unlock()
}

// authenticate checks the CONNECT's credentials as brokerHook does for
// mochi's clients.
func (l *frontListener) authenticate(c *frontConn, pk *packets.Packet) bool {
	h := l.b.hook
	if h.auth != nil {
		who, ok := h.auth.a.Authenticate(pk.Connect.Username, pk.Connect.Password, c.id, c.remote)
		c.who = who
		return ok
	}
	if len(h.user) == 0 {
		return true
	}
	u := subtle.ConstantTimeCompare(pk.Connect.Username, h.user)
	p := subtle.ConstantTimeCompare(pk.Connect.Password, h.pass)
	return u&p == 1
}

// allow checks a publish (write) or a subscription against the
// Authorizer, as brokerHook.OnACLCheck does.
func (l *frontListener) allow(c *frontConn, topic string, write bool) bool {
	h := l.b.hook
	return h.auth == nil || h.auth.a.Allow(c.who, c.user, c.id, topic, write)
}

// refuse writes a CONNACK with code (its MQTT 3 return code for a 3.x
// client) and closes conn.
func (l *frontListener) refuse(conn net.Conn, pk packets.Packet, code packets.Code) {
	ack := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connack}, ProtocolVersion: pk.ProtocolVersion,
		ReasonCode: code.Code}
	if pk.ProtocolVersion != 5 {
		ack.ProtocolVersion = 4
		v3, ok := packets.V5CodesToV3[code]
		if !ok {
			v3 = packets.Err3ServerUnavailable // server busy, and the rest
		}
		ack.ReasonCode = v3.Code
	} else {
		ack.Properties.ReasonString = code.Reason
	}
	var buf bytes.Buffer
	_ = ack.ConnackEncode(&buf)
	_ = conn.SetWriteDeadline(time.Now().Add(time.Second))
	_, _ = conn.Write(buf.Bytes())
	conn.Close()
}

func isTooLarge(err error) bool { return errors.Is(err, errPacketTooLarge) }

// takeFD moves conn's socket out of Go's network poller: it returns a
// duplicate of the descriptor (non-blocking, close-on-exec) and closes
// conn.
func takeFD(conn net.Conn) (int, error) {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		conn.Close()
		return -1, fmt.Errorf("%T has no file descriptor", conn)
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		conn.Close()
		return -1, err
	}
	fd := -1
	var derr error
	if err := rc.Control(func(s uintptr) { fd, derr = unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 0) }); err != nil {
		derr = err
	}
	conn.Close()
	if derr != nil {
		return -1, derr
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}
