package fanout

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lightningdb/lightningdb/remote"
)

// Options configure a Queryable and its API. Zero values take the
// defaults of DefaultOptions.
type Options struct {
	// PeerTimeout bounds each peer's part of a select or metadata request,
	// from the request to the last byte. A peer past it counts as failed.
	// Default 10s.
	PeerTimeout time.Duration
	// PartialResponse is the default for requests that name no
	// partial_response: true answers with warnings when a peer fails,
	// false refuses the query. Nil means true (Thanos' and
	// VictoriaMetrics' default).
	PartialResponse *bool
	// MaxFrameBytes is the largest remote read frame accepted from a peer.
	// Default 50 MiB (Prometheus' chunked read limit).
	MaxFrameBytes int
	// MaxSamples is the most samples one select may hold, over all its
	// peers; 0 means no limit.
	MaxSamples int64
	// DisablePushdown evaluates every query here over the peers' samples,
	// also those that the peers could evaluate whole (distribute.go).
	DisablePushdown bool
	// BearerToken, when set, goes with every request to a peer as
	// "Authorization: Bearer ..." (storage nodes with authentication on
	// need a read token).
	BearerToken string
	// Client does the HTTP requests. Nil means a client of its own.
	Client *http.Client

	// Engine settings (api.go).
	LookbackDelta      time.Duration // default 5m
	Timeout            time.Duration // default 30s: a query's whole evaluation
	MaxSamplesInMemory int           // default 10,000,000 (as query.Options)
	// MaxConcurrentQueries is the most data-reading requests served at
	// once; the rest wait MaxQueueDuration for a slot, then get 503.
	// Default 2 x GOMAXPROCS; -1 = none.
	MaxConcurrentQueries int
	MaxQueueDuration     time.Duration // default 10s
	// MetricsQLNames: as query.Options.MetricsQLNames.
	MetricsQLNames bool
	// LocalMetadata, when set, is the node's own metric metadata (remote
	// write's store: metric, one name or all; limit > 0, that many
	// names), joined to the peers' in /api/v1/metadata. Nil: none.
	LocalMetadata func(metric string, limit int) map[string][]remote.MetricMetadata
	// Logger and Registerer: nil means none.
	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

// DefaultOptions returns the defaults.
func DefaultOptions() Options {
	yes := true
	return Options{
		PeerTimeout:          10 * time.Second,
		PartialResponse:      &yes,
		MaxFrameBytes:        50 << 20,
		LookbackDelta:        5 * time.Minute,
		Timeout:              30 * time.Second,
		MaxSamplesInMemory:   10_000_000,
		MaxConcurrentQueries: 2 * runtime.GOMAXPROCS(0),
		MaxQueueDuration:     10 * time.Second,
	}
}

// withDefaults fills zero fields.
func (o Options) withDefaults() Options {
	d := DefaultOptions()
	if o.PeerTimeout == 0 {
		o.PeerTimeout = d.PeerTimeout
	}
	if o.PartialResponse == nil {
		o.PartialResponse = d.PartialResponse
	}
	if o.MaxFrameBytes == 0 {
		o.MaxFrameBytes = d.MaxFrameBytes
	}
	if o.LookbackDelta == 0 {
		o.LookbackDelta = d.LookbackDelta
	}
	if o.Timeout == 0 {
		o.Timeout = d.Timeout
	}
	if o.MaxSamplesInMemory == 0 {
		o.MaxSamplesInMemory = d.MaxSamplesInMemory
	}
	if o.MaxConcurrentQueries == 0 {
		o.MaxConcurrentQueries = d.MaxConcurrentQueries
	}
	if o.MaxQueueDuration == 0 {
		o.MaxQueueDuration = d.MaxQueueDuration
	}
	if o.Client == nil {
		o.Client = &http.Client{Transport: &http.Transport{
			MaxIdleConnsPerHost: 64,
			IdleConnTimeout:     90 * time.Second,
		}}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

func (o Options) validate() error {
	var errs []error
	if o.PeerTimeout < 0 {
		errs = append(errs, fmt.Errorf("peer timeout %v: want > 0", o.PeerTimeout))
	}
	if o.MaxFrameBytes < 0 {
		errs = append(errs, fmt.Errorf("max frame bytes %d: want > 0", o.MaxFrameBytes))
	}
	if o.MaxSamples < 0 {
		errs = append(errs, fmt.Errorf("max samples %d: want 0 (no limit) or more", o.MaxSamples))
	}
	return errors.Join(errs...)
}
