package mqtt

// One owner per connection: mochi (github.com/mochi-mqtt/server/v2) serves
// every connection of the embedded broker, from its CONNECT to its close,
// plain TCP and TLS alike. The listener below only accepts, wraps each
// connection (clientConn: whole packets only, write deadlines) and gives
// it to mochi; it never reads a packet itself and never takes a
// connection back.
//
// Until session 8 a second MQTT server (publoop.go, 1,545 lines) served
// MQTT 3.x publishers on its own epoll loops and handed a connection to
// mochi in the middle of its session (replaying its CONNECT, dropping
// mochi's CONNACK, six maps of session state beside mochi's). It was
// removed for one owner per connection (issue #21), measured side by side
// in one run on a shared 2-core machine (servers pinned to CPU 0, load on
// CPU 1, 1,000 raw QoS 1 publishers, one message in flight each, 10 s):
//
//	taskset -c 1 mqttbench -matrix -client raw -row 1,1,1000 -matrix-mochi
//	mosquitto alone (no persistence)    101,801 msgs/s   9.6 µs CPU/msg
//	publish loop (removed)              105,877 msgs/s   8.5 µs CPU/msg
//	mochi serves every connection        43,104 msgs/s  21.4 µs CPU/msg
//
// The loop was 2.5 times faster; the price was a hand-over no maintainer
// could change safely. A front end that owns its connections for their
// whole life (MQTT 3.1.1 and 5, wills, subscriptions, QoS 2, topic
// aliases, the MQTT 5 reason codes) would keep the speed without the
// hand-over, but was more than this change could build and test; it is
// the way to win the throughput back (docs/mqtt.md, "One owner per
// connection"). Of mochi's CPU per message, about half is the read and
// write system calls of one goroutine per connection.
//
// That front end is front.go (BrokerOptions.PublishAddr): it owns the
// connections of a listener of its own; this listener stays mochi's.

import (
	"crypto/tls"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
)

const (
	// publishWriteTimeout is how long a write to a client may block (its
	// socket full: it does not read) before the connection is closed
	// (BrokerOptions.writeTimeout).
	publishWriteTimeout = 30 * time.Second
	// handshakeTimeout bounds the wait for a new connection's CONNECT.
	handshakeTimeout = 10 * time.Second
)

// listener is the broker's listener (a mochi listeners.Listener): it
// accepts connections and gives each to mochi, wrapped in a clientConn.
type listener struct {
	id, addr string
	b        *Broker
	log      *slog.Logger
	tls      *tls.Config // nil: plain TCP

	ln        net.Listener
	establish listeners.EstablishFn
	wg        sync.WaitGroup // connections given to mochi, until establish returns
	closing   atomic.Bool    // Close began: writes get short deadlines

	mu      sync.Mutex
	closed  bool
	conns   map[net.Conn]struct{} // given to mochi, establish not returned
	pending int                   // of conns, those whose CONNECT mochi has not read
}

func newListener(b *Broker, id, addr string, log *slog.Logger, tlsConf *tls.Config) *listener {
	return &listener{id: id, addr: addr, b: b, log: log, tls: tlsConf, conns: map[net.Conn]struct{}{}}
}

// Init opens the address (mochi's Listener).
func (l *listener) Init(*slog.Logger) error {
	ln, err := net.Listen("tcp", l.addr)
	if err != nil {
		return err
	}
	if l.tls != nil {
		ln = tls.NewListener(ln, l.tls)
	}
	l.ln = ln
	return nil
}

func (l *listener) ID() string       { return l.id }
func (l *listener) Protocol() string { return "tcp" }
func (l *listener) Address() string {
	if l.ln != nil {
		return l.ln.Addr().String()
	}
	return l.addr
}

// Serve accepts connections until Close.
func (l *listener) Serve(establish listeners.EstablishFn) {
	l.establish = establish
	for {
		conn, ok := acceptRetry(l.ln, l.isClosed, l.log, "mqtt: accept")
		if !ok {
			return
		}
		l.serve(conn)
	}
}

// acceptRetry returns ln's next connection, or false once closed says
// the listener was closed. An error such as EMFILE is logged (msg) and
// the accept tried again after a backoff of 5 ms doubling up to 1 s: a
// server stops accepting only when closed.
func acceptRetry(ln net.Listener, closed func() bool, log *slog.Logger, msg string) (net.Conn, bool) {
	backoff := 5 * time.Millisecond
	for {
		conn, err := ln.Accept()
		if err == nil {
			return conn, true
		}
		if closed() {
			return nil, false
		}
		log.Warn(msg, "err", err)
		time.Sleep(backoff)
		backoff = min(2*backoff, time.Second)
	}
}

func (l *listener) isClosed() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.closed
}

// serve gives conn to mochi in a goroutine of its own, unless MaxClients
// connections wait for their CONNECT: then it is closed before anything
// is read. (mochi's OnConnect hook bounds the clients once connected.)
func (l *listener) serve(conn net.Conn) {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		conn.Close()
		return
	}
	if l.pending >= l.b.lim.maxClients {
		l.mu.Unlock()
		l.b.in.limitHit(reasonHandshakes)
		conn.Close()
		return
	}
	l.conns[conn] = struct{}{}
	l.pending++
	l.wg.Add(1)
	l.mu.Unlock()
	go func() {
		defer l.wg.Done()
		cc := &clientConn{Conn: conn, l: l, gate: packetGate{max: l.b.lim.maxPacket, tooBig: l.b.tooBig}}
		defer l.done(cc)
		// mochi sets no deadline before the CONNECT is read; it sets its
		// keep-alive one after.
		_ = conn.SetReadDeadline(time.Now().Add(handshakeTimeout))
		if err := l.establish(l.id, cc); err != nil {
			l.log.Debug("mqtt client disconnected", "remote", conn.RemoteAddr(), "err", err)
		}
	}()
}

func (l *listener) done(c *clientConn) {
	c.connected()
	l.mu.Lock()
	delete(l.conns, c.Conn)
	l.mu.Unlock()
}

// connected ends c's handshake (once): mochi read its CONNECT, or gave up.
func (c *clientConn) connected() {
	if c.shook.Swap(true) {
		return
	}
	c.l.mu.Lock()
	c.l.pending--
	c.l.mu.Unlock()
}

// Close stops accepting, disconnects the clients (MQTT 5 clients learn
// why: 0x8B server shutting down) and waits until mochi let go of every
// connection, so no client outlives Close.
func (l *listener) Close(closeClients listeners.CloseFn) {
	l.closing.Store(true)
	l.mu.Lock()
	l.closed = true
	// A client that stopped reading must not hold this up: mochi writes
	// under the client's lock, without a deadline when there is no keep
	// alive, so every connection gets a short one first.
	for c := range l.conns {
		_ = c.SetWriteDeadline(time.Now().Add(time.Second))
	}
	l.mu.Unlock()
	if l.ln != nil {
		l.ln.Close()
	}
	for _, cl := range l.b.srv.Clients.GetAll() {
		if cl.Net.Listener == l.id && !cl.Closed() {
			_ = l.b.srv.DisconnectClient(cl, packets.ErrServerShuttingDown)
		}
	}
	l.mu.Lock()
	for c := range l.conns {
		c.Close()
	}
	l.mu.Unlock()
	// Every client of this listener came through serve: once their
	// connections are closed, waiting for them is what closeClients would
	// do. closeClients must not run while they end: mochi's
	// Clients.GetByListener takes its read lock twice (Len inside), and a
	// client's Clients.Delete waiting for the write lock in between
	// deadlocks both (seen in CI).
	l.wg.Wait()
	closeClients(l.id)
}

// clientConn is a connection mochi serves. Read returns whole packets
// only (packetGate); each Write has a deadline of its own.
type clientConn struct {
	net.Conn
	l          *listener
	gate       packetGate   // read by mochi's reader only
	shook      atomic.Bool  // the CONNECT was read (listener.pending counted down)
	writing    atomic.Int64 // when the Write in progress began (unix ns), 0 when none
	hurried    atomic.Bool  // the Write in progress got the stall limit (hurry)
	hurryUntil atomic.Int64 // the end of the last hurry's window (unix ns): a Write starting before it is hurried
}

func (c *clientConn) Read(p []byte) (int, error) {
	n, err := c.gate.read(c.Conn, p)
	if c.gate.started && !c.shook.Load() {
		c.connected()
	}
	return n, err
}

// SetDeadline is mochi's keep-alive deadline (1.5 times the keep alive
// from the last packet, none without one): it applies to reads; each
// Write has a deadline of its own.
func (c *clientConn) SetDeadline(t time.Time) error { return c.Conn.SetReadDeadline(t) }

// Write writes p within the write timeout: a client that does not read
// what it subscribed to (its socket full) is closed then, rather than
// holding up to MaxQueued messages for ever. Once Close began, the
// deadline is Close's second.
func (c *clientConn) Write(p []byte) (int, error) {
	d := c.l.b.lim.writeTimeout
	if c.l.closing.Load() {
		d = time.Second
	}
	_ = c.Conn.SetWriteDeadline(time.Now().Add(d))
	if c.l.closing.Load() { // Close may have set its deadline just before ours
		_ = c.Conn.SetWriteDeadline(time.Now().Add(time.Second))
	}
	c.hurried.Store(false)
	start := time.Now().UnixNano()
	c.writing.Store(start)
	if c.hurryUntil.Load() > start {
		// A copy may wait for the lock this Write holds: mochi's write
		// loop can take the lock again and again ahead of it, so every
		// Write in the hurry's window gets the stall limit, not only the
		// first (a first Write that finished in time would leave the
		// next one the full write timeout).
		c.hurried.Store(true)
		_ = c.Conn.SetWriteDeadline(time.Unix(0, start).Add(c.l.b.lim.subscriberStall))
	}
	n, err := c.Conn.Write(p)
	c.writing.Store(0)
	if err != nil {
		if c.hurried.Load() {
			c.l.b.in.limitHit(reasonSubscriberStalled)
			c.l.b.log.Warn("mqtt: subscriber disconnected: it does not read, and messages for it wait (a write to it was blocked)",
				"remote", c.Conn.RemoteAddr().String(), "err", err)
		}
		// mochi's write loop logs a failed write and goes on with the
		// next packet; the stream is broken (a packet cut short), so end
		// the connection: mochi's reader sees it and lets the client go.
		c.Conn.Close()
	}
	return n, err
}

// hurry gives the Write in progress, if any, the broker's
// SubscriberStall from now to finish. mochi holds the client's lock while
// it writes, and a QoS 1/2 copy for the client needs that lock (its
// packet ID): a subscriber that does not read would hold up each
// publisher routing a message to it until the write timeout.
//
// A Write about to start (mochi holds the lock, the Write has not set
// writing yet) would miss the hurry and keep the full write timeout, and
// the copy may wait behind several Writes, so each Write that starts
// within SubscriberStall of the hurry gets SubscriberStall to finish
// (hurryUntil). A subscriber that reads is unaffected: only a Write that
// blocks that long ends the connection.
func (c *clientConn) hurry(now time.Time) {
	until := now.Add(c.l.b.lim.subscriberStall)
	c.hurryUntil.Store(until.UnixNano())
	if c.writing.Load() != 0 {
		c.hurried.Store(true)
		_ = c.Conn.SetWriteDeadline(until)
	}
}
