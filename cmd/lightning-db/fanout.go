package main

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lightningdb/lightningdb/query/fanout"
	"github.com/lightningdb/lightningdb/remote"
)

// ClusterQueryConfig makes this server a query node: it answers the
// Prometheus HTTP API for the union of its peers instead of its own data
// (docs/cluster.md "Queries"). It is the query part of the cluster:
// section; the cluster package's settings join it there.
type ClusterQueryConfig struct {
	// QueryPeers are the base URLs of the storage nodes
	// (http://host:port). Empty: queries read the local data (the
	// default).
	QueryPeers []string `yaml:"query_peers"`
	// QueryPeerTimeout bounds each peer's part of a select or metadata
	// request; a peer past it is left out with a warning. Default 10s.
	QueryPeerTimeout time.Duration `yaml:"query_peer_timeout"`
	// PartialResponse is the default of the partial_response request
	// parameter: true (the default) answers with a warning when a peer
	// fails, false refuses the query (422).
	PartialResponse *bool `yaml:"partial_response"`
	// QueryPushdown sends max by (...) (max_over_time(...)) and its min
	// twin whole to the peers and merges their answers (exact for any
	// placement: docs/cluster.md); false evaluates every query here over
	// the peers' samples. Default true.
	QueryPushdown *bool `yaml:"query_pushdown"`
	// QueryPeerBearerTokenFile holds the token sent to the peers as
	// "Authorization: Bearer ..." (a read token, when they have
	// authentication on). Empty: none.
	QueryPeerBearerTokenFile string `yaml:"query_peer_bearer_token_file"`
}

func (c *ClusterQueryConfig) validate() error {
	var errs []error
	for _, p := range c.QueryPeers {
		u, err := url.Parse(p)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("cluster.query_peers: %q: want a base URL such as http://10.0.0.2:8086", p))
		}
	}
	if c.QueryPeerTimeout < 0 {
		errs = append(errs, fmt.Errorf("cluster.query_peer_timeout %v: want a positive duration", c.QueryPeerTimeout))
	}
	return errors.Join(errs...)
}

// fanoutMode reports whether queries go to the peers.
func (s *server) fanoutMode() bool { return len(s.cfg.Cluster.QueryPeers) > 0 || s.clusterQuery() }

// registerFanout serves the Prometheus HTTP API over the peers
// (query/fanout) in place of registerQuery.
func (s *server) registerFanout(reg prometheus.Registerer) error {
	cc, qc := s.cfg.Cluster, s.cfg.Query
	var token string
	if cc.QueryPeerBearerTokenFile != "" {
		b, err := os.ReadFile(cc.QueryPeerBearerTokenFile)
		if err != nil {
			return fmt.Errorf("cluster.query_peer_bearer_token_file: %w", err)
		}
		token = strings.TrimSpace(string(b))
	}
	opts := fanout.Options{
		PeerTimeout:          cc.QueryPeerTimeout,
		PartialResponse:      cc.PartialResponse,
		MaxSamples:           qc.MaxSamples,
		LookbackDelta:        qc.LookbackDelta,
		Timeout:              qc.Timeout,
		MaxSamplesInMemory:   qc.MaxSamplesInMemory,
		MetricsQLNames:       qc.MetricsQLNames,
		DisablePushdown:      cc.QueryPushdown != nil && !*cc.QueryPushdown,
		BearerToken:          token,
		MaxConcurrentQueries: qc.MaxConcurrentQueries,
		MaxQueueDuration:     qc.MaxQueueDuration,
		Logger:               s.log.With("component", "fanout"),
		Registerer:           reg,
	}
	if s.meta != nil { // remote write's metadata store (registerRemote runs first)
		opts.LocalMetadata = s.meta.List
	}
	q, err := fanout.New(s.queryTopology(), opts) // cluster.go
	if err != nil {
		return err
	}
	s.fanout = q
	s.fanInflux.readOpts(opts) // influxfan.go
	api := fanout.NewAPI(q, buildInfo())
	api.Register(s.rm)                                           // a limited token's scope goes with every select and match[]
	s.rm.Handle("/api/v1/export", api.Handler(s.serveFanExport)) // exportfan.go
	// InfluxQL reads the peers too (influxfan.go); its gate reads
	// partial_response and holds its own slots.
	s.queryGate = s.fanInflux.gate
	s.log.Info("queries fan out to peers", "peers", cc.QueryPeers)
	return nil
}

// remoteMux is where registerRemote adds its routes. On a query node it
// leaves out /api/v1/read, which the fan-out API serves for the peers.
func (s *server) remoteMux() remote.Mux {
	if !s.fanoutMode() {
		return s.rm
	}
	return withoutRead{s.rm}
}

type withoutRead struct{ m *routeMux }

func (w withoutRead) HandleFunc(pattern string, h func(http.ResponseWriter, *http.Request)) {
	if pattern != "/api/v1/read" {
		w.m.HandleFunc(pattern, h)
	}
}
