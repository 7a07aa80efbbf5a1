package mqtt

import (
	"errors"
	"sync"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// DefaultSubscriberStall is how long a write to a subscriber may still
// take once a QoS 1/2 copy for it waits (clientConn.hurry).
const DefaultSubscriberStall = time.Second

// DefaultMaxSubscriberBytes bounds the bytes of the message copies the
// embedded broker holds for its subscribers, all sessions together
// (connected or not): QoS 1/2 copies until acknowledged, and copies
// queued for writing.
const DefaultMaxSubscriberBytes = 64 << 20

const (
	// copyOverhead is counted per copy besides its topic and payload:
	// mochi's packet struct and its map entry.
	copyOverhead = 512
	// staleReservation is how long a QoS 1/2 copy admitted for a client
	// may wait to appear in its in-flight map; a reservation older than
	// that was for a copy mochi did not make (the client went away), and
	// is given back.
	staleReservation = 10 * time.Second
	// budgetFilter is the broker's own shared subscription to every
	// topic: mochi consults OnSelectSubscribers only for a message with
	// a shared subscriber, so this one makes it consult the hook for all.
	// It has no client; the hook removes it from every selection.
	budgetFilter   = "$share/lightningdb-budget/#"
	budgetClientID = "\x00lightningdb-budget"

	// maxEvictions bounds the clients evicted for one copy.
	maxEvictions = 8

	reasonSubscriberStalled = "subscriber not reading"
	reasonSubscriberBytes   = "subscriber bytes"
	reasonSubscriberEvicted = "subscriber evicted"
)

// errSlowSubscriber disconnects the subscriber holding the most copies
// when a connected subscriber's copy does not fit.
var errSlowSubscriber = errors.New("mqtt: subscriber disconnected: it holds the most message copies and the broker's max_subscriber_bytes is reached")

// copyBudget accounts the message copies mochi holds for subscribers and
// refuses a copy that would pass the budget. A copy is charged when it is
// admitted (OnSelectSubscribers) and released when mochi drops its last
// reference: a QoS 0 copy when it is written (or dropped, the queue being
// full); a QoS 1/2 copy when it is out of both the client's in-flight map
// (acknowledged, expired, cleared) and its write queue (written); and
// everything a client holds when mochi drops the client (session ended,
// taken over). Copies queued for a client that left stay charged until
// then: mochi keeps them in the dead client's queue.
type copyBudget struct {
	max     int64
	live    func(cl *mochi.Client) bool // cl is the broker's client for its ID
	changed func(total int64)           // gauge

	mu      sync.Mutex
	total   int64                         // mu
	clients map[*mochi.Client]*heldCopies // mu
	byID    map[string]*mochi.Client      // mu: whose state an ID's is
}

// heldCopies is what one client holds.
type heldCopies struct {
	bytes   int64               // all of the client's charges
	queued0 int64               // QoS 0 copies admitted and not yet written
	pending []reservation       // QoS 1/2 copies admitted, not yet in flight
	msgs    map[uint16]*heldMsg // QoS 1/2 copies by packet ID
	dirty   bool                // mochi dropped a copy without telling which
}

type reservation struct {
	size int64
	at   time.Time
}

type heldMsg struct {
	size             int64
	inflight, unsent bool
}

func newCopyBudget(max int64, live func(*mochi.Client) bool, changed func(int64)) *copyBudget {
	return &copyBudget{max: max, live: live, changed: changed,
		clients: map[*mochi.Client]*heldCopies{}, byID: map[string]*mochi.Client{}}
}

// copySize is what one copy of pk is charged.
func copySize(pk *packets.Packet) int64 {
	return int64(len(pk.Payload) + len(pk.TopicName) + copyOverhead)
}

// state returns cl's state, creating it for the broker's current client
// of that ID (dropping the state of an earlier client with the ID, which
// mochi replaced); nil for a client mochi no longer holds or is about to
// drop (gone, and its session ends with the connection: a copy for it is
// garbage once routed, and OnDisconnect may have dropped its state
// already). mu held.
func (b *copyBudget) state(cl *mochi.Client) *heldCopies {
	if h := b.clients[cl]; h != nil {
		return h
	}
	if !b.live(cl) || cl.Closed() && sessionEndsWithConnection(cl) {
		return nil
	}
	if old := b.byID[cl.ID]; old != nil {
		b.dropLocked(old)
	}
	h := &heldCopies{msgs: map[uint16]*heldMsg{}}
	b.clients[cl] = h
	b.byID[cl.ID] = cl
	return h
}

func (b *copyBudget) add(h *heldCopies, n int64) {
	h.bytes += n
	b.total += n
	b.changed(b.total)
}

// admit charges a copy of size bytes at QoS qos for cl, or reports that
// it does not fit; then victim, if not nil, is the client holding the most,
// more than cl would with this copy.
func (b *copyBudget) admit(cl *mochi.Client, size int64, qos byte, now time.Time) (ok bool, victim *mochi.Client) {
	b.mu.Lock()
	defer b.mu.Unlock()
	h := b.state(cl)
	if h == nil {
		return true, nil // mochi makes no copy for a client it dropped
	}
	b.expire(h, now)
	if h.dirty {
		b.reconcile(cl, h)
	}
	if b.total+size > b.max {
		return false, b.victim(cl, h.bytes+size)
	}
	b.add(h, size)
	if qos == 0 {
		h.queued0 += size
	} else {
		h.pending = append(h.pending, reservation{size: size, at: now})
	}
	return true, nil
}

// victim returns the client to evict for a copy for the connected cl
// that does not fit: the session of a client that left whose in-flight
// copies free the most (a connected subscriber comes first), else the
// connected client other than cl holding the most, if more than floor
// (cl's bytes with the copy); nil if none. mu held.
func (b *copyBudget) victim(cl *mochi.Client, floor int64) *mochi.Client {
	var gone, conn *mochi.Client
	var goneMost int64
	for c, h := range b.clients {
		switch {
		case c == cl:
		case c.Closed():
			if n := h.evictable(); n > goneMost {
				gone, goneMost = c, n
			}
		case h.bytes > floor:
			conn, floor = c, h.bytes
		}
	}
	if gone != nil {
		return gone
	}
	return conn
}

// evictable is what clearing the client's in-flight map releases: the
// copies that are not also in its write queue.
func (h *heldCopies) evictable() int64 {
	var n int64
	for _, m := range h.msgs {
		if !m.unsent {
			n += m.size
		}
	}
	return n
}

// expire gives back the reservations older than staleReservation. mu held.
func (b *copyBudget) expire(h *heldCopies, now time.Time) {
	n := 0
	for n < len(h.pending) && now.Sub(h.pending[n].at) > staleReservation {
		b.add(h, -h.pending[n].size)
		n++
	}
	h.pending = h.pending[n:]
}

// reconcile releases the QoS 1/2 copies mochi removed from cl's in-flight
// map without a hook (a copy dropped because cl's write queue was full).
// mu held.
func (b *copyBudget) reconcile(cl *mochi.Client, h *heldCopies) {
	h.dirty = false
	for id, m := range h.msgs {
		if _, ok := cl.State.Inflight.Get(id); m.inflight && !ok {
			delete(h.msgs, id)
			b.add(h, -m.size)
		}
	}
}

// inflight records a QoS 1/2 copy mochi put in cl's in-flight map (a new
// one, or one it resends after a take-over), in place of the oldest
// reservation.
func (b *copyBudget) inflight(cl *mochi.Client, pk *packets.Packet, now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	h := b.state(cl)
	if h == nil || h.msgs[pk.PacketID] != nil {
		return
	}
	b.expire(h, now)
	if len(h.pending) > 0 {
		b.add(h, -h.pending[0].size)
		h.pending = h.pending[1:]
	}
	size := copySize(pk)
	h.msgs[pk.PacketID] = &heldMsg{size: size, inflight: true, unsent: !cl.Closed()}
	b.add(h, size)
}

// adopt charges the in-flight copies a client inherited from the session
// it took over (mochi clones them before the CONNACK). The state of an
// earlier client with the ID is dropped: mochi replaced that client.
func (b *copyBudget) adopt(cl *mochi.Client) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if old := b.byID[cl.ID]; old != nil && old != cl {
		b.dropLocked(old)
	}
	if cl.State.Inflight.Len() == 0 {
		return
	}
	h := b.state(cl)
	if h == nil {
		return
	}
	for _, pk := range cl.State.Inflight.GetAll(false) {
		if pk.FixedHeader.Type == packets.Publish && h.msgs[pk.PacketID] == nil {
			size := copySize(&pk)
			h.msgs[pk.PacketID] = &heldMsg{size: size, inflight: true}
			b.add(h, size)
		}
	}
}

// admitAll charges the copies of sizes (at QoS qos each) for cl, all or
// none; it reports whether they fit.
func (b *copyBudget) admitAll(cl *mochi.Client, sizes []int64, qos []byte, now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	h := b.state(cl)
	if h == nil {
		return true
	}
	b.expire(h, now)
	var sum int64
	for _, n := range sizes {
		sum += n
	}
	if b.total+sum > b.max {
		return false
	}
	for i, n := range sizes {
		b.add(h, n)
		if qos[i] == 0 {
			h.queued0 += n
		} else {
			h.pending = append(h.pending, reservation{size: n, at: now})
		}
	}
	return true
}

// written releases a PUBLISH written to cl: a QoS 0 copy at once, a QoS
// 1/2 copy once it is out of the in-flight map too.
func (b *copyBudget) written(cl *mochi.Client, pk *packets.Packet) {
	b.mu.Lock()
	defer b.mu.Unlock()
	h := b.clients[cl]
	if h == nil {
		return
	}
	if pk.FixedHeader.Qos == 0 {
		b.releaseQoS0(h, pk)
		return
	}
	if m := h.msgs[pk.PacketID]; m != nil {
		m.unsent = false
		if !m.inflight {
			delete(h.msgs, pk.PacketID)
			b.add(h, -m.size)
		}
	}
}

// releaseQoS0 releases a QoS 0 copy of pk that h's write queue held
// (written or dropped). b.mu is held.
func (b *copyBudget) releaseQoS0(h *heldCopies, pk *packets.Packet) {
	n := min(copySize(pk), h.queued0)
	h.queued0 -= n
	b.add(h, -n)
}

// done releases a QoS 1/2 copy that left cl's in-flight map (acknowledged
// or dropped), once it is written or will not be.
func (b *copyBudget) done(cl *mochi.Client, id uint16) {
	b.mu.Lock()
	defer b.mu.Unlock()
	h := b.clients[cl]
	if h == nil {
		return
	}
	if m := h.msgs[id]; m != nil {
		m.inflight = false
		if !m.unsent {
			delete(h.msgs, id)
			b.add(h, -m.size)
		}
	}
}

// dropped notes a copy mochi dropped because cl's write queue was full. A
// QoS 0 copy is released; a QoS 1/2 copy mochi removes from the in-flight
// map right after the hook, so cl is reconciled before its next copy.
func (b *copyBudget) dropped(cl *mochi.Client, pk *packets.Packet) {
	b.mu.Lock()
	defer b.mu.Unlock()
	h := b.clients[cl]
	if h == nil {
		return
	}
	if pk.FixedHeader.Qos == 0 {
		b.releaseQoS0(h, pk)
		return
	}
	h.dirty = true
}

// drop releases everything cl held: mochi dropped the client.
func (b *copyBudget) drop(cl *mochi.Client) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.dropLocked(cl)
}

func (b *copyBudget) dropLocked(cl *mochi.Client) {
	h := b.clients[cl]
	if h == nil {
		return
	}
	b.add(h, -h.bytes)
	delete(b.clients, cl)
	if b.byID[cl.ID] == cl {
		delete(b.byID, cl.ID)
	}
}

// usage returns the bytes charged now.
func (b *copyBudget) usage() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.total
}

// selectSubscribers is OnSelectSubscribers: it removes the broker's own
// budget subscription, selects one subscriber of each shared
// subscription group as mochi would, and admits a copy of pk for each
// subscriber under the budget. A copy that does not fit is not made
// (counted); when it was for a connected client, the client holding the
// most is evicted first: a session that left loses its in-flight copies,
// a connected client is disconnected.
func (b *Broker) selectSubscribers(subs *mochi.Subscribers, pk packets.Packet) *mochi.Subscribers {
	delete(subs.Shared, budgetFilter)
	if len(subs.Shared) > 0 && len(subs.SharedSelected) == 0 {
		subs.SelectShared()
	}
	subs.MergeSharedSelected()
	subs.Shared = map[string]map[string]packets.Subscription{}
	subs.SharedSelected = map[string]packets.Subscription{}
	size := copySize(&pk)
	now := time.Now()
	for id, sub := range subs.Subscriptions {
		cl, ok := b.srv.Clients.Get(id)
		if !ok || sub.NoLocal && pk.Origin == id {
			continue // mochi makes no copy
		}
		qos := min(pk.FixedHeader.Qos, sub.Qos)
		closed := cl.Closed()
		if closed && sessionEndsWithConnection(cl) {
			delete(subs.Subscriptions, id) // mochi is dropping it
			continue
		}
		if qos > 0 && cl.State.Inflight.Len() >= b.lim.maxInflight || qos == 0 && closed {
			continue // mochi drops it without a copy
		}
		if rc, ok := cl.Net.Conn.(*clientConn); ok && qos > 0 {
			rc.hurry(now) // mochi takes cl's lock for the copy
		}
		if !b.admitCopy(cl, size, qos, now, !closed) {
			delete(subs.Subscriptions, id)
		}
	}
	return subs
}

// admitCopy charges a copy for cl; when it does not fit and cl is
// connected, it evicts up to maxEvictions clients first (copyBudget.victim).
func (b *Broker) admitCopy(cl *mochi.Client, size int64, qos byte, now time.Time, connected bool) bool {
	ok, victim := b.copies.admit(cl, size, qos, now)
	for range maxEvictions {
		if ok || !connected || victim == nil {
			break
		}
		b.evict(victim)
		ok, victim = b.copies.admit(cl, size, qos, now)
	}
	if !ok {
		b.in.limitHit(reasonSubscriberBytes)
		b.log.Warn("mqtt: message not forwarded to a subscriber: max_subscriber_bytes reached (the message was stored)",
			"client", truncate(cl.ID), "payload_bytes", size-copyOverhead, "max_subscriber_bytes", b.lim.maxSubscriberBytes)
	}
	return ok
}

// evict frees what victim holds: a connected client is disconnected
// (errSlowSubscriber); the in-flight copies of its session are dropped,
// as mochi drops them over max_inflight. Copies still queued for a client
// that left stay until mochi drops the client.
func (b *Broker) evict(victim *mochi.Client) {
	b.in.limitHit(reasonSubscriberEvicted)
	if !victim.Closed() {
		b.log.Warn("mqtt: subscriber disconnected: it holds the most message copies and max_subscriber_bytes is reached",
			"client", truncate(victim.ID), "max_subscriber_bytes", b.lim.maxSubscriberBytes)
		victim.Stop(errSlowSubscriber)
	}
	victim.ClearInflights()
}

// subscribeRetained admits the copies of the retained messages a
// SUBSCRIBE will send cl, per filter, all or none: a filter whose
// retained messages do not fit gets none (its Retain Handling becomes 2,
// "do not send"), counted. mochi sends them without OnSelectSubscribers.
func (b *Broker) subscribeRetained(cl *mochi.Client, pk packets.Packet) packets.Packet {
	if cl.Net.Inline || b.srv.Topics.Retained.Len() == 0 {
		return pk
	}
	if _, inUse := cl.State.Inflight.Get(pk.PacketID); inUse {
		return pk // mochi refuses every filter
	}
	now := time.Now()
	for i, f := range pk.Filters {
		if f.RetainHandling == 2 || mochi.IsSharedFilter(f.Filter) || !mochi.IsValidFilter(f.Filter, false) {
			continue // mochi sends none
		}
		if _, existed := cl.State.Subscriptions.Get(f.Filter); existed && f.RetainHandling == 1 {
			continue
		}
		var sizes []int64
		var qos []byte
		for _, m := range b.srv.Topics.Messages(f.Filter) {
			sizes = append(sizes, copySize(&m))
			qos = append(qos, min(m.FixedHeader.Qos, f.Qos))
		}
		if len(sizes) > 0 && !b.copies.admitAll(cl, sizes, qos, now) {
			pk.Filters[i].RetainHandling = 2
			b.in.limitHit(reasonSubscriberBytes)
			b.log.Warn("mqtt: retained messages not sent to a new subscription: max_subscriber_bytes reached",
				"client", truncate(cl.ID), "filter", truncate(f.Filter), "messages", len(sizes),
				"max_subscriber_bytes", b.lim.maxSubscriberBytes)
		}
	}
	return pk
}

// sessionEndsWithConnection reports whether mochi drops cl's session when
// its connection ends (MQTT 3.x clean session, MQTT 5 session expiry 0),
// as mochi decides it. Read once cl is closed: mochi sets the MQTT 5
// expiry from the DISCONNECT before it closes the client.
func sessionEndsWithConnection(cl *mochi.Client) bool {
	p := &cl.Properties
	return p.ProtocolVersion == 5 && p.Props.SessionExpiryInterval == 0 || p.ProtocolVersion < 5 && p.Clean
}
