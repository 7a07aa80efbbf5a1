package mqtt

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"math"
	"net"
	"net/url"
	"sync"
	"time"

	packets5 "github.com/eclipse/paho.golang/packets"
	paho5 "github.com/eclipse/paho.golang/paho"
	"github.com/mochi-mqtt/server/v2/packets"
)

// sub5 is a Subscriber's MQTT 5 client (SubscriberOptions.ProtocolVersion
// 5, paho.golang): one paho5.Client per connection, as paho.golang's
// clients do not reconnect; the Subscriber's Run loop reconnects.
// Acknowledgements are manual: paho.golang holds each until the ones of
// the messages received before it were given, so they leave in the order
// the messages came ([MQTT-4.6.0-2]).
type sub5 struct {
	mu sync.Mutex
	c  *paho5.Client // the current connection's; mu
}

// checkBrokers5 refuses the URLs the MQTT 5 client cannot dial.
func checkBrokers5(brokers []string) error {
	for _, b := range brokers {
		u, err := url.Parse(b)
		if err != nil {
			return fmt.Errorf("broker %q: %w", b, err)
		}
		switch u.Scheme {
		case "tcp", "mqtt", "ssl", "tls", "mqtts":
		default:
			return fmt.Errorf("broker %q: protocol_version 5 takes tcp://, mqtt://, ssl://, tls:// or mqtts:// (not %s://)", b, u.Scheme)
		}
	}
	return nil
}

// dial5 opens a connection to the first broker that answers.
func (s *Subscriber) dial5(ctx context.Context) (net.Conn, error) {
	var errs []error
	for _, b := range s.opts.Brokers {
		u, _ := url.Parse(b) // checked by NewSubscriber
		host := u.Host
		if u.Port() == "" {
			port := "1883"
			if u.Scheme != "tcp" && u.Scheme != "mqtt" {
				port = "8883"
			}
			host = net.JoinHostPort(u.Hostname(), port)
		}
		d := &net.Dialer{Timeout: 10 * time.Second}
		var conn net.Conn
		var err error
		if u.Scheme == "tcp" || u.Scheme == "mqtt" {
			conn, err = d.DialContext(ctx, "tcp", host)
		} else {
			tc := s.opts.TLS
			if tc == nil {
				tc = &tls.Config{MinVersion: tls.VersionTLS12}
			}
			conn, err = (&tls.Dialer{NetDialer: d, Config: tc}).DialContext(ctx, "tcp", host)
		}
		if err == nil {
			return packets5.NewThreadSafeConn(conn), nil
		}
		errs = append(errs, err)
	}
	return nil, errors.Join(errs...)
}

// connect5 connects with MQTT 5 and subscribes to every rule's filter;
// the connection's end is reported on s.lost.
func (s *Subscriber) connect5() error {
	select { // a stale loss from the previous connection
	case <-s.lost:
	default:
	}
	ctx, cancel := context.WithTimeout(s.ctx, 15*time.Second)
	defer cancel()
	conn, err := s.dial5(ctx)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	c := paho5.NewClient(paho5.ClientConfig{
		ClientID: s.opts.ClientID, Conn: conn, EnableManualAcknowledgment: true,
		SendAcksInterval:  10 * time.Millisecond,
		OnPublishReceived: []func(paho5.PublishReceived) (bool, error){s.onMessage5},
		OnClientError:     func(error) {},
	})
	expiry := uint32(0)
	if !s.opts.CleanSession {
		expiry = math.MaxUint32 // the session never expires, as a 3.1.1 clean session 0
	}
	recv := uint16(min(s.opts.MaxUndelivered, math.MaxUint16))
	cp := &paho5.Connect{ClientID: s.opts.ClientID, KeepAlive: uint16(s.opts.KeepAlive / time.Second),
		CleanStart: s.opts.CleanSession,
		Properties: &paho5.ConnectProperties{SessionExpiryInterval: &expiry, ReceiveMaximum: &recv}}
	if s.opts.Username != "" {
		cp.Username, cp.UsernameFlag = s.opts.Username, true
		cp.Password, cp.PasswordFlag = []byte(s.opts.Password), true
	}
	ca, err := c.Connect(ctx, cp)
	if err != nil {
		conn.Close()
		if ca != nil && ca.Properties != nil && ca.Properties.ReasonString != "" {
			err = fmt.Errorf("%w (%s)", err, ca.Properties.ReasonString)
		}
		return fmt.Errorf("connect: %w", err)
	}
	sub := &paho5.Subscribe{}
	for _, r := range s.src.rules {
		sub.Subscriptions = append(sub.Subscriptions, paho5.SubscribeOptions{Topic: r.Filter, QoS: r.qos})
	}
	sa, err := c.Subscribe(ctx, sub)
	if err == nil {
		for i, code := range sa.Reasons {
			if code >= 0x80 && i < len(sub.Subscriptions) {
				err = fmt.Errorf("subscribe %q: refused by the broker (reason 0x%02x)", sub.Subscriptions[i].Topic, code)
				break
			}
		}
	}
	if err != nil {
		_ = c.Disconnect(&paho5.Disconnect{})
		return fmt.Errorf("subscribe: %w", err)
	}
	s.v5.mu.Lock()
	s.v5.c = c
	s.v5.mu.Unlock()
	go func() {
		<-c.Done()
		select {
		case s.lost <- errors.New("connection closed"):
		default:
		}
	}()
	s.connected(len(sub.Subscriptions))
	return nil
}

// disconnect5 ends the current MQTT 5 connection.
func (s *Subscriber) disconnect5() {
	s.v5.mu.Lock()
	c := s.v5.c
	s.v5.mu.Unlock()
	if c != nil {
		_ = c.Disconnect(&paho5.Disconnect{})
	}
}

// onMessage5 runs in paho.golang's routing goroutine: it waits for a
// slot (back-pressure) and stores the message in a goroutine of its own.
func (s *Subscriber) onMessage5(pr paho5.PublishReceived) (bool, error) {
	select {
	case s.sem <- struct{}{}:
	case <-s.ctx.Done():
		return true, nil
	}
	go func() {
		defer func() { <-s.sem }()
		p := pr.Packet
		start := time.Now()
		o, ok := s.store(p.Topic, p.Payload, start, props5(p.Properties))
		if !ok {
			return // not acknowledged: the broker redelivers on the next session
		}
		if o.parseErr != nil && o.stored == 0 && s.deadLetters(p.Topic) {
			s.deadLetter5(pr.Client, p)
		}
		if err := pr.Client.Ack(p); err != nil {
			s.log.Debug("mqtt subscription: ack", "topic", p.Topic, "err", err)
			return
		}
		if p.QoS > 0 {
			s.in.observeAck(s.src, p.QoS, start)
		}
	}()
	return true, nil
}

// props5 maps paho.golang's properties to the ones decoding uses.
func props5(p *paho5.PublishProperties) *msgProps {
	if p == nil {
		return nil
	}
	m := &msgProps{contentType: p.ContentType, utf8: p.PayloadFormat != nil && *p.PayloadFormat == 1}
	for _, u := range p.User {
		m.user = append(m.user, packets.UserProperty{Key: u.Key, Val: u.Value})
	}
	if m.contentType == "" && !m.utf8 && len(m.user) == 0 {
		return nil
	}
	return m
}

func (s *Subscriber) deadLetter5(c *paho5.Client, p *paho5.Publish) {
	ctx, cancel := context.WithTimeout(s.ctx, 5*time.Second)
	defer cancel()
	if _, err := c.Publish(ctx, &paho5.Publish{QoS: 1, Topic: s.opts.DeadLetterTopic + "/" + p.Topic, Payload: p.Payload}); err != nil {
		s.log.Warn("mqtt subscription: dead-letter publish failed", "topic", p.Topic, "err", err)
		return
	}
	s.in.cnt.deadLetters.Add(1)
	s.in.m.deadLetters.WithLabelValues(s.opts.Name).Inc()
}
