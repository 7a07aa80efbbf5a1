package mqtt

import (
	"context"
	"crypto/subtle"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
)

// BrokerOptions configures the embedded broker.
type BrokerOptions struct {
	// Addr is the TCP listen address of mochi's listener, e.g.
	// 127.0.0.1:1884; empty: none (PublishAddr must be set).
	Addr string
	// Username and Password, when Username is set, are required of every
	// client; otherwise any client may connect.
	Username, Password string
	// Auth, when set, authenticates every client and checks each publish
	// and subscription (Username and Password are then ignored).
	Auth Authorizer
	// TLS, when set, makes the listener speak MQTT over TLS.
	TLS *tls.Config
	// Rules map topics to payload formats; first match wins. None: every
	// topic is line protocol with the Ingestor's default db.
	Rules []Rule
	// Logger gets the broker's own log lines; nil means none.
	Logger *slog.Logger
	// Presence records each client's connects and disconnects as the
	// series mqtt_client_connected{client_id} (1, then 0) and
	// mqtt_client_disconnects_total{client_id,reason}, with the
	// Ingestor's db label (docs/mqtt.md, "Device presence"). Default
	// false: every client ID becomes a series, and clients that make up
	// a new ID per connection would add one each time.
	Presence bool
	// MaxPacketSize is the largest packet a client may send, fixed header
	// included; a larger one closes its connection (MQTT 5: after
	// DISCONNECT 0x95). MQTT 5 clients learn it from the CONNACK. Default
	// DefaultMaxPacketSize (1 MiB).
	MaxPacketSize int
	// MaxRetainedMessages and MaxRetainedBytes bound the retained
	// messages (topics, and their topics' and payloads' bytes). A retained
	// message over either limit is stored and forwarded but not retained.
	// Defaults DefaultMaxRetainedMessages, DefaultMaxRetainedBytes.
	MaxRetainedMessages int
	MaxRetainedBytes    int64
	// MaxInflight is the Receive Maximum of MQTT 5 clients (a client with
	// more unacknowledged QoS 2 messages is disconnected, 0x93) and the
	// number of unacknowledged QoS 1/2 messages the broker keeps for one
	// subscriber. Default DefaultMaxInflight.
	MaxInflight int
	// MaxQueued bounds the messages waiting to be written to one
	// subscriber; more are dropped. Default DefaultMaxQueued.
	MaxQueued int
	// MaxSessionExpiry bounds how long mochi keeps the session of a
	// disconnected client (MQTT 3.1.1 clean session 0; MQTT 5 session
	// expiry, announced in the CONNACK when the client asked for more).
	// Default DefaultMaxSessionExpiry.
	MaxSessionExpiry time.Duration
	// MaxMessageExpiry bounds how long the broker keeps a message for
	// subscribers: a retained message, and a copy queued or in flight to a
	// subscriber; an MQTT 5 publisher's message expiry interval may
	// shorten it. Default 24h (mochi's); negative: no bound (a retained
	// message stays until replaced, as in mosquitto).
	MaxMessageExpiry time.Duration
	// MaxClients bounds the clients the broker holds: connected ones and
	// the sessions mochi keeps for
	// clients that left. A new client over it is refused (CONNACK 0x03
	// server unavailable; MQTT 5: 0x89 server busy); a client resuming
	// or taking over its session is not. Default DefaultMaxClients.
	MaxClients int
	// MaxSubscriberBytes bounds the bytes of the message copies the
	// broker holds for its subscribers, all sessions together: QoS 1/2
	// copies until acknowledged (also for sessions of clients that left)
	// and copies waiting to be written. A copy over it is not forwarded
	// (the message is stored all the same); when it was for a connected
	// subscriber, the client holding the most is evicted first. Default
	// DefaultMaxSubscriberBytes.
	MaxSubscriberBytes int64
	// StateDir, when set, holds the broker's durable state: the QoS 2
	// messages received and not yet released (qos2store.go), so that a
	// client resending one with DUP after a server restart has it stored
	// once. Empty: duplicates are recognised only within a session mochi
	// keeps in memory.
	StateDir string
	// MaxQoS2Records bounds the QoS 2 records in StateDir (the oldest
	// goes first); each client keeps at most MaxInflight. Default
	// DefaultMaxQoS2Records.
	MaxQoS2Records int
	// SubscriberStall is how long a write to a subscriber may still take
	// once a QoS 1/2 copy for it waits (mochi holds the client's lock
	// while writing, and the copy needs it); then the subscriber is
	// disconnected. Default DefaultSubscriberStall.
	SubscriberStall time.Duration

	// PublishAddr, when set, is the TCP listen address of the publish
	// front end (front.go, docs/mqtt.md "The publish front end"): its
	// connections are served by the front end alone, from the CONNECT to
	// the close, on a few epoll loops that store the publishes of many
	// connections with one Append. mochi serves Addr. Linux only.
	PublishAddr string

	// testAddrFront makes Addr return the front end's address (tests
	// that run against both paths, wirePaths).
	testAddrFront bool

	// writeTimeout is how long a write to a client mochi serves may
	// block (its socket full: it does not read) before the connection is
	// closed; default publishWriteTimeout. Tests shorten it.
	writeTimeout time.Duration

	// now is the publish front end's clock for its deadlines (keep
	// alive, a reader that does not read, the will delay interval);
	// default time.Now. Tests inject one they advance.
	now func() time.Time
}

// Broker is the embedded MQTT broker (mochi-mqtt). Devices publish to it;
// a hook stores every PUBLISH before mochi sends its PUBACK (QoS 1) or
// PUBREC (QoS 2), so an acknowledged message is durable. Messages then go
// to the broker's subscribers as usual (a dashboard can subscribe to live
// data).
//
// mochi handles the packets of one connection one at a time, so each
// connection has one message waiting for its commit at a time; throughput
// comes from many connections sharing each group commit (the Ingestor's
// committer).
//
// When a message cannot be stored: a payload that does not parse is
// acknowledged (it would fail again; counted as a parse error) and still
// forwarded, except that an MQTT 5 client gets PUBACK reason 0x99 (payload
// format invalid) when nothing of it was stored, and then the message is
// not forwarded. When storage is overloaded or fails, nothing is stored:
// an MQTT 5 client gets PUBACK reason 0x97 (quota exceeded) and may send
// it again; an MQTT 3.1.1 client gets no PUBACK and is disconnected, so it
// resends the message when it reconnects (QoS 1/2 with a persistent
// session); a QoS 0 message is dropped. Either way it is counted in
// mqtt_messages_failed_total. When storage refused every sample of an
// MQTT 5 message, the PUBACK says 0x97 (a series limit) or 0x83 (a type
// conflict). Each MQTT 5 refusal carries a reason string saying why.
type Broker struct {
	in       *Ingestor
	src      *source
	lim      limits
	ret      *retainedLimit
	copies   *copyBudget
	srv      *mochi.Server
	ln       listeners.Listener
	log      *slog.Logger // rate-limited, payload-free (safeHandler)
	presence *presence    // nil: BrokerOptions.Presence off
	qos2     *qos2Store   // nil: no StateDir
	kept     *keptSessions
	hook     *brokerHook
	// testAddrFront: BrokerOptions.testAddrFront.
	testAddrFront bool
	front         *frontListener  // nil: no PublishAddr
	ctx           context.Context // ends when the broker closes: unblocks waiting hooks
	cancel        context.CancelFunc
}

// NewBroker starts listening on opts.Addr; call Serve to accept clients.
func NewBroker(in *Ingestor, opts BrokerOptions) (*Broker, error) {
	src, err := in.newSource("broker", opts.Rules)
	if err != nil {
		return nil, fmt.Errorf("mqtt broker rules: %w", err)
	}
	lim, err := opts.limits()
	if err != nil {
		return nil, err
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	// mochi logs whole packets (payload included) and a warning per
	// client with a short keep alive: its lines go through safeHandler.
	logger = slog.New(newSafeHandler(logger.Handler(), time.Now))
	caps := mochi.NewDefaultServerCapabilities()
	caps.MaximumPacketSize = uint32(lim.maxPacket)
	caps.ReceiveMaximum = uint16(lim.maxInflight)
	caps.MaximumInflight = uint16(lim.maxInflight)
	caps.MaximumClientWritesPending = int32(lim.maxQueued)
	caps.MaximumSessionExpiryInterval = uint32(lim.maxSessionExpiry / time.Second)
	switch {
	case opts.MaxMessageExpiry < 0:
		caps.MaximumMessageExpiryInterval = 0 // mochi: no bound
	case opts.MaxMessageExpiry > 0:
		caps.MaximumMessageExpiryInterval = max(1, int64(opts.MaxMessageExpiry/time.Second))
	}
	// The inline client lets tests publish as the broker (Server.Publish).
	srv := mochi.New(&mochi.Options{Logger: logger, InlineClient: true, Capabilities: caps})
	ctx, cancel := context.WithCancel(context.Background())
	b := &Broker{in: in, src: src, lim: lim, ret: newRetainedLimit(lim.maxRetained, lim.maxRetainedBytes),
		srv: srv, log: logger, ctx: ctx, cancel: cancel, kept: newKeptSessions(maxKeptIDBytes)}
	if opts.StateDir != "" {
		maxRecs := opts.MaxQoS2Records
		if maxRecs <= 0 {
			maxRecs = DefaultMaxQoS2Records
		}
		if b.qos2, err = openQoS2Store(opts.StateDir, lim.maxInflight, maxRecs); err != nil {
			cancel()
			return nil, err
		}
	}
	if opts.Presence {
		b.presence = newPresence(in, logger)
	}
	b.copies = newCopyBudget(lim.maxSubscriberBytes, func(cl *mochi.Client) bool {
		cur, ok := srv.Clients.Get(cl.ID)
		return ok && cur == cl
	}, func(n int64) { in.m.subscriberBytes.Set(float64(n)) })
	// Makes mochi call OnSelectSubscribers for every message (see
	// budgetFilter); not counted in Info.Subscriptions (hasSubscribers).
	srv.Topics.Subscribe(budgetClientID, packets.Subscription{Filter: budgetFilter})
	h := &brokerHook{b: b, user: []byte(opts.Username), pass: []byte(opts.Password)}
	if opts.Auth != nil {
		h.auth = &clientAuth{a: opts.Auth}
	}
	b.hook = h
	if err := srv.AddHook(h, nil); err != nil {
		cancel()
		b.presence.close()
		b.qos2.close()
		return nil, fmt.Errorf("mqtt broker hook: %w", err)
	}
	if opts.Addr == "" && opts.PublishAddr == "" {
		cancel()
		b.presence.close()
		b.qos2.close()
		return nil, fmt.Errorf("%w: mqtt broker: no listen address (Addr, PublishAddr)", ErrConfig)
	}
	b.ln = newListener(b, "lightningdb", opts.Addr, logger, opts.TLS)
	if opts.Addr == "" {
		// The publish front end alone: mochi routes (inline clients) and
		// accepts no connection.
		b.ln = nil
	} else if err := srv.AddListener(b.ln); err != nil {
		cancel()
		b.presence.close()
		b.qos2.close()
		return nil, fmt.Errorf("mqtt listen on %s: %w", opts.Addr, err)
	}
	if opts.PublishAddr != "" {
		if b.front, err = newFrontListener(b, opts.PublishAddr, opts.now); err != nil {
			cancel()
			_ = srv.Close()
			b.presence.close()
			b.qos2.close()
			return nil, err
		}
	}
	b.testAddrFront = opts.testAddrFront && b.front != nil
	counts := b.clientCounts
	in.m.clients.Store(&counts)
	return b, nil
}

// clientCounts returns the clients connected and the clients held
// (connected or with a kept session), as full counts them.
func (b *Broker) clientCounts() (connected, held int64) {
	connected = atomic.LoadInt64(&b.srv.Info.ClientsConnected)
	held = int64(b.srv.Clients.Len() - 1) // not the inline client
	if b.front != nil {
		n := b.front.n.Load()
		connected, held = connected+n, held+n
	}
	return connected, held
}

// Addr returns the address the broker listens on.
func (b *Broker) Addr() string {
	if b.testAddrFront {
		return b.front.addr()
	}
	if b.ln == nil {
		return ""
	}
	return b.ln.Address()
}

// PublishAddr returns the address of the publish front end, "" when
// there is none.
func (b *Broker) PublishAddr() string {
	if b.front == nil {
		return ""
	}
	return b.front.addr()
}

// Serve starts accepting clients and returns at once.
func (b *Broker) Serve() error {
	if err := b.srv.Serve(); err != nil {
		return fmt.Errorf("mqtt broker: %w", err)
	}
	if b.front != nil {
		b.front.serve()
	}
	return nil
}

// Close disconnects every client and stops the listener. Hooks waiting
// for a commit return (their clients get no acknowledgement).
func (b *Broker) Close() error {
	b.cancel()
	if b.front != nil {
		// After cancel: a loop waiting for its commit returns (its
		// clients get no acknowledgement); before mochi, which routes
		// what the front end forwards.
		b.front.close()
	}
	err := b.srv.Close()
	b.presence.close() // after the clients' disconnects
	if qerr := b.qos2.close(); qerr != nil {
		err = errors.Join(err, qerr)
	}
	if err != nil {
		return fmt.Errorf("close mqtt broker: %w", err)
	}
	return nil
}

// brokerHook stores published messages and checks credentials.
type brokerHook struct {
	mochi.HookBase
	b          *Broker
	user, pass []byte
	auth       *clientAuth // nil: user and pass, or no authentication
}

func (h *brokerHook) ID() string { return "lightningdb-store" }

// Provides is asked for every hook event of every packet, so it is a
// switch rather than a search.
func (h *brokerHook) Provides(b byte) bool {
	switch b {
	case mochi.OnConnect, mochi.OnConnectAuthenticate, mochi.OnACLCheck, mochi.OnPublish,
		mochi.OnPacketEncode, mochi.OnRetainedExpired, mochi.OnDisconnect, mochi.OnWill,
		mochi.OnSelectSubscribers, mochi.OnQosPublish, mochi.OnQosComplete, mochi.OnQosDropped,
		mochi.OnPublishDropped, mochi.OnClientExpired, mochi.OnSubscribe,
		mochi.OnSessionEstablished, mochi.OnWillSent:
		return true
	}
	return false
}

// OnConnect refuses a new client when the broker holds MaxClients (a
// client with a session or a connection takes it over and passes).
func (h *brokerHook) OnConnect(cl *mochi.Client, pk packets.Packet) error {
	// No topic aliases towards subscribers: a copy's size is its topic's
	// and payload's (copyBudget), the same when it is written.
	cl.Properties.Props.TopicAliasMaximum = 0
	if _, ok := h.b.srv.Clients.Get(cl.ID); ok || !h.b.full() {
		return nil
	}
	h.b.in.limitHit(reasonClients)
	code := packets.ErrServerBusy
	if cl.Properties.ProtocolVersion < 5 {
		code = packets.ErrServerUnavailable
	}
	_ = h.b.srv.SendConnack(cl, code, false, nil)
	return fmt.Errorf("mqtt: %d clients, the limit: %w", h.b.lim.maxClients, code)
}

// OnPacketEncode announces the maximum packet size in the CONNACK of an
// MQTT 5 client (mochi enforces it but does not announce it), gives a MQTT
// 3.x client the return code 3.1.1 defines for an identifier rejected,
// acknowledges a resent QoS 2 message with success (and the PUBREL of
// one stored before a restart), charges the
// in-flight copies a client inherits with its session (mochi cloned them
// before the CONNACK) and releases a copy written to a subscriber.
func (h *brokerHook) OnPacketEncode(cl *mochi.Client, pk packets.Packet) packets.Packet {
	switch pk.FixedHeader.Type {
	case packets.Connack:
		if cl.Properties.ProtocolVersion == 5 {
			pk.Properties.MaximumPacketSize = uint32(h.b.lim.maxPacket)
		} else if pk.ReasonCode == packets.ErrUnspecifiedError.Code {
			// mochi refuses a MQTT 3.x CONNECT with an empty client ID and
			// clean session 0 with its v5 code 0x80, which 3.1.1 does not
			// define: 0x02 identifier rejected [MQTT-3.1.3-8].
			pk.ReasonCode = packets.Err3ClientIdentifierNotValid.Code
		}
		if pk.ReasonCode == packets.CodeSuccess.Code {
			h.b.copies.adopt(cl)
		}
	case packets.Publish:
		h.b.copies.written(cl, &pk)
	case packets.Pubcomp:
		if pk.ReasonCode == packets.ErrPacketIdentifierNotFound.Code && h.b.qos2 != nil &&
			h.b.qos2.del(cl.ID, pk.PacketID) {
			// A PUBREL after a restart for a message stored before it
			// (mochi lost its session, the QoS 2 store did not): the
			// exchange completes.
			pk.ReasonCode = packets.CodeSuccess.Code
			pk.Properties.ReasonString = ""
		}
	case packets.Pubrec:
		if pk.ReasonCode == packets.ErrPacketIdentifierInUse.Code {
			// mochi answers a QoS 2 PUBLISH resent before its PUBREL with
			// 0x91 (packet identifier in use), which a MQTT 5 client takes
			// for a failure; the message was stored: success
			// [MQTT-4.3.3-10].
			pk.ReasonCode = packets.CodeSuccess.Code
			pk.Properties.ReasonString = ""
		}
	}
	return pk
}

// OnSelectSubscribers admits the copies of a message under
// MaxSubscriberBytes (Broker.selectSubscribers).
func (h *brokerHook) OnSelectSubscribers(subs *mochi.Subscribers, pk packets.Packet) *mochi.Subscribers {
	return h.b.selectSubscribers(subs, pk)
}

// OnSubscribe admits the retained messages a subscription will get
// under MaxSubscriberBytes (Broker.subscribeRetained).
func (h *brokerHook) OnSubscribe(cl *mochi.Client, pk packets.Packet) packets.Packet {
	return h.b.subscribeRetained(cl, pk)
}

// OnQosPublish charges a QoS 1/2 copy mochi keeps in flight for cl.
func (h *brokerHook) OnQosPublish(cl *mochi.Client, pk packets.Packet, sent int64, resends int) {
	if pk.FixedHeader.Type == packets.Publish {
		h.b.copies.inflight(cl, &pk, time.Now())
	}
}

// OnQosComplete releases a copy cl acknowledged, or forgets the QoS 2
// record of a message cl released (PUBREL: mochi sent the PUBCOMP).
func (h *brokerHook) OnQosComplete(cl *mochi.Client, pk packets.Packet) {
	if pk.FixedHeader.Type == packets.Pubrel {
		if h.b.qos2 != nil {
			h.b.qos2.del(cl.ID, pk.PacketID)
		}
		return
	}
	h.b.copies.done(cl, pk.PacketID)
}

// OnQosDropped releases a copy mochi dropped from cl's in-flight map.
func (h *brokerHook) OnQosDropped(cl *mochi.Client, pk packets.Packet) {
	h.b.copies.done(cl, pk.PacketID)
}

// OnPublishDropped releases a copy mochi dropped, cl's queue being full.
func (h *brokerHook) OnPublishDropped(cl *mochi.Client, pk packets.Packet) {
	h.b.copies.dropped(cl, &pk)
}

// OnClientExpired releases what an expired session held.
func (h *brokerHook) OnClientExpired(cl *mochi.Client) {
	h.b.kept.remove(cl.ID)
	h.b.copies.drop(cl)
}

// OnWill applies the retained-message limits to a will with the retain
// flag (mochi retains it without OnPublish). A delayed will is counted
// when the client goes, even if a reconnect cancels it later.
func (h *brokerHook) OnWill(cl *mochi.Client, will mochi.Will) (mochi.Will, error) {
	if will.Retain {
		will.Retain = h.b.admitRetained(cl.ID, will.TopicName, len(will.Payload))
	}
	return will, nil
}

// OnRetainedExpired forgets an expired retained message.
func (h *brokerHook) OnRetainedExpired(topic string) {
	h.b.ret.forget(topic)
	h.b.retainedUsage()
}

// OnDisconnect counts the clients mochi disconnected for sending more
// QoS 2 messages than the Receive Maximum, releases the copies of a
// session that ends with the connection and lists one that is kept.
func (h *brokerHook) OnDisconnect(cl *mochi.Client, err error, expire bool) {
	if h.auth != nil {
		h.auth.forget(cl)
	}
	if errors.Is(err, packets.ErrReceiveMaximum) {
		h.b.in.limitHit(reasonReceiveMaximum)
	}
	if expire { // mochi drops the session: its copies go with it
		h.b.copies.drop(cl)
	} else if cur, ok := h.b.srv.Clients.Get(cl.ID); ok && cur == cl {
		// The session is kept (not taken over by a new connection):
		// bounded by the bytes of the kept sessions' IDs (sessions.go).
		h.b.dropSessions(h.b.kept.add(cl))
	}
	h.b.presence.disconnect(cl.ID, cl, mochiGone(cl, err))
}

// OnSessionEstablished records that the client connected (Presence). A
// client without an ID of its own (mochi made one up) has no presence:
// its ID would be new every time.
func (h *brokerHook) OnSessionEstablished(cl *mochi.Client, pk packets.Packet) {
	if h.b.front != nil {
		h.b.front.closeID(cl.ID) // one connection per client ID, on either port [MQTT-3.1.4-2]
	}
	h.b.kept.remove(cl.ID) // the client is back: its session is live
	if h.b.qos2 != nil && pk.Connect.Clean {
		h.b.qos2.dropClient(cl.ID) // a new session: nothing of the old is sent again
	}
	if h.b.presence == nil || len(pk.Connect.ClientIdentifier) == 0 {
		return
	}
	h.b.presence.connect(cl.ID, cl)
}

// OnWillSent stores a will message by its topic's rule, as if the client
// had published it (mochi sends wills without OnPublish): a will on a
// status topic (Rule.Presence) marks the device offline.
func (h *brokerHook) OnWillSent(cl *mochi.Client, pk packets.Packet) {
	h.b.in.handle(h.b.ctx, h.b.src, pk.TopicName, pk.Payload, time.Now())
}

func (h *brokerHook) OnConnectAuthenticate(cl *mochi.Client, pk packets.Packet) bool {
	if h.auth != nil {
		return h.auth.authenticate(cl, pk.Connect.Username, pk.Connect.Password)
	}
	if len(h.user) == 0 {
		return true
	}
	u := subtle.ConstantTimeCompare(pk.Connect.Username, h.user)
	p := subtle.ConstantTimeCompare(pk.Connect.Password, h.pass)
	return u&p == 1
}

func (h *brokerHook) OnACLCheck(cl *mochi.Client, topic string, write bool) bool {
	return h.auth == nil || h.auth.allow(cl, topic, write)
}

// OnPublish stores the message; the PUBACK (or PUBREC) follows only after
// the commit that holds it. mochi sends it after OnPublish returns, except
// on the direct path (see ackDirect).
func (h *brokerHook) OnPublish(cl *mochi.Client, pk packets.Packet) (packets.Packet, error) {
	if cl.Net.Inline { // the broker's own (Server.Publish): not stored
		if pk.FixedHeader.Retain {
			pk.FixedHeader.Retain = h.b.admitRetained(cl.ID, pk.TopicName, len(pk.Payload))
		}
		return pk, nil
	}
	start := time.Now()
	qos := pk.FixedHeader.Qos
	v5 := cl.Properties.ProtocolVersion == 5
	var props *msgProps
	if v5 {
		props = publishProps(&pk)
	}
	at := start // the receive time: the timestamp of samples that carry none
	if qos == 2 && h.b.qos2 != nil {
		var err error
		if at, err = h.b.receiveQoS2(cl.ID, &pk, start); err != nil {
			h.b.in.failure(h.b.src, pk.TopicName, err)
			if v5 {
				return h.refuse(cl, pk, storeRefusal(err))
			}
			cl.Stop(fmt.Errorf("mqtt: message not stored: %w", err))
			return pk, packets.ErrRejectPacket
		}
	}
	o := h.b.in.handleProps(h.b.ctx, h.b.src, pk.TopicName, pk.Payload, at, props)
	switch {
	case o.failErr != nil:
		if qos == 0 {
			return pk, packets.ErrRejectPacket
		}
		if v5 { // storeRefusal: 0x97, the client may send it again
			return h.refuse(cl, pk, storeRefusal(o.failErr))
		}
		cl.Stop(fmt.Errorf("mqtt: message not stored: %w", o.failErr))
		return pk, packets.ErrRejectPacket
	case o.parseErr != nil && o.stored == 0 && v5 && qos > 0:
		h.b.in.observeAck(h.b.src, qos, start)
		return h.refuse(cl, pk, parseRefusal(o.parseErr))
	}
	if qos > 0 {
		h.b.in.observeAck(h.b.src, qos, start)
	}
	if pk.FixedHeader.Retain {
		pk.FixedHeader.Retain = h.b.admitRetained(cl.ID, pk.TopicName, len(pk.Payload))
	}
	if qos < 2 && !pk.FixedHeader.Retain && !h.b.hasSubscribers(pk.TopicName) {
		return h.ackDirect(cl, pk), nil
	}
	return pk, nil
}

// refuse answers an MQTT 5 message that was not taken with code (its
// reason string says why). mochi writes the PUBACK for QoS 1; for QoS 2
// mochi would write a PUBACK too, so the PUBREC is written here (a PUBREC
// of 0x80 or more ends the exchange [MQTT-4.3.3]).
func (h *brokerHook) refuse(cl *mochi.Client, pk packets.Packet, code packets.Code) (packets.Packet, error) {
	if pk.FixedHeader.Qos < 2 {
		return pk, code
	}
	if h.b.qos2 != nil {
		h.b.qos2.del(cl.ID, pk.PacketID) // the exchange ends here: no PUBREL comes
	}
	rec := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Pubrec}, PacketID: pk.PacketID,
		ReasonCode: code.Code, Properties: packets.Properties{ReasonString: code.Reason}}
	if err := cl.WritePacket(rec); err != nil {
		cl.Stop(fmt.Errorf("mqtt: write PUBREC: %w", err))
	}
	return pk, packets.ErrRejectPacket
}

// ackDirect acknowledges a QoS 0 or 1 message that goes nowhere else (no
// subscriber, not retained) and returns it marked so that mochi neither
// acknowledges nor routes it (QoS 0, Ignore). mochi's own path for a QoS 1
// message records the PUBACK in the client's inflight map and deletes it
// right after it is written; that map stores each packet (~800 bytes) in
// an allocation of its own, which was 62 % of the bytes the broker
// allocated per message, and the routing to subscribers allocates four
// maps per message. (Returning packets.ErrRejectPacket instead would cost
// as much: mochi logs the rejected packet at debug level, which boxes it
// even when the level is off.) The PUBACK is the one mochi would send
// (reason success, the PUBLISH's properties for MQTT 5), written through
// the client's WritePacket, so it is serialised with the client's other
// writes.
func (h *brokerHook) ackDirect(cl *mochi.Client, pk packets.Packet) packets.Packet {
	if pk.FixedHeader.Qos == 1 {
		ack := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Puback}, PacketID: pk.PacketID,
			ReasonCode: packets.CodeSuccess.Code, Properties: pk.Properties}
		if err := cl.WritePacket(ack); err != nil {
			cl.Stop(fmt.Errorf("mqtt: write PUBACK: %w", err))
		}
	}
	pk.FixedHeader.Qos = 0
	pk.Ignore = true
	return pk
}

// hasSubscribers reports whether a message on topic would go to any
// subscriber of the broker. mochi counts the subscriptions in its topic
// index (Info.Subscriptions), so a broker nobody subscribes to answers
// without a lookup. A subscription added while the message is handled may
// miss it, as it may in mochi's own routing.
func (b *Broker) hasSubscribers(topic string) bool {
	if atomic.LoadInt64(&b.srv.Info.Subscriptions) <= 0 {
		return false
	}
	s := b.srv.Topics.Subscribers(topic)
	delete(s.Shared, budgetFilter)
	return len(s.Subscriptions) > 0 || len(s.Shared) > 0 || len(s.InlineSubscriptions) > 0
}

// admitRetained reports whether a retained message may be retained (see
// retainedLimit); one that may not is still forwarded to the current
// subscribers, and counted.
func (b *Broker) admitRetained(client, topic string, n int) bool {
	ok, reason := b.ret.admit(topic, n)
	if !ok {
		b.in.limitHit(reason)
		b.log.Warn("mqtt: retained message not retained: limit reached (the message was stored and forwarded)",
			"client", client, "topic", truncate(topic), "payload_bytes", n, "limit", reason,
			"max_retained_messages", b.lim.maxRetained, "max_retained_bytes", b.lim.maxRetainedBytes)
	}
	b.retainedUsage()
	return ok
}

// retainedUsage updates the retained-message gauges.
func (b *Broker) retainedUsage() {
	n, bytes := b.ret.usage()
	b.in.m.retainedMsgs.Set(float64(n))
	b.in.m.retainedBytes.Set(float64(bytes))
}

// full reports whether the broker holds MaxClients clients (connected,
// and sessions kept).
func (b *Broker) full() bool {
	_, n := b.clientCounts()
	return n >= int64(b.lim.maxClients)
}

// tooBig counts a packet over the maximum packet size.
func (b *Broker) tooBig(size int) { b.in.limitHit(reasonPacketTooLarge) }

// receiveQoS2 returns the time to store a QoS 2 message at: a DUP=1
// message the QoS 2 store has a record of (client ID, packet ID) was
// stored before (perhaps before a restart) and is stored again at its
// recorded time, which the engine keeps as one sample (one per series and
// timestamp); any other is new, recorded with now and fsynced before its
// samples are appended (qos2store.go).
func (b *Broker) receiveQoS2(client string, pk *packets.Packet, now time.Time) (time.Time, error) {
	if pk.FixedHeader.Dup {
		if ts, ok := b.qos2.lookup(client, pk.PacketID); ok {
			b.in.cnt.qos2Duplicates.Add(1)
			b.in.m.qos2Duplicates.Inc()
			return time.Unix(0, ts), nil
		}
	}
	if err := b.qos2.put(client, pk.PacketID, now.UnixNano()); err != nil {
		return now, err
	}
	return now, nil
}
