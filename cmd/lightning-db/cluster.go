package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"slices"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lightningdb/lightningdb/cluster"
	"github.com/lightningdb/lightningdb/ingest"
	"github.com/lightningdb/lightningdb/query/fanout"
	"github.com/lightningdb/lightningdb/query/influxql"
	"github.com/lightningdb/lightningdb/remote"
)

// The cluster publisher replaces the engine as the ingest appender.
var _ ingest.Appender = (*cluster.Publisher)(nil)

// ClusterConfig makes the server a node of a cluster on NATS JetStream
// (docs/cluster.md). Off while NATSURLs is empty.
type ClusterConfig struct {
	// The query node's settings (query_peers, ...: fanout.go).
	ClusterQueryConfig `yaml:",inline"`
	// NATSURLs of the NATS servers: nats://10.0.0.1:4222, ...
	NATSURLs []string `yaml:"nats_urls"`
	// NodeID is unique and stable across restarts (default: host name).
	NodeID string `yaml:"node_id"`
	// Roles: ingest (publish every write to the stream instead of the
	// local engine), storage (consume the partitions assigned to this
	// node into the local engine), query (answer queries for the cluster:
	// the query fan-out's, query/fanout, through Node.QueryPeers).
	// Default: ingest and storage.
	Roles []string `yaml:"roles"`
	// AdvertiseURL is this node's HTTP base URL as other nodes reach it
	// (default: http://<http_addr>, with the host name for 0.0.0.0).
	AdvertiseURL string `yaml:"advertise_url"`
	// Partitions is fixed for the stream's life (default 64).
	Partitions int `yaml:"partitions"`
	// Replicas of the stream, buckets and consumers (default 3).
	Replicas int `yaml:"replicas"`
	// Stream name (default LIGHTNING).
	Stream string `yaml:"stream"`
	// MaxAge: how long the stream keeps messages, i.e. what a storage
	// node that gains a partition can replay. Set it to the retention
	// period (0: for ever, the default, like retention).
	MaxAge time.Duration `yaml:"max_age"`
	// MemberTTL: a node silent this long is gone (default 10s).
	MemberTTL time.Duration `yaml:"member_ttl"`
	// PublishTimeout: a write not acknowledged by JetStream by then
	// gets 503 (default 10s).
	PublishTimeout time.Duration `yaml:"publish_timeout"`
	// PublishLinger gathers the concurrent writes of this long into one
	// message per partition (default 5ms; negative, e.g. -1ms: off, one
	// message per partition per write): much less CPU for small writes,
	// up to this much more latency.
	PublishLinger time.Duration `yaml:"publish_linger"`
	// AckWait: redelivery delay of a message a storage node did not ack
	// (default 10s).
	AckWait time.Duration `yaml:"ack_wait"`

	User      string `yaml:"user"`
	Password  string `yaml:"password"`
	Token     string `yaml:"token"`
	CredsFile string `yaml:"creds_file"`
	TLS       struct {
		CAFile   string `yaml:"ca_file"`
		CertFile string `yaml:"cert_file"`
		KeyFile  string `yaml:"key_file"`
	} `yaml:"tls"`
}

// clusterFlagSet holds the cluster flags of the command line.
type clusterFlagSet struct {
	urls, node, roles, advertise, stream *string
	partitions, replicas                 *int
	linger                               *time.Duration
}

func clusterFlags(fs *flag.FlagSet) *clusterFlagSet {
	return &clusterFlagSet{
		urls:       fs.String("cluster-nats-urls", "", "comma-separated NATS URLs: join a cluster on NATS JetStream (cluster.nats_urls; docs/cluster.md)"),
		node:       fs.String("cluster-node-id", "", "this node's ID in the cluster (cluster.node_id; default: host name)"),
		roles:      fs.String("cluster-roles", "", "comma-separated cluster roles: ingest, storage, query (cluster.roles; default ingest,storage)"),
		advertise:  fs.String("cluster-advertise-url", "", "HTTP base URL other nodes reach this one at (cluster.advertise_url)"),
		stream:     fs.String("cluster-stream", "", "JetStream stream name (cluster.stream; default LIGHTNING)"),
		partitions: fs.Int("cluster-partitions", 0, "partition count, fixed for the stream's life (cluster.partitions; default 64)"),
		replicas:   fs.Int("cluster-replicas", 0, "JetStream replicas (cluster.replicas; default 3)"),
		linger:     fs.Duration("cluster-publish-linger", 0, "gather the concurrent writes of this long into one message per partition (cluster.publish_linger; default 5ms, negative: off)"),
	}
}

// apply copies the flags given explicitly into c.
func (f *clusterFlagSet) apply(fs *flag.FlagSet, c *ClusterConfig) {
	fs.Visit(func(fl *flag.Flag) {
		switch fl.Name {
		case "cluster-nats-urls":
			c.NATSURLs = splitList(*f.urls)
		case "cluster-node-id":
			c.NodeID = *f.node
		case "cluster-roles":
			c.Roles = splitList(*f.roles)
		case "cluster-advertise-url":
			c.AdvertiseURL = *f.advertise
		case "cluster-stream":
			c.Stream = *f.stream
		case "cluster-partitions":
			c.Partitions = *f.partitions
		case "cluster-replicas":
			c.Replicas = *f.replicas
		case "cluster-publish-linger":
			c.PublishLinger = *f.linger
		}
	})
}

// enabled reports whether this node joins a cluster on NATS JetStream.
func (c *ClusterConfig) enabled() bool { return len(c.NATSURLs) > 0 }

func (c *ClusterConfig) validate(httpAddr string) error {
	if len(c.NATSURLs) == 0 {
		return c.ClusterQueryConfig.validate()
	}
	errs := []error{c.ClusterQueryConfig.validate()}
	for _, r := range c.Roles {
		if r != cluster.RoleIngest && r != cluster.RoleStorage && r != cluster.RoleQuery {
			errs = append(errs, fmt.Errorf("cluster.roles: unknown role %q: want ingest, storage or query", r))
		}
	}
	if _, err := c.options(httpAddr); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// options maps the configuration onto cluster.Options.
func (c *ClusterConfig) options(httpAddr string) (cluster.Options, error) {
	o := cluster.DefaultOptions()
	o.URLs = c.NATSURLs
	if c.NodeID != "" {
		o.NodeID = c.NodeID
	}
	roles := c.Roles
	if len(roles) == 0 {
		roles = []string{cluster.RoleIngest, cluster.RoleStorage}
	}
	o.Ingest, o.Storage = slices.Contains(roles, cluster.RoleIngest), slices.Contains(roles, cluster.RoleStorage)
	o.Query = slices.Contains(roles, cluster.RoleQuery)
	o.AdvertiseURL = c.AdvertiseURL
	if o.AdvertiseURL == "" {
		o.AdvertiseURL = advertiseURL(httpAddr)
	}
	setIf(&o.Partitions, c.Partitions)
	setIf(&o.Replicas, c.Replicas)
	setIf(&o.Stream, c.Stream)
	setIf(&o.MemberTTL, c.MemberTTL)
	setIf(&o.PublishTimeout, c.PublishTimeout)
	setIf(&o.AckWait, c.AckWait)
	setIf(&o.PublishLinger, c.PublishLinger)
	o.MaxAge = c.MaxAge
	o.User, o.Password, o.Token, o.CredsFile = c.User, c.Password, c.Token, c.CredsFile
	o.CAFile, o.CertFile, o.KeyFile = c.TLS.CAFile, c.TLS.CertFile, c.TLS.KeyFile
	return o, o.Validate()
}

func setIf[T comparable](dst *T, v T) {
	var zero T
	if v != zero {
		*dst = v
	}
}

// advertiseURL is http://addr, with the host name for an unspecified
// host (":8086", "0.0.0.0:8086").
func advertiseURL(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "http://" + addr
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host, _ = os.Hostname()
	}
	return "http://" + net.JoinHostPort(host, port)
}

// startCluster joins the cluster when cluster.nats_urls is set; nil
// otherwise. It serves /api/v1/status/cluster.
func (s *server) startCluster(ctx context.Context, reg prometheus.Registerer) (*cluster.Node, error) {
	if !s.cfg.Cluster.enabled() {
		return nil, nil
	}
	o, err := s.cfg.Cluster.options(s.cfg.HTTPAddr)
	if err != nil {
		return nil, err
	}
	o.Logger, o.Registerer = s.log, reg
	var app cluster.Appender
	if o.Storage {
		app = s.db
	}
	n, err := cluster.Open(ctx, o, app)
	if err != nil {
		return nil, err
	}
	s.rm.Handle("/api/v1/status/cluster", n)
	s.log.Info("cluster joined", "node", o.NodeID, "ingest", o.Ingest, "storage", o.Storage,
		"stream", o.Stream, "partitions", o.Partitions, "replicas", o.Replicas)
	return n, nil
}

// catalogShare hands the fields the InfluxQL catalog learns from line
// protocol to the cluster's catalog bucket; a no-op outside a cluster.
type catalogShare struct {
	c atomic.Pointer[cluster.Shared[cluster.CatalogRow]]
}

func (cs *catalogShare) publish(r influxql.CatalogRow) {
	if c := cs.c.Load(); c != nil {
		c.Publish(cluster.CatalogRow{DB: r.DB, Metric: r.Metric, Measurement: r.Measurement, Field: r.Field.Field})
	}
}

// shareCatalog joins the cluster's catalog bucket: every node learns the
// measurement and field of each metric name from the node that parsed its
// line protocol, so a storage or query node answers InfluxQL as the
// ingest node would (docs/cluster.md).
func (s *server) shareCatalog(cat *influxql.Catalog) error {
	if s.cluster == nil || cat == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := s.cluster.ShareCatalog(ctx, func() []cluster.CatalogRow {
		var rows []cluster.CatalogRow
		for _, r := range cat.All() {
			rows = append(rows, cluster.CatalogRow{DB: r.DB, Metric: r.Metric, Measurement: r.Measurement, Field: r.Field.Field})
		}
		return rows
	}, func(r cluster.CatalogRow) {
		cat.Add(influxql.CatalogRow{DB: r.DB, Metric: r.Metric, Field: influxql.Field{Measurement: r.Measurement, Field: r.Field}})
		if err := cat.Sync(); err != nil {
			s.log.Warn("influx catalog sync failed", "err", err)
		}
	})
	if err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	s.catShare.c.Store(c)
	return nil
}

// shareMetadata joins the cluster's metadata bucket: the remote write
// metadata a node receives reaches every node, so any query node answers
// /api/v1/metadata for the cluster (docs/cluster.md).
func (s *server) shareMetadata(md *remote.Metadata) error {
	if s.cluster == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sh, err := s.cluster.ShareMetadata(ctx, func() []cluster.MetadataRow {
		var rows []cluster.MetadataRow
		for metric, m := range md.Sent() {
			rows = append(rows, cluster.MetadataRow{Metric: metric, Type: m.Type, Help: m.Help, Unit: m.Unit})
		}
		return rows
	}, func(r cluster.MetadataRow) {
		md.Learn(r.Metric, remote.MetricMetadata{Type: r.Type, Help: r.Help, Unit: r.Unit})
	})
	if err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	md.OnChange = func(metric string, m remote.MetricMetadata) {
		sh.Publish(cluster.MetadataRow{Metric: metric, Type: m.Type, Help: m.Help, Unit: m.Unit})
	}
	return nil
}

// appender is what the ingest front ends write to: the cluster publisher
// on a node with the ingest role, the local engine otherwise.
func (s *server) appender() ingest.Appender {
	if s.cluster != nil && s.cluster.Publisher() != nil {
		return s.cluster.Publisher()
	}
	if s.fanoutMode() {
		return queryNodeAppender{} // influxfan.go: a query node stores nothing
	}
	return s.db
}

// stopCluster leaves the cluster (nil-safe).
func (s *server) stopCluster(ctx context.Context) error {
	if s.cluster == nil {
		return nil
	}
	return s.cluster.Close(ctx)
}

// clusterTopology gives the query fan-out the live storage members as
// peers, and the partitions no live, caught-up member holds as missing
// (warnings, or a refusal with partial_response=false).
type clusterTopology struct{ n *cluster.Node }

func (t clusterTopology) Peers() ([]fanout.Peer, []string) {
	ps, missing := t.n.QueryPeers()
	out := make([]fanout.Peer, len(ps))
	for i, p := range ps {
		out[i] = fanout.Peer{Name: p.Name, URL: p.URL}
	}
	return out, missing
}

// clusterQuery reports whether this node answers queries for the cluster
// (cluster.roles holds query).
func (s *server) clusterQuery() bool {
	return s.cluster != nil && s.cluster.HasRole(cluster.RoleQuery)
}

// queryTopology is the fan-out's peers: the cluster's live storage members
// on a node with the query role, cluster.query_peers otherwise.
func (s *server) queryTopology() fanout.Topology {
	if s.clusterQuery() {
		return clusterTopology{s.cluster}
	}
	return fanout.StaticURLs(s.cfg.Cluster.QueryPeers)
}
