package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/lightningdb/lightningdb/cluster"
	"github.com/lightningdb/lightningdb/engine"
	"github.com/lightningdb/lightningdb/ingest"
	"github.com/lightningdb/lightningdb/ingest/lineproto"
	"github.com/lightningdb/lightningdb/query/fanout"
	"github.com/lightningdb/lightningdb/query/influxql"
	"github.com/lightningdb/lightningdb/remote"

	"github.com/lightningdb/lightningdb/internal/encrypt"
)

// The engine satisfies the ingest front ends' appender.
var _ ingest.Appender = (*engine.DB)(nil)

// server is the wired process: engine, front ends and the HTTP listener.
type server struct {
	cfg   Config
	log   *slog.Logger
	reg   *prometheus.Registry
	db    *engine.DB
	mux   *http.ServeMux
	ready atomic.Bool
	meta  *remote.Metadata // remote write metadata, for /api/v1/metadata
	keys  *encrypt.Keyring // encryption at rest; nil: off

	httpCfg  HTTPConfig   // cfg.HTTP with its defaults
	httpm    *httpMetrics // what the HTTP limits refuse
	budget   *bodyBudget  // nil: no bound on request bytes in flight
	ret      *retentionSetup
	ds       *downsampleSetup         // nil without downsample rules
	tls      *certReloader            // nil without http.tls (tls.go)
	auth     *authSetup               // tokens and the audit log (auth.go)
	mqttAuth atomic.Pointer[mqttAuth] // unset: the broker has no token or ACL check (mqttauth.go)
	rm       *routeMux                // registers every route behind its auth rule (authroutes.go)
	// queryGate is the query API's concurrency gate (query.Limit), set by
	// registerQuery; /query (InfluxQL) holds a slot of it too.
	queryGate func(http.Handler) http.Handler
	// fanout answers queries from cluster.query_peers (fanout.go); nil
	// unless configured.
	fanout *fanout.Queryable
	// fanInflux answers InfluxQL on a query node (influxfan.go).
	fanInflux *fanInfluxQL
	// catalog is the InfluxQL measurement catalog (influxql.go).
	catalog *influxql.Catalog
	// catShare shares what catalog learns with a cluster (cluster.go).
	catShare catalogShare
	// cluster is this node's place in a cluster; nil when off (cluster.go).
	cluster *cluster.Node
}

// run serves until ctx ends, then shuts down gracefully: stop accepting,
// finish in-flight requests, flush and close the engine.
func run(ctx context.Context, cfg Config, log *slog.Logger) error {
	s := &server{cfg: cfg, log: log, reg: prometheus.NewRegistry(), mux: http.NewServeMux()}
	s.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	ns := prometheus.WrapRegistererWithPrefix("lightningdb_", s.reg)

	if err := s.setupHTTP(ns); err != nil {
		return err
	}
	if err := registerDiskMetrics(ns, cfg.DataDir); err != nil {
		return err
	}
	if err := s.setupAuth(); err != nil {
		return err
	}
	defer s.auth.audit.Close()
	s.rm = &routeMux{s: s}
	// Listen first so /health answers while recovery runs; /ready says
	// when recovery has finished.
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.HTTPAddr, err)
	}
	s.rm.HandleFunc("/ready", s.serveReady)
	s.rm.Handle("/metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{Registry: s.reg}))
	s.registerPprof()
	gate := &readyGate{s: s}
	srv := s.newHTTPServer(s.httpLimits(gate))
	serveErr := make(chan error, 1)
	if s.tls, err = newCertReloader(cfg.HTTP.TLS); err != nil {
		ln.Close()
		return err
	}
	s.watchReload(ctx)
	go func() { serveErr <- s.serve(srv, ln) }()
	log.Info("listening", "http_addr", ln.Addr().String(), "data_dir", cfg.DataDir, "tls", s.tls != nil)

	eo := cfg.engineOptions()
	eo.Logger = log
	eo.Registerer = ns
	if cfg.Encryption.KeyFile != "" {
		if s.keys, err = encrypt.LoadKeyFile(cfg.Encryption.KeyFile); err != nil {
			srv.Close()
			return err
		}
		eo.FS = engine.NewEncFS(engine.OSFS{}, s.keys)
		log.Info("encryption at rest on", "key_file", cfg.Encryption.KeyFile, "active_key", s.keys.Active().String(), "keys", len(s.keys.IDs()))
	}
	if s.ret, err = s.setupRetention(&eo); err != nil {
		srv.Close()
		return fmt.Errorf("retention: %w", err)
	}
	fwd, err := s.setupForward(&eo, ns)
	if err != nil {
		srv.Close()
		return fmt.Errorf("forward: %w", err)
	}
	start := time.Now()
	s.db, err = engine.Open(cfg.DataDir, eo)
	if errors.Is(err, engine.ErrLocked) {
		srv.Close()
		return fmt.Errorf("%w: stop it or pick another --data-dir", err)
	}
	if err != nil {
		srv.Close()
		return fmt.Errorf("open engine: %w", err)
	}
	s.ret.labels.db.Store(s.db)
	if s.ds, err = s.setupDownsample(eo, ns); err != nil {
		srv.Close()
		return errors.Join(fmt.Errorf("downsample: %w", err), s.db.Close())
	}
	if s.cluster, err = s.startCluster(ctx, ns); err != nil {
		srv.Close()
		return errors.Join(fmt.Errorf("cluster: %w", err), s.ds.close(), s.db.Close())
	}
	if err := s.routes(ns); err != nil {
		srv.Close()
		return errors.Join(err, s.stopCluster(context.Background()), s.ds.close(), s.db.Close())
	}
	mq, err := s.startMQTT(ns)
	if err != nil {
		srv.Close()
		return errors.Join(err, s.ds.close(), s.db.Close())
	}
	fwd.start(s.db)
	defer fwd.stop() // on the error returns below; a no-op after the stop at shutdown
	s.ready.Store(true)
	log.Info("ready", "recovery", time.Since(start).Round(time.Millisecond), "series", s.db.Stats().Series,
		"sync_mode", cfg.Engine.SyncMode)

	select {
	case <-ctx.Done():
	case err := <-serveErr:
		fwd.stop()
		return errors.Join(fmt.Errorf("http server: %w", err), mq.close(), s.stopCluster(context.Background()), s.ds.close(), s.db.Close())
	}
	s.ready.Store(false)
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	herr := srv.Shutdown(sctx)
	merr := mq.close() // before the engine closes: pending MQTT commits finish first
	// Leave the cluster: the consumers stop, the partitions move.
	merr = errors.Join(merr, s.stopCluster(sctx))
	// The catalog fields MQTT lines taught (influxql.go).
	merr = errors.Join(merr, s.catalog.Flush())
	derr := s.ds.close()
	fwd.stop()
	ferr := s.db.Flush(sctx)
	cerr := s.db.Close()
	log.Info("stopped")
	return errors.Join(herr, merr, derr, ferr, cerr)
}

// routes registers every front end on the mux.
func (s *server) routes(reg prometheus.Registerer) error {
	var influx *ingest.InfluxHandler // made below; the executor asks it of databases
	iql, catalog, err := s.setupInfluxQL(func(db string) bool { return influx != nil && slices.Contains(influx.Databases(), db) })
	if err != nil {
		return err
	}
	s.catalog = catalog
	if err := s.shareCatalog(catalog); err != nil { // cluster.go: the catalog bucket
		return err
	}
	exec, err := s.influxQLExecutor(iql) // influxfan.go: a query node's reads the peers
	if err != nil {
		return err
	}
	influx, err = ingest.NewInfluxHandler(scopedAppender{s.appender()}, ingest.InfluxOptions{
		Lines: lineproto.Options{
			Separator:       s.cfg.Influx.Separator,
			DBLabel:         s.cfg.Influx.DBLabel,
			SkipSingleField: s.cfg.Influx.SkipSingleField,
			MaxLineBytes:    s.cfg.Influx.MaxLineBytes,
		},
		MaxBodyBytes: s.cfg.Influx.MaxBodyBytes,
		MaxRowLimit:  s.cfg.Influx.MaxRowLimit,
		Budget:       s.influxBudget(),
		// Tokens: none here; the route guard authenticates (authroutes.go).
		Logger:     s.log.With("component", "influx"),
		Registerer: reg,

		RetentionPolicies: s.influxRP(),
		Deleter:           s.influxDeleter(), // DROP SERIES, DELETE, DROP MEASUREMENT/DATABASE
		Databases:         s.ret.store.Databases(),
		InfluxQL:          exec,              // SELECT and SHOW on /query (query/influxql)
		MoreDatabases:     s.moreDatabases(), // influxfan.go: a query node's peers
		Catalog:           catalog,           // measurement and field of each metric name
		QueryLimit:        s.limitInfluxQL,
	})
	if err != nil {
		return fmt.Errorf("influx handler: %w", err)
	}
	influx.Register(s.rm)
	if !s.fanoutMode() {
		s.rm.HandleFunc(influxCatalogPath, s.serveInfluxCatalog) // influxfan.go: for query nodes
	}
	s.registerSnapshots(reg) // snapshot.go
	s.registerImport()       // import.go
	s.registerUI()           // ui.go: the web UI at /
	if err := s.registerRemote(reg); err != nil {
		return err
	}
	register := s.registerQuery
	if s.fanoutMode() {
		register = s.registerFanout // fanout.go: queries read the peers
	}
	if err := register(reg); err != nil {
		return err
	}
	s.rm.logRoutes()
	return s.rm.err
}

func (s *server) serveReady(w http.ResponseWriter, r *http.Request) {
	if !s.ready.Load() {
		http.Error(w, "recovering", http.StatusServiceUnavailable)
		return
	}
	w.Write([]byte("ready\n"))
}

// readyGate answers 503 for everything but liveness, readiness and metrics
// until the engine has recovered.
type readyGate struct{ s *server }

func (g *readyGate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !g.s.ready.Load() {
		switch r.URL.Path {
		case "/health", "/ping":
			w.WriteHeader(http.StatusNoContent)
			return
		case "/ready", "/metrics":
		default:
			w.Header().Set("Retry-After", "1")
			http.Error(w, `{"error":"recovering: not ready"}`, http.StatusServiceUnavailable)
			return
		}
	}
	g.s.mux.ServeHTTP(w, r)
}
