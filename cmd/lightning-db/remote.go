package main

import (
	"context"
	"fmt"
	"time"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/lightningdb/lightningdb/auth"
	"github.com/lightningdb/lightningdb/engine"
	"github.com/lightningdb/lightningdb/query"
	"github.com/lightningdb/lightningdb/remote"
	"github.com/lightningdb/lightningdb/series"
	"github.com/lightningdb/lightningdb/tagindex"
)

// The engine satisfies remote write's appender.
var _ remote.Appender = (*engine.DB)(nil)

// RemoteConfig configures Prometheus remote write and read (zero fields
// take remote.DefaultOptions).
type RemoteConfig struct {
	MaxBodyBytes        int64 `yaml:"max_body_bytes"`
	MaxDecodedBytes     int64 `yaml:"max_decoded_bytes"`
	ReadMaxSeries       int   `yaml:"read_max_series"`
	ReadMaxBytes        int64 `yaml:"read_max_bytes"`
	ReadMaxBytesInFrame int   `yaml:"read_max_bytes_in_frame"`
	ReadConcurrency     int   `yaml:"read_concurrency"`
	MaxMetadata         int   `yaml:"max_metadata"`
	// ReadQueueTimeout bounds a remote read's wait for a read_concurrency
	// slot (then 503 with Retry-After). Default 30s; negative: no bound.
	ReadQueueTimeout time.Duration `yaml:"read_queue_timeout"`
	// ReadWriteTimeout is the write deadline of each frame of a streamed
	// remote read answer (of each 1 MiB of a SAMPLES one): a client that
	// stops reading is cut and frees its slot. Default 30s; negative: none.
	ReadWriteTimeout time.Duration `yaml:"read_write_timeout"`
	// ReadSamplesMaxBytes caps a SAMPLES remote-read answer, held whole in
	// memory and charged to http.max_inflight_body_bytes while built and
	// sent. Default 64 MiB; over it 400 (ask for STREAMED_XOR_CHUNKS).
	ReadSamplesMaxBytes int64 `yaml:"read_samples_max_bytes"`
}

// registerRemote serves /api/v1/write and /api/v1/read over the engine and
// keeps the metadata store in s.meta for /api/v1/metadata.
func (s *server) registerRemote(reg prometheus.Registerer) error {
	rc := s.cfg.Remote
	s.meta = remote.NewMetadata(rc.MaxMetadata)
	if err := s.shareMetadata(s.meta); err != nil { // cluster.go: the metadata bucket
		return err
	}
	h, err := remote.NewHandler(scopedAppender{s.appender()}, engineStorage{s.db}, remote.Options{
		MaxBodyBytes:        rc.MaxBodyBytes,
		MaxDecodedBytes:     rc.MaxDecodedBytes,
		ReadMaxSeries:       rc.ReadMaxSeries,
		ReadMaxBytes:        rc.ReadMaxBytes,
		ReadSamplesMaxBytes: rc.ReadSamplesMaxBytes,
		ReadMaxBytesInFrame: rc.ReadMaxBytesInFrame,
		ReadConcurrency:     rc.ReadConcurrency,
		ReadQueueTimeout:    rc.ReadQueueTimeout,
		ReadWriteTimeout:    rc.ReadWriteTimeout,
		Budget:              s.remoteBudget(),
		Metadata:            s.meta,
		Logger:              s.log.With("component", "remote"),
		Registerer:          reg,
	})
	if err != nil {
		return fmt.Errorf("remote handler: %w", err)
	}
	h.Register(s.remoteMux()) // fanout.go: without remote read on a query node
	return nil
}

// engineStorage adapts the engine to remote.Storage.
type engineStorage struct{ db *engine.DB }

// Postings limits the matchers to the scope of ctx's caller (auth).
func (e engineStorage) Postings(ctx context.Context, minT, maxT int64, ms ...*tagindex.Matcher) (*roaring.Bitmap, error) {
	scope, err := query.ToIndexMatchers(auth.FromContext(ctx).Scope)
	if err != nil {
		return nil, err
	}
	return e.db.Index().Postings(minT, maxT, append(ms[:len(ms):len(ms)], scope...)...)
}

func (e engineStorage) Labels(id series.ID) []byte { return e.db.Registry().Labels(id) }

func (e engineStorage) Select(id series.ID, minT, maxT int64, reuse remote.Iterator) remote.Iterator {
	it, _ := reuse.(*engine.Iterator)
	return e.db.Select(id, minT, maxT, it)
}
