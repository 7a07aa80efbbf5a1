package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/lightningdb/lightningdb/downsample"
	"github.com/lightningdb/lightningdb/engine"
)

// Config is every setting of the server. The YAML file given with --config
// holds any subset of it (deploy/lightning-db.example.yaml shows them all);
// command-line flags win over the file.
type Config struct {
	DataDir   string `yaml:"data_dir"`
	HTTPAddr  string `yaml:"http_addr"`
	LogFormat string `yaml:"log_format"` // text or json
	LogLevel  string `yaml:"log_level"`  // debug, info, warn, error
	// ShutdownTimeout bounds the wait for in-flight requests on SIGTERM.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	// Pprof serves net/http/pprof under /debug/pprof/ on the HTTP address
	// (debugging and profiling; default off).
	Pprof bool `yaml:"pprof"`
	// MemoryLimit is the Go runtime's soft memory limit in bytes
	// (debug.SetMemoryLimit): the garbage collector runs more often as the
	// heap nears it, instead of letting it grow to twice the live heap
	// (GOGC=100). Zero or negative: no limit (the default). Set it well
	// above the live heap: past it the GC uses up to about half the CPU
	// (docs/lsm.md "Memory"). The GOMEMLIMIT environment variable, when
	// set, wins.
	MemoryLimit int64 `yaml:"memory_limit"`

	Engine EngineConfig `yaml:"engine"`
	Influx InfluxConfig `yaml:"influx"`
	Remote RemoteConfig `yaml:"remote"`
	MQTT   MQTTConfig   `yaml:"mqtt"`
	Query  QueryConfig  `yaml:"query"`
	HTTP   HTTPConfig   `yaml:"http"`
	// Retention: how long samples are kept (docs/retention.md).
	Retention RetentionConfig `yaml:"retention"`
	// Downsample: rollup tiers and their rules (docs/downsampling.md).
	Downsample downsample.Config `yaml:"downsample"`
	// Auth: tokens, scopes and the audit log (docs/security.md).
	Auth AuthConfig `yaml:"auth"`
	// Forward: send everything stored to a central server
	// (docs/forwarding.md); off by default.
	Forward ForwardConfig `yaml:"forward"`
	// Encryption: encryption at rest (docs/security.md).
	Encryption EncryptionConfig `yaml:"encryption"`
	// Cluster: a node of a cluster on NATS JetStream (cluster.go), and
	// query_peers or the query role make it a query node (fanout.go);
	// docs/cluster.md. Off by default.
	Cluster ClusterConfig `yaml:"cluster"`
}

// EncryptionConfig turns encryption at rest on: every file of the data
// directory that holds series labels or samples is sealed with
// AES-256-GCM (docs/security.md "Encryption at rest").
type EncryptionConfig struct {
	// KeyFile holds the keys: 32 raw bytes, or lines of 64 hex digits
	// (lightning-admin keygen), the last one the key new files are sealed
	// with. Empty: no encryption (the default).
	KeyFile string `yaml:"key_file"`
}

// EngineConfig configures storage.
type EngineConfig struct {
	SyncMode          string        `yaml:"sync_mode"` // fsync, interval or none
	SyncInterval      time.Duration `yaml:"sync_interval"`
	WALSegmentSize    int64         `yaml:"wal_segment_size"`
	MemtableBudget    int64         `yaml:"memtable_budget"`
	MemtableFlush     int64         `yaml:"memtable_flush_bytes"`
	MaxSeries         int           `yaml:"max_series"`
	PartitionDuration time.Duration `yaml:"partition_duration"`
	// New series one request, and all requests in a minute, may create
	// (engine.Options.MaxNewSeriesPerRequest/PerMinute); negative = no limit.
	MaxNewSeriesPerRequest int `yaml:"max_new_series_per_request"`
	MaxNewSeriesPerMinute  int `yaml:"max_new_series_per_minute"`
}

// InfluxConfig configures the InfluxDB line protocol endpoints.
type InfluxConfig struct {
	MaxBodyBytes    int64    `yaml:"max_body_bytes"`
	Tokens          []string `yaml:"tokens"`
	Separator       string   `yaml:"metric_separator"`
	DBLabel         string   `yaml:"db_label"`
	SkipSingleField bool     `yaml:"skip_single_field"`
	MaxLineBytes    int      `yaml:"max_line_bytes"`
	// MaxRowLimit bounds the rows of a non-chunked /query answer, as
	// InfluxDB's max-row-limit: past it the answer is truncated and the
	// series marked "partial": true. 0: unlimited.
	MaxRowLimit int `yaml:"max_row_limit"`
}

// defaultConfig returns the embedded defaults: everything on, on loopback.
func defaultConfig() Config {
	eo := engine.DefaultOptions()
	return Config{
		DataDir:         "./lightning-data",
		HTTPAddr:        "127.0.0.1:8086",
		LogFormat:       "text",
		LogLevel:        "info",
		ShutdownTimeout: 30 * time.Second,
		Engine: EngineConfig{
			SyncMode:          "fsync",
			SyncInterval:      eo.SyncInterval,
			WALSegmentSize:    eo.WALSegmentSize,
			MemtableBudget:    eo.MemtableBudget,
			MemtableFlush:     eo.MemtableFlushBytes,
			PartitionDuration: time.Duration(eo.PartitionDuration),

			MaxNewSeriesPerRequest: eo.MaxNewSeriesPerRequest,
			MaxNewSeriesPerMinute:  eo.MaxNewSeriesPerMinute,
		},
		Influx: InfluxConfig{MaxBodyBytes: 32 << 20, Separator: "_", DBLabel: "db", MaxLineBytes: 256 << 10},
		MQTT:   MQTTConfig{Addr: "127.0.0.1:1883", DB: "mqtt"},
	}
}

// loadConfig parses the command line: defaults, then the --config file,
// then every flag that was given explicitly.
func loadConfig(args []string) (Config, error) {
	cfg := defaultConfig()
	fs := flag.NewFlagSet("lightning-db", flag.ContinueOnError)
	var (
		file       = fs.String("config", "", "YAML configuration file (flags win over it)")
		dataDir    = fs.String("data-dir", cfg.DataDir, "data directory")
		httpAddr   = fs.String("http-addr", cfg.HTTPAddr, "HTTP listen address")
		logFormat  = fs.String("log-format", cfg.LogFormat, "log format: text or json")
		logLevel   = fs.String("log-level", cfg.LogLevel, "log level: debug, info, warn or error")
		syncMode   = fs.String("sync-mode", cfg.Engine.SyncMode, "WAL sync mode: fsync (default, no acknowledged write lost), interval or none")
		memBudget  = fs.Int64("memtable-budget", cfg.Engine.MemtableBudget, "memtable memory budget in bytes; past it writes get 503")
		maxSeries  = fs.Int("max-series", cfg.Engine.MaxSeries, "maximum number of series (0 = no limit)")
		newPerReq  = fs.Int("max-new-series-per-request", cfg.Engine.MaxNewSeriesPerRequest, "new series one write request may create (-1 = no limit)")
		newPerMin  = fs.Int("max-new-series-per-minute", cfg.Engine.MaxNewSeriesPerMinute, "new series all writes may create in a minute (-1 = no limit)")
		authTokens = fs.String("auth-tokens", "", "comma-separated full-access tokens required on every route but /health, /ready and /ping (empty = no auth unless --token-file)")
		tokenFile  = fs.String("token-file", "", "hashed token file that lightning-admin token edits, reloaded on SIGHUP (auth.token_file)")
		auditLog   = fs.String("audit-log", "", "file the audit log appends JSON lines to (auth.audit_log)")
		mqttAddr   = fs.String("mqtt-addr", cfg.MQTT.Addr, "embedded MQTT broker listen address (empty = no broker)")
		memLimit   = fs.Int64("memory-limit", cfg.MemoryLimit, "Go soft memory limit in bytes (0 = none; GOMEMLIMIT wins)")
		pprofOn    = fs.Bool("pprof", cfg.Pprof, "serve net/http/pprof under /debug/pprof/ on the HTTP address (default off)")
		rowLimit   = fs.Int("max-row-limit", cfg.Influx.MaxRowLimit, "most rows of a non-chunked InfluxQL /query answer; past it the answer is truncated and marked partial (influx.max_row_limit; 0 = unlimited)")
		retain     = fs.String("retention", "", "default retention of every series: 30d, 1w, 12h or INF (the default: keep for ever)")
		fwdURL     = fs.String("forward-url", "", "remote write 1.0 URL to forward everything stored to, from the WAL (forward.url; empty = off; docs/forwarding.md)")
		keyFile    = fs.String("encryption-key-file", "", "key file for encryption at rest (encryption.key_file; empty = off): 32 raw bytes or lines of 64 hex digits, the last key seals new files")
		mqlNames   = fs.Bool("metricsql-names", cfg.Query.MetricsQLNames, "keep metric names as MetricsQL does (avg/min/max/quantile_over_time), for queries written for VictoriaMetrics such as TSBS's (query.metricsql_names; default off)")
	)
	clusterFs := clusterFlags(fs)
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	if *file != "" {
		data, err := os.ReadFile(*file)
		if err != nil {
			return cfg, fmt.Errorf("read config: %w", err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(data))
		dec.KnownFields(true)
		if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) { // EOF: empty file
			return cfg, fmt.Errorf("config %s: %w", *file, err)
		}
	}
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "data-dir":
			cfg.DataDir = *dataDir
		case "http-addr":
			cfg.HTTPAddr = *httpAddr
		case "log-format":
			cfg.LogFormat = *logFormat
		case "log-level":
			cfg.LogLevel = *logLevel
		case "sync-mode":
			cfg.Engine.SyncMode = *syncMode
		case "memtable-budget":
			cfg.Engine.MemtableBudget = *memBudget
		case "max-series":
			cfg.Engine.MaxSeries = *maxSeries
		case "max-new-series-per-request":
			cfg.Engine.MaxNewSeriesPerRequest = *newPerReq
		case "max-new-series-per-minute":
			cfg.Engine.MaxNewSeriesPerMinute = *newPerMin
		case "auth-tokens":
			cfg.Influx.Tokens = splitList(*authTokens)
		case "token-file":
			cfg.Auth.TokenFile = *tokenFile
		case "audit-log":
			cfg.Auth.AuditLog = *auditLog
		case "mqtt-addr":
			cfg.MQTT.Addr = *mqttAddr
		case "pprof":
			cfg.Pprof = *pprofOn
		case "memory-limit":
			cfg.MemoryLimit = *memLimit
		case "retention":
			cfg.Retention.Default = *retain
		case "encryption-key-file":
			cfg.Encryption.KeyFile = *keyFile
		case "max-row-limit":
			cfg.Influx.MaxRowLimit = *rowLimit
		case "forward-url":
			cfg.Forward.URL = *fwdURL
		case "metricsql-names":
			cfg.Query.MetricsQLNames = *mqlNames
		}
	})
	clusterFs.apply(fs, &cfg.Cluster)
	return cfg, cfg.validate()
}

// memoryLimit returns the soft memory limit to set, or 0 for none.
func (c *Config) memoryLimit() int64 {
	return max(c.MemoryLimit, 0)
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func (c *Config) validate() error {
	var errs []error
	if c.DataDir == "" {
		errs = append(errs, errors.New("data_dir is empty"))
	}
	if c.HTTPAddr == "" {
		errs = append(errs, errors.New("http_addr is empty"))
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		errs = append(errs, fmt.Errorf("log_format %q: want text or json", c.LogFormat))
	}
	if _, err := parseLevel(c.LogLevel); err != nil {
		errs = append(errs, err)
	}
	if _, err := engine.ParseSyncMode(c.Engine.SyncMode); err != nil {
		errs = append(errs, err)
	}
	if _, err := c.Retention.Compile(); err != nil {
		errs = append(errs, err)
	}
	if _, err := c.Downsample.Compile(); err != nil {
		errs = append(errs, err)
	}
	if err := c.HTTP.TLS.validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Forward.validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Cluster.validate(c.HTTPAddr); err != nil {
		errs = append(errs, err)
	}
	if c.Influx.MaxRowLimit < 0 {
		errs = append(errs, fmt.Errorf("influx.max_row_limit %d: want 0 (unlimited) or more", c.Influx.MaxRowLimit))
	}
	return errors.Join(errs...)
}

// engineOptions maps the configuration onto engine.Options.
func (c *Config) engineOptions() engine.Options {
	mode, _ := engine.ParseSyncMode(c.Engine.SyncMode)
	return engine.Options{
		SyncMode:           mode,
		SyncInterval:       c.Engine.SyncInterval,
		WALSegmentSize:     c.Engine.WALSegmentSize,
		MemtableBudget:     c.Engine.MemtableBudget,
		MemtableFlushBytes: c.Engine.MemtableFlush,
		MaxSeries:          c.Engine.MaxSeries,
		PartitionDuration:  int64(c.Engine.PartitionDuration),

		MaxNewSeriesPerRequest: c.Engine.MaxNewSeriesPerRequest,
		MaxNewSeriesPerMinute:  c.Engine.MaxNewSeriesPerMinute,
	}
}
