package remote

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Options configures a Handler. Zero fields take the defaults of
// DefaultOptions unless their comment says otherwise.
type Options struct {
	// MaxBodyBytes caps a request body as sent (snappy). Default 32 MiB;
	// a larger body gets 413.
	MaxBodyBytes int64
	// MaxDecodedBytes caps a body after snappy decoding. Default 64 MiB
	// (Prometheus's read handler allows 32 MiB; a write of 2,000 samples
	// is about 200 KiB).
	MaxDecodedBytes int64
	// SeriesCacheSize is the number of slots of the cache that maps a 1.0
	// series' label fields, as sent, to its canonical labels and series ID
	// (rounded up to a power of two; an entry holds the labels twice,
	// about 0.5 KB for 10 labels). Default 32,768; negative turns it off.
	SeriesCacheSize int
	// ReadMaxSeries caps the series one remote read request returns, over
	// all its queries. Default 100,000; over it the request gets 400.
	ReadMaxSeries int
	// ReadMaxBytes caps the bytes one remote read answer holds (protobuf
	// before snappy for SAMPLES; the frames for streamed chunks). Default
	// 512 MiB.
	ReadMaxBytes int64
	// ReadSamplesMaxBytes caps a SAMPLES answer (protobuf before snappy),
	// which is held whole in memory before it is sent; ReadMaxBytes caps
	// it too. Default 64 MiB (about 3.5 M samples); over it the request
	// gets 400 naming STREAMED_XOR_CHUNKS, whose answers are streamed. The
	// answer's bytes are also charged to Budget as they are built: one
	// that does not fit beside the requests in progress gets 503 with
	// Retry-After. At most 4 GiB - 1 (a snappy block's length).
	ReadSamplesMaxBytes int64
	// ReadMaxBytesInFrame caps one frame of a streamed answer; a series
	// larger than that is split over several frames. Default 1 MiB, as
	// Prometheus.
	ReadMaxBytesInFrame int
	// ReadConcurrency caps the remote reads served at once; more wait.
	// Default 10, as Prometheus.
	ReadConcurrency int
	// ReadQueueTimeout bounds the wait for one of the ReadConcurrency
	// slots; a read that gets none in time is answered 503 with
	// Retry-After. Default 30s; negative waits as long as the client does.
	ReadQueueTimeout time.Duration
	// ReadWriteTimeout is the write deadline of each frame of a streamed
	// answer, and of a SAMPLES answer per ReadMaxBytesInFrame bytes: a
	// client that stops reading has its answer cut and its slot freed
	// after it. Default 30s; negative: no deadline.
	ReadWriteTimeout time.Duration
	// Budget, when set, bounds the request body bytes held at once over
	// every connection, and the SAMPLES answers being built or sent; a
	// request or answer that does not fit is answered 503 with
	// Retry-After (before its body is read when it announces its length).
	// Default: none.
	Budget BodyBudget
	// RetryAfter is the Retry-After given with 503 answers. Default 1s,
	// rounded up to whole seconds.
	RetryAfter time.Duration
	// Metadata receives metric metadata from writes. Default: a new store
	// of 100,000 metrics, returned by Handler.Metadata.
	Metadata *Metadata
	// Logger logs failures (never per sample). Default: discard.
	Logger *slog.Logger
	// Registerer, when set, gets the handler's counters; cmd adds the
	// lightningdb_ prefix. Default: none.
	Registerer prometheus.Registerer
}

// DefaultOptions returns the defaults described on Options.
func DefaultOptions() Options {
	return Options{
		MaxBodyBytes:        32 << 20,
		MaxDecodedBytes:     64 << 20,
		SeriesCacheSize:     1 << 15,
		ReadMaxSeries:       100_000,
		ReadMaxBytes:        512 << 20,
		ReadSamplesMaxBytes: 64 << 20,
		ReadMaxBytesInFrame: 1 << 20,
		ReadConcurrency:     10,
		ReadQueueTimeout:    30 * time.Second,
		ReadWriteTimeout:    30 * time.Second,
		RetryAfter:          time.Second,
		Logger:              slog.New(slog.DiscardHandler),
	}
}

func (o *Options) ensureDefaults() {
	def := DefaultOptions()
	if o.MaxBodyBytes == 0 {
		o.MaxBodyBytes = def.MaxBodyBytes
	}
	if o.MaxDecodedBytes == 0 {
		o.MaxDecodedBytes = def.MaxDecodedBytes
	}
	if o.SeriesCacheSize == 0 {
		o.SeriesCacheSize = def.SeriesCacheSize
	}
	if o.ReadMaxSeries == 0 {
		o.ReadMaxSeries = def.ReadMaxSeries
	}
	if o.ReadMaxBytes == 0 {
		o.ReadMaxBytes = def.ReadMaxBytes
	}
	if o.ReadSamplesMaxBytes == 0 {
		o.ReadSamplesMaxBytes = def.ReadSamplesMaxBytes
	}
	if o.ReadMaxBytesInFrame == 0 {
		o.ReadMaxBytesInFrame = def.ReadMaxBytesInFrame
	}
	if o.ReadConcurrency == 0 {
		o.ReadConcurrency = def.ReadConcurrency
	}
	if o.ReadQueueTimeout == 0 {
		o.ReadQueueTimeout = def.ReadQueueTimeout
	}
	if o.ReadWriteTimeout == 0 {
		o.ReadWriteTimeout = def.ReadWriteTimeout
	}
	if o.RetryAfter == 0 {
		o.RetryAfter = def.RetryAfter
	}
	if o.Metadata == nil {
		o.Metadata = NewMetadata(0)
	}
	if o.Logger == nil {
		o.Logger = def.Logger
	}
}

func (o *Options) validate() error {
	var errs []error
	for _, f := range []struct {
		name string
		v    int64
	}{
		{"MaxBodyBytes", o.MaxBodyBytes}, {"MaxDecodedBytes", o.MaxDecodedBytes},
		{"ReadMaxSeries", int64(o.ReadMaxSeries)}, {"ReadMaxBytes", o.ReadMaxBytes}, {"ReadSamplesMaxBytes", o.ReadSamplesMaxBytes},
		{"ReadMaxBytesInFrame", int64(o.ReadMaxBytesInFrame)}, {"ReadConcurrency", int64(o.ReadConcurrency)},
		{"RetryAfter", int64(o.RetryAfter)},
	} {
		if f.v < 0 {
			errs = append(errs, fmt.Errorf("%s %d is negative", f.name, f.v))
		}
	}
	if o.ReadSamplesMaxBytes > maxSnappyLen {
		errs = append(errs, fmt.Errorf("ReadSamplesMaxBytes %d is over %d, the largest snappy block", o.ReadSamplesMaxBytes, int64(maxSnappyLen)))
	}
	return errors.Join(errs...)
}
