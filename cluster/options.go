package cluster

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Options configures a node. The zero value of each field means its
// default.
type Options struct {
	// URLs of the NATS servers (nats://host:4222); at least one.
	URLs []string
	// NodeID names this node in the cluster: unique, stable across
	// restarts (its durable consumers carry it). Default: the host name.
	NodeID string
	// Ingest makes the node publish what it is sent (Publisher);
	// Storage makes it consume the partitions it is assigned; Query
	// marks a node that answers queries for the cluster (query/fanout,
	// through QueryPeers). A node may have any of them.
	Ingest, Storage, Query bool
	// AdvertiseURL is the HTTP base URL other nodes and the query
	// fan-out reach this node at (http://10.0.0.5:8086).
	AdvertiseURL string
	// Partitions is the partition count, fixed for the stream's life
	// (default 64; at most 1000).
	Partitions int
	// Replicas is the JetStream replication of the stream, the KV
	// buckets and the consumers (default 3; 1 for a single NATS server).
	Replicas int
	// Stream is the JetStream stream name (default "LIGHTNING"); its
	// subjects are "<Stream>.p.<NN>" and its buckets "<Stream>_members"
	// and "<Stream>_assign".
	Stream string
	// MaxAge is how long the stream keeps messages: the retention
	// period (0: for ever). A storage node that gains a partition
	// replays what the stream still holds.
	MaxAge time.Duration
	// MemberTTL: a member that has not refreshed its entry for this long
	// is gone and its partitions move (default 10 s; it heartbeats every
	// MemberTTL/4).
	MemberTTL time.Duration
	// PublishTimeout bounds an Append of the publisher, retries included
	// (default 10 s); past it the write fails with series.ErrOverloaded.
	PublishTimeout time.Duration
	// PublishLinger gathers the concurrent writes of this long into one
	// message per partition instead of one message per partition per
	// write: fewer, bigger messages cost JetStream much less CPU for small
	// writes, and each write waits up to this much longer (default 5 ms;
	// negative: off, one message per partition per write).
	PublishLinger time.Duration
	// AckWait is how long JetStream waits for a storage node's ack of a
	// delivered message before it delivers it again (default 10 s).
	AckWait time.Duration
	// StartTimeout bounds the wait for the NATS cluster at Open
	// (default 60 s).
	StartTimeout time.Duration

	// Auth and TLS of the NATS connection, each optional.
	User, Password, Token string
	CredsFile             string // NATS .creds file (JWT + NKey seed)
	CAFile                string // CA bundle for the servers' certificates
	CertFile, KeyFile     string // client certificate (mutual TLS)

	Logger     *slog.Logger          // nil: discard
	Registerer prometheus.Registerer // nil: no metrics
}

// DefaultOptions returns the defaults.
func DefaultOptions() Options {
	host, _ := os.Hostname()
	return Options{
		NodeID:         badNameChars.ReplaceAllString(host, "-"),
		Partitions:     64,
		Replicas:       3,
		Stream:         "LIGHTNING",
		MemberTTL:      10 * time.Second,
		PublishTimeout: 10 * time.Second,
		AckWait:        10 * time.Second,
		StartTimeout:   60 * time.Second,
		PublishLinger:  5 * time.Millisecond,
	}
}

// nameRE is what NATS accepts in stream, bucket and consumer names.
var (
	nameRE       = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)
	badNameChars = regexp.MustCompile(`[^A-Za-z0-9_-]`)
)

// withDefaults fills zero fields with their defaults.
func (o Options) withDefaults() Options {
	d := DefaultOptions()
	if o.NodeID == "" {
		o.NodeID = d.NodeID
	}
	if o.Partitions == 0 {
		o.Partitions = d.Partitions
	}
	if o.Replicas == 0 {
		o.Replicas = d.Replicas
	}
	if o.Stream == "" {
		o.Stream = d.Stream
	}
	if o.MemberTTL == 0 {
		o.MemberTTL = d.MemberTTL
	}
	if o.PublishTimeout == 0 {
		o.PublishTimeout = d.PublishTimeout
	}
	if o.AckWait == 0 {
		o.AckWait = d.AckWait
	}
	if o.StartTimeout == 0 {
		o.StartTimeout = d.StartTimeout
	}
	if o.PublishLinger == 0 {
		o.PublishLinger = d.PublishLinger
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// Validate returns every problem of the options at once.
func (o Options) Validate() error {
	var errs []error
	if len(o.URLs) == 0 {
		errs = append(errs, errors.New("cluster.nats_urls: at least one NATS URL is needed"))
	}
	if !nameRE.MatchString(o.NodeID) {
		errs = append(errs, fmt.Errorf("cluster.node_id %q: want letters, digits, _ and - only", o.NodeID))
	}
	if !nameRE.MatchString(o.Stream) {
		errs = append(errs, fmt.Errorf("cluster.stream %q: want letters, digits, _ and - only", o.Stream))
	}
	if o.Partitions < 1 || o.Partitions > 1000 {
		errs = append(errs, fmt.Errorf("cluster.partitions %d: want 1 to 1000", o.Partitions))
	}
	if o.Replicas < 1 || o.Replicas > 5 {
		errs = append(errs, fmt.Errorf("cluster.replicas %d: want 1 to 5 (JetStream's limit)", o.Replicas))
	}
	if !o.Ingest && !o.Storage && !o.Query {
		errs = append(errs, errors.New("cluster.roles: want one or more of ingest, storage, query"))
	}
	if o.Storage && o.AdvertiseURL == "" {
		errs = append(errs, errors.New("cluster.advertise_url: a storage node needs the URL queries reach it at"))
	}
	if o.PublishLinger > time.Second {
		errs = append(errs, fmt.Errorf("cluster.publish_linger %s: want at most 1s (negative: off)", o.PublishLinger))
	}
	if o.MaxAge < 0 {
		errs = append(errs, fmt.Errorf("cluster max age %s: want 0 (for ever) or more", o.MaxAge))
	}
	if (o.CertFile == "") != (o.KeyFile == "") {
		errs = append(errs, errors.New("cluster.tls: cert_file and key_file go together"))
	}
	return errors.Join(errs...)
}
