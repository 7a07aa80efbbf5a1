package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lightningdb/lightningdb/engine"
	"github.com/lightningdb/lightningdb/forward"
)

// ForwardConfig sends everything stored to a central server, read from
// the WAL behind a durable cursor (docs/forwarding.md). Off while URL is
// empty.
type ForwardConfig struct {
	// URL of a Prometheus remote write 1.0 receiver: another Lightning
	// DB's /api/v1/write, VictoriaMetrics' /api/v1/write, Prometheus'
	// /api/v1/write (--web.enable-remote-write-receiver).
	URL string `yaml:"url"`
	// Headers are added to every request.
	Headers map[string]string `yaml:"headers"`
	// BearerToken or BearerTokenFile sends "Authorization: Bearer ...".
	BearerToken     string `yaml:"bearer_token"`
	BearerTokenFile string `yaml:"bearer_token_file"`
	// BatchSamples is the samples per request, about (default 20000).
	BatchSamples int `yaml:"batch_samples"`
	// MaxWALBytes bounds the WAL kept for forwarding; past it the oldest
	// segments are dropped, logged and counted (default 10 GiB).
	MaxWALBytes int64 `yaml:"max_wal_bytes"`
	// Timeout bounds one request (default 30 s).
	Timeout time.Duration `yaml:"timeout"`
	// MaxBackoff bounds the wait between retries (default 5 s).
	MaxBackoff time.Duration `yaml:"max_backoff"`
	TLS        ForwardTLS    `yaml:"tls"`
}

// ForwardTLS configures the forwarder's TLS client.
type ForwardTLS struct {
	CAFile             string `yaml:"ca_file"`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify"`
}

func (c *ForwardConfig) validate() error {
	if c.URL == "" {
		return nil
	}
	var errs []error
	u, err := url.Parse(c.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("forward.url %q: want an http:// or https:// URL", c.URL))
	}
	if c.BatchSamples < 0 {
		errs = append(errs, fmt.Errorf("forward.batch_samples %d: want 0 (default) or more", c.BatchSamples))
	}
	if c.MaxWALBytes < 0 {
		errs = append(errs, fmt.Errorf("forward.max_wal_bytes %d: want 0 (default 10 GiB) or more", c.MaxWALBytes))
	}
	if c.BearerToken != "" && c.BearerTokenFile != "" {
		errs = append(errs, errors.New("forward: bearer_token and bearer_token_file are exclusive"))
	}
	return errors.Join(errs...)
}

// forwardSetup is the running forwarder; nil when forwarding is off.
type forwardSetup struct {
	f      *forward.Forwarder
	cancel context.CancelFunc
	done   chan struct{}
}

// setupForward loads the cursor and makes the forwarder before the engine
// opens, and holds the WAL for it (eo.WALRetain).
func (s *server) setupForward(eo *engine.Options, reg prometheus.Registerer) (*forwardSetup, error) {
	c := s.cfg.Forward
	if c.URL == "" {
		return nil, nil
	}
	token := c.BearerToken
	if c.BearerTokenFile != "" {
		b, err := os.ReadFile(c.BearerTokenFile)
		if err != nil {
			return nil, fmt.Errorf("forward.bearer_token_file: %w", err)
		}
		token = strings.TrimSpace(string(b))
	}
	sink, err := forward.NewRemoteWriteSink(forward.RemoteWriteOptions{URL: c.URL, Headers: c.Headers,
		BearerToken: token, Timeout: c.Timeout, CAFile: c.TLS.CAFile, InsecureSkipVerify: c.TLS.InsecureSkipVerify})
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(s.cfg.DataDir, 0o755); err != nil {
		return nil, err
	}
	f, err := forward.New(sink, forward.Options{FS: eo.FS, CursorPath: forward.CursorPath(s.cfg.DataDir),
		BatchSamples: c.BatchSamples, MaxWALBytes: c.MaxWALBytes, MaxBackoff: c.MaxBackoff,
		Logger: s.log.With("component", "forward"), Registerer: reg})
	if err != nil {
		return nil, err
	}
	eo.WALRetain = f.Retain
	return &forwardSetup{f: f}, nil
}

// start runs the forwarder on db.
func (fs *forwardSetup) start(db *engine.DB) {
	if fs == nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	fs.cancel, fs.done = cancel, make(chan struct{})
	go func() {
		defer close(fs.done)
		fs.f.Run(ctx, db)
	}()
}

// stop ends the forwarder (a batch in flight is sent again after a
// restart: its cursor was not saved).
func (fs *forwardSetup) stop() {
	if fs == nil || fs.cancel == nil {
		return
	}
	fs.cancel()
	<-fs.done
}
