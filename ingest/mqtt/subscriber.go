package mqtt

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// SubscriberOptions configures a subscription to an external broker.
type SubscriberOptions struct {
	// Name labels the metrics and logs; required, unique per server.
	Name string
	// Brokers are tried in order: tcp://, ssl:// (or tls://, mqtts://),
	// ws:// or wss:// URLs.
	Brokers []string
	// ClientID must be stable so the broker keeps the session (and the
	// unacknowledged messages) across restarts. Default "lightningdb-<Name>".
	ClientID string
	// Username and Password authenticate to the broker when set.
	Username, Password string
	// TLS configures ssl:// and wss:// connections.
	TLS *tls.Config
	// CleanSession asks for a new session on each connection. Default
	// false: a persistent session, so the broker redelivers what was not
	// acknowledged when Lightning DB was down.
	CleanSession bool
	// KeepAlive is the MQTT keep-alive. Default 30 s.
	KeepAlive time.Duration
	// MinReconnect and MaxReconnect bound the exponential backoff between
	// connection attempts (with jitter). Defaults 100 ms and 30 s.
	MinReconnect, MaxReconnect time.Duration
	// MaxUndelivered is how many messages may wait for their commit at
	// once; more wait in the client. Default 1000.
	MaxUndelivered int
	// DeadLetterTopic, when set, receives every message whose payload
	// could not be parsed at all, published at QoS 1 to
	// <DeadLetterTopic>/<original topic> before the original is
	// acknowledged.
	DeadLetterTopic string
	// Rules are the topic filters subscribed to (with their QoS) and their
	// payload formats. Required.
	Rules []Rule
	// ProtocolVersion is 4 (MQTT 3.1.1, paho.mqtt.golang; the default) or
	// 5 (MQTT 5, paho.golang: content types and user properties as for
	// the embedded broker, tcp:// and ssl:// brokers only).
	ProtocolVersion int
}

// Subscriber consumes topics of an external broker with paho (MQTT
// 3.1.1). Auto-ack is off: each QoS 1/2 message is acknowledged only after
// the Append holding its samples returned (the WAL group commit), or at
// once when its payload cannot be parsed (counted; see DeadLetterTopic).
// When storage fails or is overloaded, the message is retried with backoff
// and stays unacknowledged meanwhile; at shutdown the broker keeps it for
// the next connection. A Subscriber runs in its own goroutines and never
// blocks other ingestors: a slow broker only slows its own messages.
type Subscriber struct {
	in     *Ingestor
	src    *source
	opts   SubscriberOptions
	client paho.Client
	v5     *sub5 // ProtocolVersion 5: used instead of client
	log    *slog.Logger
	lost   chan error    // capacity 1: the connection was lost
	sem    chan struct{} // bounds messages waiting for their commit
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
	stores sync.WaitGroup // the goroutines storing and acknowledging messages
}

// NewSubscriber checks opts and prepares the client; Run connects.
func NewSubscriber(in *Ingestor, opts SubscriberOptions) (*Subscriber, error) {
	if opts.Name == "" {
		return nil, errors.New("mqtt subscription: name is empty")
	}
	if len(opts.Brokers) == 0 {
		return nil, fmt.Errorf("mqtt subscription %s: no brokers", opts.Name)
	}
	if len(opts.Rules) == 0 {
		return nil, fmt.Errorf("mqtt subscription %s: no topics", opts.Name)
	}
	src, err := in.newSource(opts.Name, opts.Rules)
	if err != nil {
		return nil, fmt.Errorf("mqtt subscription %s: %w", opts.Name, err)
	}
	if opts.ClientID == "" {
		opts.ClientID = "lightningdb-" + opts.Name
	}
	if opts.KeepAlive <= 0 {
		opts.KeepAlive = 30 * time.Second
	}
	if opts.MinReconnect <= 0 {
		opts.MinReconnect = 100 * time.Millisecond
	}
	if opts.MaxReconnect <= 0 {
		opts.MaxReconnect = 30 * time.Second
	}
	if opts.MaxUndelivered <= 0 {
		opts.MaxUndelivered = 1000
	}
	switch opts.ProtocolVersion {
	case 0, 4:
	case 5:
		if err := checkBrokers5(opts.Brokers); err != nil {
			return nil, fmt.Errorf("mqtt subscription %s: %w", opts.Name, err)
		}
	default:
		return nil, fmt.Errorf("mqtt subscription %s: protocol_version %d: want 4 (MQTT 3.1.1) or 5", opts.Name, opts.ProtocolVersion)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Subscriber{in: in, src: src, opts: opts, log: in.log.With("subscription", opts.Name),
		lost: make(chan error, 1), sem: make(chan struct{}, opts.MaxUndelivered),
		ctx: ctx, cancel: cancel, done: make(chan struct{})}
	co := paho.NewClientOptions().SetClientID(opts.ClientID).SetCleanSession(opts.CleanSession).
		SetAutoAckDisabled(true).SetOrderMatters(true).SetAutoReconnect(false).
		SetKeepAlive(opts.KeepAlive).SetPingTimeout(10 * time.Second).SetConnectTimeout(10 * time.Second).
		SetDefaultPublishHandler(s.onMessage).
		SetConnectionLostHandler(func(_ paho.Client, err error) {
			select {
			case s.lost <- err:
			default:
			}
		})
	for _, b := range opts.Brokers {
		co.AddBroker(b)
	}
	if opts.Username != "" {
		co.SetUsername(opts.Username).SetPassword(opts.Password)
	}
	if opts.TLS != nil {
		co.SetTLSConfig(opts.TLS)
	}
	s.client = paho.NewClient(co)
	if opts.ProtocolVersion == 5 {
		s.v5 = &sub5{}
	}
	return s, nil
}

// Run connects, subscribes and reconnects with exponential backoff and
// jitter until Close is called.
func (s *Subscriber) Run() {
	defer close(s.done)
	backoff := s.opts.MinReconnect
	for s.ctx.Err() == nil {
		start := time.Now()
		connect := s.connect
		if s.v5 != nil {
			connect = s.connect5
		}
		if err := connect(); err != nil {
			s.log.Warn("mqtt subscription: cannot connect; retrying", "brokers", s.opts.Brokers, "retry_in", backoff, "err", err)
		} else {
			select {
			case <-s.ctx.Done():
				if s.v5 != nil {
					s.disconnect5()
				} else {
					s.client.Disconnect(250)
				}
				s.in.m.connected.WithLabelValues(s.opts.Name).Set(0)
				return
			case err := <-s.lost:
				s.in.m.connected.WithLabelValues(s.opts.Name).Set(0)
				s.log.Warn("mqtt subscription: connection lost; reconnecting", "err", err)
			}
			if time.Since(start) > s.opts.MaxReconnect {
				backoff = s.opts.MinReconnect
			}
		}
		sleep := backoff/2 + rand.N(backoff/2+1) // jitter in [backoff/2, backoff]
		select {
		case <-s.ctx.Done():
			return
		case <-time.After(sleep):
		}
		backoff = min(2*backoff, s.opts.MaxReconnect)
	}
}

// connect connects and subscribes to every rule's filter.
func (s *Subscriber) connect() error {
	select { // a stale loss from the previous connection
	case <-s.lost:
	default:
	}
	tok := s.client.Connect()
	if !tok.WaitTimeout(15 * time.Second) {
		return errors.New("connect timed out")
	}
	if err := tok.Error(); err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	filters := map[string]byte{}
	for _, r := range s.src.rules {
		filters[r.Filter] = r.qos
	}
	sub := s.client.SubscribeMultiple(filters, nil)
	if !sub.WaitTimeout(15 * time.Second) {
		s.client.Disconnect(0)
		return errors.New("subscribe timed out")
	}
	if err := sub.Error(); err != nil {
		s.client.Disconnect(0)
		return fmt.Errorf("subscribe: %w", err)
	}
	if st, ok := sub.(*paho.SubscribeToken); ok {
		for f, code := range st.Result() {
			if code == 0x80 {
				s.client.Disconnect(0)
				return fmt.Errorf("subscribe %q: refused by the broker", f)
			}
		}
	}
	s.connected(len(filters))
	return nil
}

// connected counts a connection made.
func (s *Subscriber) connected(filters int) {
	s.in.cnt.connects.Add(1)
	s.in.m.connects.WithLabelValues(s.opts.Name).Inc()
	s.in.m.connected.WithLabelValues(s.opts.Name).Set(1)
	s.log.Info("mqtt subscription connected", "client_id", s.opts.ClientID, "filters", filters,
		"protocol_version", max(4, s.opts.ProtocolVersion))
}

// onMessage runs in paho's router, in arrival order (OrderMatters): it
// takes one of MaxUndelivered slots, decodes the message at once (so
// stateful formats such as Sparkplug see their messages in order), and
// leaves the store and the acknowledgement to a goroutine of its own, so
// commits overlap. While MaxUndelivered messages wait for their commit the
// router waits too and paho reads nothing more (not even PINGRESPs, until
// one commits): the broker keeps what it has not sent, so the subscriber's
// memory is bounded at every QoS. paho's unordered mode calls the handler
// in a goroutine per message as it reads, and a broker need not bound what
// it sends: mosquitto 2.0 (max_inflight_messages 1000, max_queued_messages
// 0) had 477,538 QoS 1 messages waiting in as many goroutines, 1.5 GiB.
func (s *Subscriber) onMessage(_ paho.Client, msg paho.Message) {
	select {
	case s.sem <- struct{}{}:
	case <-s.ctx.Done():
		return
	}
	start := time.Now()
	m := s.in.decodeMessage(s.src, msg.Topic(), msg.Payload(), start, nil)
	s.stores.Add(1)
	go func() {
		defer s.stores.Done()
		defer func() { <-s.sem }()
		defer s.in.releaseMessage(&m)
		s.settle(msg, start, func() outcome { return s.in.storeMessage(s.ctx, s.src, msg.Topic(), &m) })
	}()
}

// settle stores a message with store, retrying with backoff while storage
// fails, then dead-letters it if it did not parse and acknowledges it.
func (s *Subscriber) settle(msg paho.Message, start time.Time, store func() outcome) {
	o := store()
	for wait := 50 * time.Millisecond; o.failErr != nil; wait = min(2*wait, 5*time.Second) {
		select {
		case <-s.ctx.Done():
			return // not acknowledged: the broker redelivers on the next session
		case <-time.After(wait):
		}
		o = store()
	}
	if o.parseErr != nil && o.stored == 0 && s.deadLetters(msg.Topic()) {
		s.deadLetter(msg)
	}
	msg.Ack()
	if msg.Qos() > 0 {
		s.in.observeAck(s.src, msg.Qos(), start)
	}
}

// store stores a message, retrying with backoff while storage fails;
// false when the Subscriber closed first.
func (s *Subscriber) store(topic string, payload []byte, start time.Time, p *msgProps) (outcome, bool) {
	o := s.in.handleProps(s.ctx, s.src, topic, payload, start, p)
	for wait := 50 * time.Millisecond; o.failErr != nil; wait = min(2*wait, 5*time.Second) {
		select {
		case <-s.ctx.Done():
			return o, false
		case <-time.After(wait):
		}
		o = s.in.handleProps(s.ctx, s.src, topic, payload, start, p) // same receive time: a retry stores the same samples
	}
	return o, true
}

// deadLetters reports whether an unparseable message on topic goes to
// the dead-letter topic: not when it came from there (a filter that
// matches the dead-letter topic would loop).
func (s *Subscriber) deadLetters(topic string) bool {
	d := s.opts.DeadLetterTopic
	return d != "" && topic != d && !strings.HasPrefix(topic, d+"/")
}

func (s *Subscriber) deadLetter(msg paho.Message) {
	tok := s.client.Publish(s.opts.DeadLetterTopic+"/"+msg.Topic(), 1, false, msg.Payload())
	if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		s.log.Warn("mqtt subscription: dead-letter publish failed", "topic", msg.Topic(), "err", tok.Error())
		return
	}
	s.in.cnt.deadLetters.Add(1)
	s.in.m.deadLetters.WithLabelValues(s.opts.Name).Inc()
}

// Close disconnects and waits for Run to return. Messages waiting for
// their commit are not acknowledged.
func (s *Subscriber) Close() error {
	s.cancel()
	<-s.done
	s.stores.Wait()
	return nil
}
