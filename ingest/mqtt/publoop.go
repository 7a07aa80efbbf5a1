//go:build linux

package mqtt

import (
	"bytes"
	"crypto/subtle"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unicode/utf8"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
	"golang.org/x/sys/unix"

	"github.com/lightningdb/lightningdb/series"
)

// The publish loop is the embedded broker's path for what devices do most:
// publish at QoS 0 or 1 over plain TCP with MQTT 3.1 or 3.1.1. mochi runs
// two goroutines per connection, reads each packet into a Packet of ~800
// bytes, and wakes the connection's goroutine twice a message (the packet,
// then the commit); at 1,000 publishers that, its per-packet bookkeeping
// and an empty read before every wait were most of the server's CPU.
//
// publishListener is the broker's TCP listener (a mochi listeners.Listener).
// It reads each new connection's CONNECT itself. A client it can serve
// (MQTT 3.1/3.1.1, no will, credentials as configured, a client ID mochi
// has no session for) gets its CONNACK here, and its socket moves to one of
// a few epoll loops (pubLoop); every other connection goes to mochi as it
// came, its CONNECT replayed. A loop round reads every ready connection
// once, decodes the publishes of all of them into one batch, stores the
// batch with one Append (so the WAL group commit covers them all), then
// writes each connection's PUBACKs in order, in one write per connection.
// A message on a topic someone subscribed to, or with the retain flag,
// also goes through mochi (Server.Publish) to its subscribers, after it is
// stored. The first packet the loop does not handle itself (SUBSCRIBE,
// UNSUBSCRIBE, a QoS 2 PUBLISH, ...) hands the connection over to mochi in
// the middle of its session: the loop writes the acknowledgements it owes,
// and mochi gets a net.Conn whose first bytes are the client's CONNECT and
// the bytes not yet handled, and whose first 4 bytes written (mochi's
// CONNACK: the client had ours) are dropped.

const (
	// publishReadBuf is a loop's read buffer: one read per ready
	// connection per round.
	publishReadBuf = 256 << 10
	// publishWriteTimeout is how long a connection without a keep alive
	// may leave its acknowledgements unread (its socket full) before it
	// is closed; with a keep alive, 1.5 times that. A write to a client
	// mochi serves may block that long too (BrokerOptions.writeTimeout).
	publishWriteTimeout = 30 * time.Second
	// handshakeTimeout bounds the wait for a new connection's CONNECT.
	handshakeTimeout = 10 * time.Second
)

// publishListener accepts the broker's TCP connections (see above).
type publishListener struct {
	id, addr   string
	b          *Broker
	user, pass []byte
	log        *slog.Logger

	tls       *tls.Config // TLS: every connection is mochi's
	noLoops   bool        // every connection is mochi's
	ln        net.Listener
	loops     []*pubLoop
	next      atomic.Uint32
	establish listeners.EstablishFn
	wg        sync.WaitGroup // the loops and the handshakes
	mochiWG   sync.WaitGroup // connections handed to mochi, until establish returns

	closing atomic.Bool  // Close began: writes to mochi's clients get short deadlines
	nloop   atomic.Int64 // clients on the loops (clientUp, clientDown)

	mu           sync.Mutex
	closed       bool
	started      bool                  // the loops run (Serve)
	pending      map[net.Conn]struct{} // in their handshake
	handed       map[net.Conn]struct{} // handed to mochi, establish not returned
	ids          map[string]*pubConn   // loop clients by client ID
	mochiIDs     map[string]int        // client IDs of the connections handed to mochi
	handing      map[string]*handTok   // mid-session hand-overs not attached to mochi yet
	persistent   map[string]struct{}   // IDs that connected with clean session 0 (see remember)
	persistBytes int                   // the bytes of persistent's IDs
}

// loopListener is the publish loop's listener; newLoopListener returns
// nil where there is none (not Linux).
type loopListener interface {
	listeners.Listener
	takeover(id string, conn net.Conn) // conn: the mochi client's connection
	clients() int64                    // clients on the loops
}

// newLoopListener returns the broker's listener. With loops false (TLS,
// or BrokerOptions.NoPublishLoop) it hands every connection to mochi as
// accepted, TLS included.
func newLoopListener(b *Broker, id, addr string, user, pass []byte, log *slog.Logger, tlsConf *tls.Config, loops bool) loopListener {
	return &publishListener{id: id, addr: addr, b: b, user: user, pass: pass, log: log, tls: tlsConf, noLoops: !loops,
		pending: map[net.Conn]struct{}{}, handed: map[net.Conn]struct{}{}, ids: map[string]*pubConn{},
		mochiIDs: map[string]int{}, handing: map[string]*handTok{}, persistent: map[string]struct{}{}}
}

// now is the loops' clock for keep alives and stalled writes
// (BrokerOptions.now).
func (l *publishListener) now() time.Time { return l.b.lim.now() }

// Init opens the address and the loops (mochi's Listener).
func (l *publishListener) Init(*slog.Logger) error {
	ln, err := net.Listen("tcp", l.addr)
	if err != nil {
		return err
	}
	if l.tls != nil {
		ln = tls.NewListener(ln, l.tls)
	}
	l.ln = ln
	if l.noLoops {
		return nil
	}
	for range max(2, runtime.GOMAXPROCS(0)) {
		lp, err := newPubLoop(l)
		if err != nil {
			for _, lp := range l.loops {
				lp.closeFDs()
			}
			ln.Close()
			return fmt.Errorf("mqtt publish loop: %w", err)
		}
		l.loops = append(l.loops, lp)
	}
	return nil
}

func (l *publishListener) ID() string       { return l.id }
func (l *publishListener) Protocol() string { return "tcp" }
func (l *publishListener) Address() string {
	if l.ln != nil {
		return l.ln.Addr().String()
	}
	return l.addr
}

// Serve runs the loops and accepts connections until Close.
func (l *publishListener) Serve(establish listeners.EstablishFn) {
	l.establish = establish
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	l.started = true
	for _, lp := range l.loops {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			lp.run()
		}()
	}
	l.mu.Unlock()
	backoff := 5 * time.Millisecond
	for {
		conn, err := l.ln.Accept()
		if err != nil {
			if l.isClosed() {
				return
			}
			// EMFILE and the like: wait and accept again, not stop.
			l.log.Warn("mqtt: accept", "err", err)
			time.Sleep(backoff)
			backoff = min(2*backoff, time.Second)
			continue
		}
		backoff = 5 * time.Millisecond
		if l.tooMany() {
			// MaxClients connections in their handshake (or, without
			// loops, held by mochi): refuse before reading anything.
			l.b.in.limitHit(reasonHandshakes)
			conn.Close()
			continue
		}
		if l.noLoops {
			l.toMochi(conn, nil, "")
			continue
		}
		if !l.track(conn) {
			conn.Close()
			return
		}
		go func() {
			defer l.wg.Done()
			l.handshake(conn)
		}()
	}
}

// track registers a connection in its handshake (and in wg); false once
// the listener is closed.
func (l *publishListener) track(conn net.Conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return false
	}
	l.pending[conn] = struct{}{}
	l.wg.Add(1)
	return true
}

// tooMany reports whether MaxClients connections are in their handshake
// (without loops: handed to mochi, in their handshake or served).
func (l *publishListener) tooMany() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := len(l.pending)
	if l.noLoops {
		n = len(l.handed)
	}
	return n >= l.b.lim.maxClients
}

func (l *publishListener) isClosed() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.closed
}

func (l *publishListener) untrack(conn net.Conn) {
	l.mu.Lock()
	delete(l.pending, conn)
	l.mu.Unlock()
}

// Close stops accepting, closes the loops' connections and waits for the
// loops and handshakes, then closes the connections handed to mochi and
// waits until mochi let go of them, so no client outlives Close.
func (l *publishListener) Close(closeClients listeners.CloseFn) {
	l.closing.Store(true)
	l.mu.Lock()
	l.closed = true
	started := l.started
	for c := range l.pending {
		c.Close()
	}
	l.mu.Unlock()
	if l.ln != nil {
		l.ln.Close()
	}
	for _, lp := range l.loops {
		if started {
			lp.post(loopCmd{stop: true})
		} else {
			lp.closeFDs() // Serve never ran them
		}
	}
	l.wg.Wait()
	// What mochi's closeListenerClients would do, from a snapshot (see
	// below): MQTT 5 clients learn why (0x8B server shutting down). A
	// client that stopped reading must not hold this up: mochi writes
	// under the client's lock, without a deadline when there is no keep
	// alive, so every handed connection gets a short one first.
	l.mu.Lock()
	for c := range l.handed {
		_ = c.SetWriteDeadline(time.Now().Add(time.Second))
	}
	l.mu.Unlock()
	for _, cl := range l.b.srv.Clients.GetAll() {
		if cl.Net.Listener == l.id && !cl.Closed() {
			_ = l.b.srv.DisconnectClient(cl, packets.ErrServerShuttingDown)
		}
	}
	l.mu.Lock()
	for c := range l.handed {
		c.Close()
	}
	l.mu.Unlock()
	// Every mochi client of this listener came through runMochi: once
	// their connections are closed, waiting for them is what closeClients
	// would do. closeClients must not run while they end: mochi's
	// Clients.GetByListener takes its read lock twice (Len inside), and a
	// client's Clients.Delete waiting for the write lock in between
	// deadlocks both (seen in CI).
	l.mochiWG.Wait()
	closeClients(l.id)
}

// connectInfo is what the listener needs of a CONNECT.
type connectInfo struct {
	loop      bool // MQTT 3.1/3.1.1, no will, well formed: the loop may serve it
	id        string
	clean     bool
	keepalive uint16
	hasUser   bool
	hasPass   bool
	user      []byte
	pass      []byte
}

// handshake reads the CONNECT and either serves the client on a loop or
// hands the connection to mochi.
func (l *publishListener) handshake(conn net.Conn) {
	defer l.untrack(conn)
	if err := conn.SetReadDeadline(time.Now().Add(handshakeTimeout)); err != nil {
		conn.Close()
		return
	}
	raw, ci, err := readConnect(conn, l.b.lim.maxPacket)
	if err != nil {
		if errors.Is(err, errPacketTooLarge) {
			l.b.tooBig(0)
			l.log.Debug("mqtt client disconnected", "remote", conn.RemoteAddr(), "err", err)
		}
		conn.Close()
		return
	}
	if err := conn.SetReadDeadline(time.Time{}); err != nil {
		conn.Close()
		return
	}
	if ci.loop && ci.id == "" && !ci.clean {
		// Identifier rejected [MQTT-3.1.3-8]; mochi would answer 0x80,
		// a MQTT 5 reason code a 3.1.1 client does not know.
		_ = conn.SetWriteDeadline(time.Now().Add(handshakeTimeout))
		_, _ = conn.Write([]byte{0x20, 0x02, 0, 0x02})
		conn.Close()
		return
	}
	if !l.servable(ci) {
		l.toMochi(conn, raw, ci.id)
		return
	}
	fd, err := takeFD(conn)
	if err != nil {
		l.log.Warn("mqtt: cannot move the connection to the publish loop", "remote", conn.RemoteAddr(), "err", err)
		return
	}
	lp := l.loops[l.next.Add(1)%uint32(len(l.loops))]
	c := &pubConn{fd: fd, id: ci.id, loop: lp, connect: raw, last: l.now()}
	if ci.keepalive > 0 {
		c.expire = time.Duration(ci.keepalive) * 1500 * time.Millisecond // [MQTT-3.1.2-24]
	}
	// Register the ID, unless mochi took a connection with it meanwhile.
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		unix.Close(fd)
		return
	}
	if c.id != "" && l.mochiIDs[c.id] > 0 {
		l.mochiIDs[c.id]++
		l.mu.Unlock()
		l.fdToMochi(fd, raw, nil, 0, c.id, nil)
		return
	}
	if (c.id == "" || l.ids[c.id] == nil) && l.b.full() {
		l.mu.Unlock()
		l.b.in.limitHit(reasonClients)
		_, _ = unix.Write(fd, []byte{0x20, 0x02, 0, 0x03}) // server unavailable
		unix.Close(fd)
		return
	}
	var old *pubConn
	var present bool
	if c.id != "" {
		old = l.ids[c.id]
		l.ids[c.id] = c
		present = l.remember(c.id, !ci.clean)
	}
	l.clientUp()
	l.mu.Unlock()
	if old != nil {
		old.loop.post(loopCmd{close: old}) // session takeover [MQTT-3.1.4-2]
	}
	// The CONNACK goes out before the loop may write anything: 4 bytes
	// into the empty send buffer of a new socket. A failed write shows up
	// as a failed read on the loop.
	ack := []byte{0x20, 0x02, 0, 0}
	if present {
		ack[2] = 1
	}
	_, _ = unix.Write(fd, ack)
	l.b.presence.connect(c.id, c, false)
	if !lp.post(loopCmd{add: c}) {
		l.b.presence.disconnect(c.id, c, goneShutdown)
		l.clientDown()
		l.forget(c)
		unix.Close(fd)
	}
}

// Bounds of the IDs remembered for session present (remember).
const (
	persistMaxIDs   = 10_000
	persistMaxBytes = 1 << 20
)

// remember records whether id connected with clean session 0 (keep) and
// reports whether it had: CONNACK's session present. The session of a
// loop client holds nothing, so forgetting an ID only turns a later
// session present 1 into 0; the IDs are bounded in number and bytes (a
// client ID may be 64 KiB, and clients that never return would otherwise
// add one each for ever). l.mu is held.
func (l *publishListener) remember(id string, keep bool) (present bool) {
	if _, present = l.persistent[id]; present {
		delete(l.persistent, id)
		l.persistBytes -= len(id)
	}
	if !keep {
		return false
	}
	if len(id) > persistMaxBytes/16 {
		return present // too long to keep: session present 0 next time
	}
	for old := range l.persistent {
		if len(l.persistent) < persistMaxIDs && l.persistBytes+len(id) <= persistMaxBytes {
			break
		}
		delete(l.persistent, old) // an arbitrary one
		l.persistBytes -= len(old)
	}
	l.persistent[id] = struct{}{}
	l.persistBytes += len(id)
	return present
}

// servable reports whether the loop may serve a client that sent ci.
func (l *publishListener) servable(ci connectInfo) bool {
	if !ci.loop {
		return false // mochi answers with the right refusal
	}
	if len(l.user) > 0 {
		if !ci.hasUser || !ci.hasPass {
			return false
		}
		u := subtle.ConstantTimeCompare(ci.user, l.user)
		p := subtle.ConstantTimeCompare(ci.pass, l.pass)
		if u&p != 1 {
			return false
		}
	}
	if ci.id != "" {
		if _, ok := l.b.srv.Clients.Get(ci.id); ok {
			return false // mochi holds a session (or a connection) by that ID
		}
		l.mu.Lock()
		n := l.mochiIDs[ci.id]
		l.mu.Unlock()
		if n > 0 {
			return false // on its way into mochi
		}
	}
	return true
}

// clients returns the number of clients on the loops.
func (l *publishListener) clients() int64 { return l.nloop.Load() }

// clientUp and clientDown count a loop client (in mochi's $SYS connected
// clients too).
func (l *publishListener) clientUp() {
	l.nloop.Add(1)
	atomic.AddInt64(&l.b.srv.Info.ClientsConnected, 1)
}

func (l *publishListener) clientDown() {
	l.nloop.Add(-1)
	atomic.AddInt64(&l.b.srv.Info.ClientsConnected, -1)
}

// forget drops c from the client IDs.
func (l *publishListener) forget(c *pubConn) {
	if c.id == "" {
		return
	}
	l.mu.Lock()
	if l.ids[c.id] == c {
		delete(l.ids, c.id)
	}
	l.mu.Unlock()
}

// takeover closes the loop client with this ID: a client connecting
// through mochi (on conn) takes the session over. A connection a loop
// handed over in the middle of its session connected before: it takes
// nothing over.
func (l *publishListener) takeover(id string, conn net.Conn) {
	if rc, ok := conn.(*replayConn); id == "" || ok && rc.midSession {
		return
	}
	l.mu.Lock()
	c := l.ids[id]
	if c != nil {
		delete(l.ids, id)
	}
	if t := l.handing[id]; t != nil {
		t.superseded = true
	}
	l.mu.Unlock()
	if c != nil {
		c.loop.post(loopCmd{close: c})
	}
}

// toMochi hands conn, a new connection whose CONNECT (pre) the loop will
// not serve, to mochi.
func (l *publishListener) toMochi(conn net.Conn, pre []byte, id string) {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		conn.Close()
		return
	}
	if id != "" {
		l.mochiIDs[id]++
	}
	l.mu.Unlock()
	l.runMochi(conn, pre, nil, 0, id, nil)
}

// handTok marks a mid-session hand-over until it attaches to mochi: a
// newer connection with the client ID that mochi authenticated meanwhile
// supersedes it (the hand-over is dropped, or mochi would let the older
// connection take the session over from the newer).
type handTok struct{ superseded bool }

// fdToMochi is toMochi for a descriptor taken out of Go's poller; id is
// already counted in mochiIDs.
func (l *publishListener) fdToMochi(fd int, pre, out []byte, drop int, id string, tok *handTok) {
	f := os.NewFile(uintptr(fd), "mqtt")
	conn, err := net.FileConn(f) // dups the descriptor into Go's poller
	f.Close()
	if err != nil {
		l.log.Warn("mqtt: cannot hand the connection to the broker", "client", id, "err", err)
		l.dropTok(id, tok)
		l.mochiDone(nil, id)
		return
	}
	l.runMochi(conn, pre, out, drop, id, tok)
}

// runMochi runs mochi's connection handling for conn in a goroutine: out
// is written first (the acknowledgements the loop owed), then mochi reads
// pre and the rest of the connection; the first drop bytes mochi writes
// are discarded. id must be counted in mochiIDs; the count is released
// when mochi lets go of the connection. Close closes the connection and
// waits for the goroutine.
func (l *publishListener) runMochi(conn net.Conn, pre, out []byte, drop int, id string, tok *handTok) {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		conn.Close()
		l.dropTok(id, tok)
		l.mochiDone(nil, id)
		return
	}
	l.handed[conn] = struct{}{}
	l.mochiWG.Add(1)
	l.mu.Unlock()
	go func() {
		defer l.mochiWG.Done()
		defer l.mochiDone(conn, id)
		if len(out) > 0 {
			_ = conn.SetWriteDeadline(time.Now().Add(handshakeTimeout))
			if _, err := conn.Write(out); err != nil {
				conn.Close()
				l.dropTok(id, tok)
				return
			}
			_ = conn.SetWriteDeadline(time.Time{})
		}
		if tok != nil {
			l.mu.Lock()
			superseded := tok.superseded
			if l.handing[id] == tok {
				delete(l.handing, id)
			}
			l.mu.Unlock()
			if superseded {
				conn.Close()
				l.log.Debug("mqtt client disconnected", "client", id, "reason", "session taken over during its hand-over")
				return
			}
		}
		if drop == 0 {
			// mochi sets no deadline before the CONNECT is read (on the
			// TLS and NoPublishLoop paths it reads all of it; a CONNECT over
			// 64 KiB it reads the rest of); it sets its keep-alive one after.
			_ = conn.SetReadDeadline(time.Now().Add(handshakeTimeout))
		}
		rc := &replayConn{Conn: conn, l: l, drop: drop, midSession: drop > 0,
			gate: packetGate{max: l.b.lim.maxPacket, buf: pre, tooBig: l.b.tooBig}}
		if err := l.establish(l.id, rc); err != nil {
			l.log.Debug("mqtt client disconnected", "remote", conn.RemoteAddr(), "err", err)
		}
	}()
}

// dropTok forgets a hand-over's token (when it ends before attaching).
func (l *publishListener) dropTok(id string, tok *handTok) {
	if tok == nil {
		return
	}
	l.mu.Lock()
	if l.handing[id] == tok {
		delete(l.handing, id)
	}
	l.mu.Unlock()
}

// mochiDone releases what runMochi (or its caller) held for conn and id.
func (l *publishListener) mochiDone(conn net.Conn, id string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if conn != nil {
		delete(l.handed, conn)
	}
	if id != "" {
		if l.mochiIDs[id]--; l.mochiIDs[id] <= 0 {
			delete(l.mochiIDs, id)
		}
	}
}

// replayConn is a connection handed to mochi: Read returns the bytes the
// listener read already (the CONNECT, and on a hand-over the packets from
// the first one mochi handles) first, then the rest of the connection,
// each packet only once it arrived whole (packetGate); Write drops the
// first drop bytes.
type replayConn struct {
	net.Conn
	l          *publishListener
	gate       packetGate   // read by mochi's reader only
	drop       int          // written by mochi under its client lock only
	midSession bool         // handed over by a loop: the client had connected before
	writing    atomic.Int64 // when the Write in progress began (unix ns), 0 when none
	hurried    atomic.Bool  // the Write in progress got the stall limit (hurry)
	hurryUntil atomic.Int64 // the end of the last hurry's window (unix ns): a Write starting before it is hurried
}

func (c *replayConn) Read(p []byte) (int, error) { return c.gate.read(c.Conn, p) }

// handedOver reports whether a publish loop handed the connection over in
// the middle of its session (the client had its CONNACK).
func (c *replayConn) handedOver() bool { return c.midSession }

// SetDeadline is mochi's keep-alive deadline (1.5 times the keep alive
// from the last packet, none without one): it applies to reads; each
// Write has a deadline of its own.
func (c *replayConn) SetDeadline(t time.Time) error { return c.Conn.SetReadDeadline(t) }

// Write writes p within the write timeout: a client that does not read
// what it subscribed to (its socket full) is closed then, rather than
// holding up to MaxQueued messages for ever. Once Close began, the
// deadline is Close's second. The first drop bytes are discarded.
func (c *replayConn) Write(p []byte) (int, error) {
	d := c.l.b.lim.writeTimeout
	if c.l.closing.Load() {
		d = time.Second
	}
	_ = c.Conn.SetWriteDeadline(time.Now().Add(d))
	if c.l.closing.Load() { // Close may have set its deadline just before ours
		_ = c.Conn.SetWriteDeadline(time.Now().Add(time.Second))
	}
	k := min(c.drop, len(p))
	c.drop -= k
	if k == len(p) {
		return k, nil
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
	n, err := c.Conn.Write(p[k:])
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
	return k + n, err
}

// hurry gives the Write in progress, if any, the broker's
// SubscriberStall from now to finish. mochi holds the client's lock while it writes, and a QoS 1/2
// copy for the client needs that lock (its packet ID): a subscriber that
// does not read would hold up each publisher routing a message to it
// (and a whole publish loop) until the write timeout.
//
// A Write about to start (mochi holds the lock, the Write has not set
// writing yet) would miss the hurry and keep the full write timeout, and
// the copy may wait behind several Writes, so each Write that starts
// within SubscriberStall of the hurry gets SubscriberStall to finish
// (hurryUntil). A subscriber that reads is unaffected: only a Write that
// blocks that long ends the connection.
func (c *replayConn) hurry(now time.Time) {
	until := now.Add(c.l.b.lim.subscriberStall)
	c.hurryUntil.Store(until.UnixNano())
	if c.writing.Load() != 0 {
		c.hurried.Store(true)
		_ = c.Conn.SetWriteDeadline(until)
	}
}

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

// readConnect reads the first packet of a connection, exactly its bytes
// (nothing after it), and parses it when it is a CONNECT the loop may
// serve. An error is a failed read or a CONNECT over maxPacket bytes
// (errPacketTooLarge); anything else that is not for the loop comes back
// with loop false and the bytes read so far.
func readConnect(r io.Reader, maxPacket int) ([]byte, connectInfo, error) {
	var ci connectInfo
	raw := make([]byte, 1, 64)
	if _, err := io.ReadFull(r, raw); err != nil {
		return nil, ci, err
	}
	if raw[0] != 0x10 {
		return raw, ci, nil
	}
	rem, mul := 0, 1
	for i := 0; ; i++ {
		var b [1]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return nil, ci, err
		}
		raw = append(raw, b[0])
		rem += int(b[0]&0x7f) * mul
		mul <<= 7
		if b[0]&0x80 == 0 {
			break
		}
		if i == 3 {
			return raw, ci, nil
		}
	}
	if size := len(raw) + rem; size > maxPacket {
		return nil, ci, fmt.Errorf("%w: CONNECT of %d bytes, the limit is %d", errPacketTooLarge, size, maxPacket)
	}
	if rem > 64<<10 {
		// A large will or MQTT 5 properties: mochi reads it (the rest
		// comes from the socket after these bytes). The ID, when it is in
		// the first 64 KiB, still routes connections with it to mochi.
		hdr := len(raw)
		raw = slices.Grow(raw, 64<<10)[:hdr+64<<10]
		if _, err := io.ReadFull(r, raw[hdr:]); err != nil {
			return nil, ci, err
		}
		ci = parseConnect(raw[hdr:])
		ci.loop = false
		return raw, ci, nil
	}
	hdr := len(raw)
	raw = slices.Grow(raw, rem)[:hdr+rem]
	if _, err := io.ReadFull(r, raw[hdr:]); err != nil {
		return nil, ci, err
	}
	ci = parseConnect(raw[hdr:])
	return raw, ci, nil
}

// parseConnect parses a CONNECT body. id is set for any MQTT 3.1, 3.1.1
// or 5 CONNECT that has one (a will or properties do not matter), so the
// listener knows which IDs go to mochi; loop is true only for a MQTT 3.1
// or 3.1.1 CONNECT without a will that mochi's own decoder and checks
// accept too (so a hand-over later never meets a refusal the client was
// not told about).
func parseConnect(p []byte) connectInfo {
	var ci connectInfo
	body := p
	str := func() ([]byte, bool) {
		if len(p) < 2 {
			return nil, false
		}
		n := int(p[0])<<8 | int(p[1])
		if len(p) < 2+n {
			return nil, false
		}
		s := p[2 : 2+n]
		p = p[2+n:]
		return s, true
	}
	name, ok := str()
	if !ok || len(p) < 4 {
		return ci
	}
	level, flags := p[0], p[1]
	ci.keepalive = uint16(p[2])<<8 | uint16(p[3])
	p = p[4:]
	v3 := string(name) == "MQTT" && level == 4 || string(name) == "MQIsdp" && level == 3
	if level == 5 && string(name) == "MQTT" { // properties before the client ID
		n, hl, st := packetLen(append([]byte{0}, p[:min(len(p), 4)]...))
		if st != lenOK || len(p) < hl+n {
			return ci
		}
		p = p[hl+n:]
	} else if !v3 {
		return ci
	}
	id, ok := str()
	if !ok || !utf8.Valid(id) {
		return ci
	}
	ci.id = string(id)
	if !v3 || flags&0x01 != 0 || flags&0x04 != 0 || flags&0x38 != 0 {
		return ci // MQTT 5, reserved bit, a will, or will QoS/retain without a will
	}
	ci.clean = flags&0x02 != 0
	if flags&0x80 != 0 {
		if ci.user, ok = str(); !ok {
			return ci
		}
		ci.hasUser = true
	}
	if flags&0x40 != 0 {
		if !ci.hasUser {
			return ci // [MQTT-3.1.2-22]
		}
		if ci.pass, ok = str(); !ok {
			return ci
		}
		ci.hasPass = true
	}
	if len(p) != 0 {
		return ci
	}
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connect, Remaining: len(body)}}
	ci.loop = pk.ConnectDecode(body) == nil && pk.ConnectValidate() == packets.CodeSuccess
	return ci
}

// decodePublish splits the body of a QoS 0 or 1 PUBLISH; bad names what
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

// pubConn is one client on a loop. Only its loop touches it once added.
type pubConn struct {
	fd      int
	id      string
	loop    *pubLoop
	connect []byte        // the CONNECT packet, replayed to mochi on a hand-over
	expire  time.Duration // 1.5 × keep alive; 0: none
	last    time.Time     // last read

	in        []byte    // an incomplete packet
	out       []byte    // responses not written yet
	waitOut   bool      // EPOLLOUT armed: not read until out is written
	waitSince time.Time // when waitOut was set
	touched   bool      // in loop.touched this round
	readRound uint64    // the loop round that last read (or skipped) it
	state     connState
	failed    bool   // a message of the round could not be stored: no PUBACK, close
	replay    []byte // hand-over: the bytes from the first packet mochi handles
	why       string // close reason for the debug log
}

type connState uint8

const (
	connOpen     connState = iota
	connClosing            // close after the round (error, DISCONNECT)
	connHandover           // to mochi after the round
	connGone               // closed or handed over
)

// loopCmd is a request to a loop from another goroutine.
type loopCmd struct {
	add   *pubConn
	close *pubConn
	stop  bool
}

// pubMsg is one packet of the round that needs an answer or accounting.
type pubMsg struct {
	c           *pubConn
	ping        bool
	qos         byte
	retain      bool
	pid         uint16
	first, last int // the message's series in the batch
	topic       string
	payload     []byte // kept only when the message is forwarded
	fwd         bool
	r           *rule
	rm          *ruleMetrics
	parseErr    error
	start       time.Time
}

// pubLoop serves its connections: one epoll instance, one goroutine.
type pubLoop struct {
	l         *publishListener
	maxPacket int // largest packet, fixed header included
	epfd      int
	evfd      int // wakes the loop for commands

	mu      sync.Mutex
	cmds    []loopCmd
	stopped bool

	conns     map[int32]*pubConn
	events    []unix.EpollEvent
	rbuf      []byte
	batch     series.Batch
	msgs      []pubMsg
	touched   []*pubConn
	skipped   []*pubConn // ready but not read: the batch was full
	round     uint64
	lastSweep time.Time
}

func newPubLoop(l *publishListener) (*pubLoop, error) {
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
	return &pubLoop{l: l, maxPacket: l.b.lim.maxPacket, epfd: epfd, evfd: evfd, conns: map[int32]*pubConn{},
		events: make([]unix.EpollEvent, 512), rbuf: make([]byte, publishReadBuf)}, nil
}

func (lp *pubLoop) closeFDs() {
	unix.Close(lp.epfd)
	unix.Close(lp.evfd)
}

// post queues a command and wakes the loop; false when the loop has
// stopped.
func (lp *pubLoop) post(c loopCmd) bool {
	lp.mu.Lock()
	if lp.stopped {
		lp.mu.Unlock()
		return false
	}
	lp.cmds = append(lp.cmds, c)
	one := [8]byte{1}
	// Under the lock: shutdown closes evfd only after it set stopped.
	_, _ = unix.Write(lp.evfd, one[:]) // fails only when the counter is full: woken anyway
	lp.mu.Unlock()
	return true
}

// run is the loop: wait for readiness, read every ready connection once,
// store what was read with one Append, answer, repeat.
func (lp *pubLoop) run() {
	defer lp.shutdown()
	maxSamples := lp.l.b.in.opts.MaxBatchSamples
	for {
		n, err := unix.EpollWait(lp.epfd, lp.events, 1000)
		if err != nil && !errors.Is(err, unix.EINTR) {
			lp.l.log.Error("mqtt publish loop stopped", "err", err)
			return
		}
		lp.round++
		woke := false
		for i := 0; i < n; i++ {
			if int(lp.events[i].Fd) == lp.evfd {
				woke = true
			}
		}
		// Connections a full batch left unread last round go first: epoll
		// reports the ready ones in the same order every round, so
		// without this the first few could starve the rest.
		skipped := lp.skipped
		lp.skipped = lp.skipped[:0]
		full := false
		for _, c := range skipped {
			if lp.conns[int32(c.fd)] != c || c.state != connOpen || c.waitOut || c.readRound == lp.round {
				continue // gone, or already listed
			}
			c.readRound = lp.round
			if full {
				lp.skipped = append(lp.skipped, c)
				continue
			}
			lp.read(c)
			full = lp.batch.Samples() >= maxSamples
		}
		for i := 0; i < n; i++ {
			ev := &lp.events[i]
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
			if full {
				c.readRound = lp.round
				lp.skipped = append(lp.skipped, c) // still ready (level-triggered): first next round
				continue
			}
			c.readRound = lp.round
			lp.read(c)
			full = lp.batch.Samples() >= maxSamples
		}
		lp.finish()
		if woke && lp.commands() {
			return
		}
		if now := lp.l.now(); now.Sub(lp.lastSweep) >= time.Second {
			lp.sweep(now)
		}
	}
}

// commands runs the queued commands; true means stop.
func (lp *pubLoop) commands() bool {
	var buf [8]byte
	_, _ = unix.Read(lp.evfd, buf[:])
	lp.mu.Lock()
	cmds := lp.cmds
	lp.cmds = nil
	lp.mu.Unlock()
	stop := false
	for _, cmd := range cmds {
		switch {
		case cmd.stop:
			stop = true
		case cmd.add != nil:
			c := cmd.add
			if c.state != connOpen { // taken over before it got here
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
			c.why = "session taken over"
			if lp.conns[int32(c.fd)] == c {
				lp.drop(c)
			} else {
				c.state = connClosing // not added yet: dropped when it is
			}
		}
	}
	return stop
}

// read reads c once and handles the complete packets. An incomplete
// packet that fits the round buffer moves there, so reads stay large; a
// larger one grows in c.in as its bytes arrive (not to the size its header
// announces).
func (lp *pubLoop) read(c *pubConn) {
	buf, base, big := lp.rbuf, 0, false
	if len(c.in) > 0 {
		total := len(c.in) + 1
		if rem, hl, st := packetLen(c.in); st == lenOK {
			total = 1 + hl + rem
		}
		if total <= len(lp.rbuf) && len(c.in) <= 16<<10 {
			// Small: move it to the round buffer (one large read). A
			// larger one is read in place, so a packet arriving in small
			// pieces is not copied back and forth at every read.
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
	if err != nil && (errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR)) {
		return // c.in still holds the incomplete packet
	}
	if err != nil || n == 0 {
		lp.closeLater(c, "connection closed by the client")
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

// parse handles the complete packets in data and returns the incomplete
// rest.
func (lp *pubLoop) parse(c *pubConn, data []byte) []byte {
	for len(data) > 0 && c.state == connOpen {
		rem, hl, st := packetLen(data)
		switch {
		case st == lenShort:
			return data
		case st == lenBad:
			lp.closeLater(c, "malformed remaining length")
			return nil
		}
		total := 1 + hl + rem
		if total > lp.maxPacket {
			lp.l.b.tooBig(total)
			lp.closeLater(c, fmt.Sprintf("packet of %d bytes is over the limit of %d", total, lp.maxPacket))
			return nil
		}
		if len(data) < total {
			return data
		}
		body := data[1+hl : total]
		switch data[0] >> 4 {
		case 3: // PUBLISH
			qos := data[0] >> 1 & 3
			if qos == 2 {
				lp.handover(c, data)
				return nil
			}
			if qos == 3 {
				lp.closeLater(c, "PUBLISH with QoS 3")
				return nil
			}
			if !lp.publish(c, data[0], body) {
				return nil
			}
		case 12, 14: // PINGREQ, DISCONNECT
			if data[0]&0x0f != 0 || rem != 0 {
				lp.closeLater(c, "malformed PINGREQ or DISCONNECT") // [MQTT-2.2.2-2]
				return nil
			}
			if data[0]>>4 == 14 {
				c.state, c.why = connClosing, "DISCONNECT"
				lp.touch(c)
				return nil
			}
			lp.msgs = append(lp.msgs, pubMsg{c: c, ping: true})
			lp.touch(c)
		case 4, 7: // PUBACK, PUBCOMP: the loop sends no PUBLISH; mochi ignores unknown IDs too
			if data[0]&0x0f != 0 || rem != 2 {
				lp.closeLater(c, "malformed PUBACK or PUBCOMP")
				return nil
			}
		default: // SUBSCRIBE, UNSUBSCRIBE, PUBREL, ...: mochi from here on
			lp.handover(c, data)
			return nil
		}
		data = data[total:]
	}
	return nil
}

// publish decodes one PUBLISH (QoS 0 or 1) into the round's batch; false
// means the connection is being closed.
func (lp *pubLoop) publish(c *pubConn, first byte, body []byte) bool {
	qos := first >> 1 & 3
	topic, pid, payload, bad := decodePublish(first, body)
	if bad != "" {
		lp.closeLater(c, bad)
		return false
	}
	b := lp.l.b
	in, src := b.in, b.src
	in.cnt.messages.Add(1)
	m := pubMsg{c: c, qos: qos, retain: first&1 != 0, pid: pid, topic: topic, start: time.Now(), first: lp.batch.Len()}
	if !mochi.IsValidFilter(topic, true) { // $SYS: acknowledged, neither stored nor routed
		m.parseErr = fmt.Errorf("%w %q: $SYS topics are the broker's own", ErrNoRule, topic)
		in.parseError(src, "", topic, m.parseErr)
		m.last = m.first
		lp.msgs = append(lp.msgs, m)
		lp.touch(c)
		return true
	}
	if m.r = matchRule(src.rules, topic); m.r == nil {
		m.parseErr = fmt.Errorf("%w %q", ErrNoRule, topic)
		in.parseError(src, "", topic, m.parseErr)
	} else {
		m.rm = in.ruleMetrics(src, m.r)
		m.rm.messages.Inc()
		if err := m.r.dec.decode(&lp.batch, topic, payload, m.start.UnixNano()); err != nil {
			m.parseErr = err
			in.parseError(src, m.r.Filter, topic, err)
		}
	}
	m.last = lp.batch.Len()
	if m.retain || b.hasSubscribers(topic) {
		m.fwd, m.payload = true, bytes.Clone(payload)
	}
	lp.msgs = append(lp.msgs, m)
	lp.touch(c)
	return true
}

func (lp *pubLoop) touch(c *pubConn) {
	if !c.touched {
		c.touched = true
		lp.touched = append(lp.touched, c)
	}
}

func (lp *pubLoop) closeLater(c *pubConn, why string) {
	c.state, c.why = connClosing, why
	lp.touch(c)
}

// handover marks c for mochi; data is the first packet mochi handles and
// what follows it.
func (lp *pubLoop) handover(c *pubConn, data []byte) {
	c.state = connHandover
	c.replay = append([]byte(nil), data...)
	lp.touch(c)
}

// finish stores the round's batch and answers: PUBACKs after the commit,
// in the order of the packets, then forwards, then closes and hand-overs.
func (lp *pubLoop) finish() {
	if len(lp.touched) == 0 {
		return
	}
	b := lp.l.b
	in, src := b.in, b.src
	var res series.AppendResult
	var err error
	if lp.batch.Len() > 0 {
		res, err = in.c.app.Append(b.ctx, &lp.batch)
		slices.SortFunc(res.Rejected, func(a, b series.Rejection) int { return a.Index - b.Index })
	}
	rej := res.Rejected
	for i := range lp.msgs {
		m := &lp.msgs[i]
		c := m.c
		if m.ping {
			c.out = append(c.out, 0xd0, 0)
			continue
		}
		if m.last > m.first {
			if err != nil {
				in.failure(src, m.topic, err)
				if m.qos > 0 && !c.failed {
					c.failed = true // no PUBACK and a close: the client sends it again
					c.state, c.why = connClosing, "message not stored: "+err.Error()
					lp.touch(c)
				}
				continue
			}
			var r result
			for len(rej) > 0 && rej[0].Index < m.first {
				rej = rej[1:]
			}
			for i := m.first; i < m.last; i++ {
				_, _, ts, _ := lp.batch.Series(i)
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
			in.settle(src, m.r, m.rm, m.topic, r, m.parseErr)
		}
		if m.qos == 1 && !c.failed {
			c.out = append(c.out, 0x40, 2, byte(m.pid>>8), byte(m.pid))
			in.observeAck(src, 1, m.start)
		}
		if m.fwd {
			if err := b.srv.Publish(m.topic, m.payload, m.retain, m.qos); err != nil {
				lp.l.log.Debug("mqtt: forward to subscribers", "topic", m.topic, "err", err)
			}
		}
	}
	for _, c := range lp.touched {
		c.touched = false
		switch c.state {
		case connOpen:
			lp.flush(c)
		case connClosing:
			if len(c.out) > 0 && !c.failed {
				_, _ = unix.Write(c.fd, c.out) // best effort before the close
			}
			lp.drop(c)
		case connHandover:
			lp.toMochi(c)
		}
	}
	clear(lp.msgs)
	lp.msgs = lp.msgs[:0]
	clear(lp.touched)
	lp.touched = lp.touched[:0]
	lp.batch.Reset()
}

// flush writes c.out; what the socket does not take waits for EPOLLOUT,
// and c is not read meanwhile.
func (lp *pubLoop) flush(c *pubConn) {
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
			c.why = "write: " + err.Error()
			lp.drop(c)
			return
		}
		c.out = c.out[:copy(c.out, c.out[n:])]
		progressed = true
	}
	if c.waitOut {
		c.waitOut = false
		_ = unix.EpollCtl(lp.epfd, unix.EPOLL_CTL_MOD, c.fd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(c.fd)})
	}
}

// remove takes c off the loop.
func (lp *pubLoop) remove(c *pubConn) {
	if lp.conns[int32(c.fd)] == c {
		delete(lp.conns, int32(c.fd))
		_ = unix.EpollCtl(lp.epfd, unix.EPOLL_CTL_DEL, c.fd, nil)
		lp.l.clientDown()
	}
	c.state = connGone
	lp.l.forget(c)
}

// drop closes c.
func (lp *pubLoop) drop(c *pubConn) {
	if c.state == connGone {
		return
	}
	wasAdded := lp.conns[int32(c.fd)] == c
	lp.l.b.presence.disconnect(c.id, c, loopGone(c.why))
	lp.remove(c)
	if !wasAdded {
		lp.l.clientDown()
	}
	unix.Close(c.fd)
	lp.l.log.Debug("mqtt client disconnected", "client", c.id, "reason", c.why)
}

// toMochi hands c to mochi (see the comment at the top), unless a newer
// connection with its client ID took its session over meanwhile: then c
// is closed, as the takeover asked. The ID moves from ids to mochiIDs in
// one step, so a connection with the same ID arriving meanwhile goes to
// mochi too, which orders the two.
func (lp *pubLoop) toMochi(c *pubConn) {
	l := lp.l
	l.mu.Lock()
	if c.id != "" && l.ids[c.id] != c {
		l.mu.Unlock()
		c.why = "session taken over"
		lp.drop(c)
		return
	}
	var tok *handTok
	if c.id != "" {
		delete(l.ids, c.id)
		l.mochiIDs[c.id]++
		tok = &handTok{}
		l.handing[c.id] = tok
	}
	l.mu.Unlock()
	lp.remove(c)
	pre := append(c.connect, c.replay...)
	l.fdToMochi(c.fd, pre, c.out, 4, c.id, tok) // 4: mochi's CONNACK for MQTT 3.x
}

// sweep closes the clients silent for 1.5 times their keep alive.
func (lp *pubLoop) sweep(now time.Time) {
	lp.lastSweep = now
	for _, c := range lp.conns {
		if c.waitOut {
			limit := c.expire
			if limit == 0 {
				limit = publishWriteTimeout
			}
			if now.Sub(c.waitSince) > limit {
				c.why = "client does not read its acknowledgements"
				lp.drop(c)
			}
			continue
		}
		if c.expire > 0 && now.Sub(c.last) > c.expire {
			if n, err := unix.IoctlGetInt(c.fd, unix.SIOCINQ); err == nil && n > 0 {
				c.last = now // the client sent something the loop has not read yet (a slow Append)
				continue
			}
			c.why = "keep alive expired"
			lp.drop(c)
		}
	}
}

// shutdown closes every connection and the loop's descriptors.
func (lp *pubLoop) shutdown() {
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
			lp.drop(cmd.add)
		}
	}
	lp.closeFDs()
}
