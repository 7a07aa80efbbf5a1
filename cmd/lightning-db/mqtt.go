package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lightningdb/lightningdb/ingest/lineproto"
	"github.com/lightningdb/lightningdb/ingest/mqtt"
)

// MQTTConfig configures MQTT ingestion: the embedded broker and the
// subscriptions to other brokers (docs/mqtt.md).
type MQTTConfig struct {
	// Addr is the embedded broker's listen address; empty disables it.
	Addr string `yaml:"addr"`
	// SubscribeAddr is the listen address of mochi's listener, for
	// subscribers that need QoS 1/2 delivery or persistent sessions
	// (docs/mqtt.md, "The publish front end"); empty: none. Addr is the
	// publish front end's (Linux, no TLS).
	SubscribeAddr string `yaml:"subscribe_addr"`
	// PublishAddr, with TLS (tls_cert), is the listen address of the
	// publish front end beside mochi's TLS listener on Addr; plain TCP.
	PublishAddr string `yaml:"publish_addr"`
	// Username and Password, when Username is set, are required of the
	// embedded broker's clients.
	Username string `yaml:"username"`
	Password string `yaml:"password"`
	// ACLFile is a mosquitto-format ACL file (topic, user and pattern
	// lines with %u and %c) that every publish and subscription of the
	// embedded broker is checked against (docs/security.md). Reloaded on
	// SIGHUP.
	ACLFile string `yaml:"acl_file"`
	// TLSCert and TLSKey (PEM files) make the embedded broker speak TLS.
	TLSCert string `yaml:"tls_cert"`
	TLSKey  string `yaml:"tls_key"`
	// DB is the db label of messages whose rule sets none.
	DB string `yaml:"db"`
	// Linger is how long a batch waits for more messages (default 0).
	Linger time.Duration `yaml:"linger"`
	// Presence stores the embedded broker's client connects and
	// disconnects as mqtt_client_connected{client_id} (docs/mqtt.md,
	// "Device presence"); off by default (a series per client ID).
	Presence bool `yaml:"presence"`
	// Topics map the embedded broker's topics to payload formats, first
	// match wins; empty: every topic is line protocol.
	Topics []mqtt.Rule `yaml:"topics"`
	// Subscriptions connect to other brokers.
	Subscriptions []SubscriptionConfig `yaml:"subscriptions"`

	// The embedded broker's limits (docs/mqtt.md, "Limits"); 0 means the
	// default.
	MaxPacketSize       int   `yaml:"max_packet_size"`       // bytes, default 1 MiB
	MaxRetainedMessages int   `yaml:"max_retained_messages"` // default 10,000
	MaxRetainedBytes    int64 `yaml:"max_retained_bytes"`    // default 16 MiB
	MaxInflight         int   `yaml:"max_inflight"`          // per client, default 100
	MaxQueuedMessages   int   `yaml:"max_queued_messages"`   // per subscriber, default 1,000
	// MaxSessionExpiry bounds how long a disconnected client's session
	// is kept (default 2h).
	MaxSessionExpiry time.Duration `yaml:"max_session_expiry"`
	// MaxMessageExpiry bounds how long retained messages and copies for
	// subscribers are kept (default 24h; negative: no bound).
	MaxMessageExpiry time.Duration `yaml:"max_message_expiry"`
	// MaxClients bounds the connected clients and kept sessions
	// (default 10,000).
	MaxClients int `yaml:"max_clients"`
	// MaxSubscriberBytes bounds the message copies held for subscribers,
	// all sessions together (default 64 MiB).
	MaxSubscriberBytes int64 `yaml:"max_subscriber_bytes"`
	// SubscriberStall is how long a write to a subscriber may still take
	// once a QoS 1/2 message for it waits (default 1s).
	SubscriberStall time.Duration `yaml:"subscriber_stall"`
}

// SubscriptionConfig is one connection to an external broker.
type SubscriptionConfig struct {
	Name            string        `yaml:"name"`
	Brokers         []string      `yaml:"brokers"` // tcp://, ssl://, tls://, ws://, wss:// URLs
	ClientID        string        `yaml:"client_id"`
	Username        string        `yaml:"username"`
	Password        string        `yaml:"password"`
	TLSCA           string        `yaml:"tls_ca"`
	TLSCert         string        `yaml:"tls_cert"`
	TLSKey          string        `yaml:"tls_key"`
	TLSInsecure     bool          `yaml:"tls_insecure_skip_verify"`
	CleanSession    bool          `yaml:"clean_session"`
	KeepAlive       time.Duration `yaml:"keep_alive"`
	MaxReconnect    time.Duration `yaml:"max_reconnect_interval"`
	MaxUndelivered  int           `yaml:"max_undelivered"`
	DeadLetterTopic string        `yaml:"dead_letter_topic"`
	ProtocolVersion int           `yaml:"protocol_version"` // 4 (MQTT 3.1.1, default) or 5
	Topics          []mqtt.Rule   `yaml:"topics"`
}

// mqttService runs the embedded broker and the subscribers over one
// Ingestor.
type mqttService struct {
	in     *mqtt.Ingestor
	broker *mqtt.Broker
	subs   []*mqtt.Subscriber
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// startMQTT starts what the configuration asks for; with no broker and
// no subscription it returns nil (close is nil-safe).
func (s *server) startMQTT(reg prometheus.Registerer) (*mqttService, error) {
	c := s.cfg.MQTT
	if c.Addr == "" && len(c.Subscriptions) == 0 {
		return nil, nil
	}
	log := s.log.With("component", "mqtt")
	in, err := mqtt.New(s.appender(), mqtt.Options{
		DB: c.DB,
		Lines: lineproto.Options{
			Separator:    s.cfg.Influx.Separator,
			DBLabel:      s.cfg.Influx.DBLabel,
			MaxLineBytes: s.cfg.Influx.MaxLineBytes,
			Observer:     s.catalog, // persisted by the next /write's sync or at shutdown (docs/influxql.md)
		},
		Linger:     c.Linger,
		Registerer: reg,
		Logger:     log,
	})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &mqttService{in: in, cancel: cancel}
	m.wg.Add(1)
	go func() { defer m.wg.Done(); in.Run(ctx) }()
	if err := m.start(c, in, s); err != nil {
		return nil, errors.Join(err, m.close())
	}
	return m, nil
}

func (m *mqttService) start(c MQTTConfig, in *mqtt.Ingestor, s *server) error {
	log := s.log.With("component", "mqtt")
	if c.Addr != "" {
		var tc *tls.Config
		if c.TLSCert != "" || c.TLSKey != "" {
			cert, err := tls.LoadX509KeyPair(c.TLSCert, c.TLSKey)
			if err != nil {
				return fmt.Errorf("mqtt tls: %w", err)
			}
			tc = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		}
		ma, err := s.newMQTTAuth(c)
		if err != nil {
			return err
		}
		var az mqtt.Authorizer
		if ma != nil {
			az = ma
			s.mqttAuth.Store(ma)
		}
		// One owner per listener: without TLS the device port (Addr) is
		// the publish front end's and mochi listens on SubscribeAddr;
		// with TLS mochi serves Addr and the front end PublishAddr.
		addr, pub := c.Addr, c.PublishAddr
		if tc == nil && runtime.GOOS == "linux" {
			if c.PublishAddr != "" {
				return fmt.Errorf("mqtt.publish_addr is for a TLS mqtt.addr; without TLS the publish front end serves mqtt.addr (%s) and mochi mqtt.subscribe_addr", c.Addr)
			}
			addr, pub = c.SubscribeAddr, c.Addr
		} else if tc == nil && c.SubscribeAddr != "" {
			return fmt.Errorf("mqtt.subscribe_addr needs the publish front end (Linux); mochi serves mqtt.addr here")
		}
		b, err := mqtt.NewBroker(in, mqtt.BrokerOptions{Addr: addr, Username: c.Username, Password: c.Password,
			Auth: az, TLS: tc, Rules: c.Topics, Logger: log.With("component", "mqtt-broker"),
			MaxPacketSize: c.MaxPacketSize, MaxRetainedMessages: c.MaxRetainedMessages, MaxRetainedBytes: c.MaxRetainedBytes,
			MaxInflight: c.MaxInflight, MaxQueued: c.MaxQueuedMessages, MaxSessionExpiry: c.MaxSessionExpiry,
			MaxClients: c.MaxClients, MaxSubscriberBytes: c.MaxSubscriberBytes,
			SubscriberStall: c.SubscriberStall, Presence: c.Presence,
			MaxMessageExpiry: c.MaxMessageExpiry,
			// QoS 2 messages received and not released (docs/mqtt.md, "QoS 2").
			StateDir:    filepath.Join(s.cfg.DataDir, "mqtt"),
			PublishAddr: pub})
		if err != nil {
			return err
		}
		m.broker = b
		if err := b.Serve(); err != nil {
			return err
		}
		log.Info("mqtt broker listening", "mqtt_addr", c.Addr, "mochi_addr", b.Addr(), "front_end_addr", b.PublishAddr(), "tls", tc != nil, "auth", c.Username != "" || ma != nil,
			"acl_file", c.ACLFile)
		if a := b.PublishAddr(); a != "" {
			log.Info("mqtt publish front end listening", "mqtt_publish_addr", a)
		}
	}
	return m.startSubscribers(c, in)
}

// close stops the broker and the subscribers (unacknowledged messages
// stay with their brokers), then lets the committer finish its appends.
func (m *mqttService) close() error {
	if m == nil {
		return nil
	}
	var errs []error
	if m.broker != nil {
		errs = append(errs, m.broker.Close())
	}
	for _, sub := range m.subs {
		errs = append(errs, sub.Close())
	}
	m.cancel()
	m.wg.Wait()
	return errors.Join(errs...)
}

// startSubscribers connects every configured subscription.
func (m *mqttService) startSubscribers(c MQTTConfig, in *mqtt.Ingestor) error {
	for _, sc := range c.Subscriptions {
		tc, err := subscriptionTLS(sc)
		if err != nil {
			return fmt.Errorf("mqtt subscription %s: %w", sc.Name, err)
		}
		sub, err := mqtt.NewSubscriber(in, mqtt.SubscriberOptions{
			Name: sc.Name, Brokers: sc.Brokers, ClientID: sc.ClientID,
			Username: sc.Username, Password: sc.Password, TLS: tc,
			CleanSession: sc.CleanSession, KeepAlive: sc.KeepAlive, MaxReconnect: sc.MaxReconnect,
			MaxUndelivered: sc.MaxUndelivered, DeadLetterTopic: sc.DeadLetterTopic, Rules: sc.Topics,
			ProtocolVersion: sc.ProtocolVersion,
		})
		if err != nil {
			return err
		}
		m.subs = append(m.subs, sub)
		go sub.Run()
	}
	return nil
}

// subscriptionTLS builds the client TLS configuration of a subscription,
// or nil when it sets none.
func subscriptionTLS(sc SubscriptionConfig) (*tls.Config, error) {
	if sc.TLSCA == "" && sc.TLSCert == "" && !sc.TLSInsecure {
		return nil, nil
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: sc.TLSInsecure}
	if sc.TLSCA != "" {
		pem, err := os.ReadFile(sc.TLSCA)
		if err != nil {
			return nil, fmt.Errorf("tls_ca: %w", err)
		}
		tc.RootCAs = x509.NewCertPool()
		if !tc.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls_ca %s: no certificate found", sc.TLSCA)
		}
	}
	if sc.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(sc.TLSCert, sc.TLSKey)
		if err != nil {
			return nil, fmt.Errorf("tls_cert: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}
