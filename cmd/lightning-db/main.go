// Command lightning-db is the Lightning DB server: one binary that ingests
// InfluxDB line protocol over HTTP into a durable, group-committed store.
// With no arguments it runs on embedded defaults: data in ./lightning-data,
// HTTP on 127.0.0.1:8086.
//
// `lightning-db healthcheck [--url URL]` probes a running server instead
// (exit 0 when it answers 200): the container image's HEALTHCHECK.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "healthcheck" {
		os.Exit(healthcheck(os.Args[2:], os.Stdout, os.Stderr))
	}
	cfg, err := loadConfig(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "lightning-db:", err)
		os.Exit(2)
	}
	log, err := newLogger(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "lightning-db:", err)
		os.Exit(2)
	}
	if lim := cfg.memoryLimit(); lim > 0 && os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(lim)
		log.Debug("memory limit", "bytes", lim)
	}
	// The first SIGINT/SIGTERM starts a graceful shutdown; a second one
	// exits at once (the WAL still holds every acknowledged write).
	ctx, stop := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		sig := <-sigs
		log.Info("shutting down", "signal", sig.String())
		stop()
		sig = <-sigs
		log.Warn("second signal: exiting at once", "signal", sig.String())
		os.Exit(1)
	}()
	if err := run(ctx, cfg, log); err != nil {
		log.Error("server failed", "err", err)
		os.Exit(1)
	}
}

func newLogger(cfg Config) (*slog.Logger, error) {
	level, err := parseLevel(cfg.LogLevel)
	if err != nil {
		return nil, err
	}
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts)), nil
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts)), nil
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return l, fmt.Errorf("log_level %q: want debug, info, warn or error", s)
	}
	return l, nil
}
