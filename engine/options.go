package engine

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lightningdb/lightningdb/engine/encoding"
)

// SyncMode says when the WAL is fsynced relative to acknowledging appends.
type SyncMode int

const (
	// SyncFsync fsyncs once per group commit before any append of the group
	// returns. Nothing acknowledged is lost on a crash. The default.
	SyncFsync SyncMode = iota
	// SyncInterval writes each group before acknowledging it and fsyncs every
	// Options.SyncInterval. A crash of the machine (not of the process) may
	// lose what was acknowledged within that window.
	SyncInterval
	// SyncNone never fsyncs except on rotation and Close. For tests and
	// benchmarks only.
	SyncNone
)

// ParseSyncMode parses "fsync", "interval" or "none".
func ParseSyncMode(s string) (SyncMode, error) {
	switch s {
	case "fsync", "":
		return SyncFsync, nil
	case "interval":
		return SyncInterval, nil
	case "none":
		return SyncNone, nil
	}
	return 0, fmt.Errorf("unknown sync mode %q (want fsync, interval or none)", s)
}

func (m SyncMode) String() string {
	switch m {
	case SyncFsync:
		return "fsync"
	case SyncInterval:
		return "interval"
	case SyncNone:
		return "none"
	}
	return fmt.Sprintf("SyncMode(%d)", int(m))
}

// Options configures a DB. The zero value of each field means its default.
type Options struct {
	// FS is the file system; nil means OSFS.
	FS FS
	// SyncMode is the WAL durability mode; zero means SyncFsync.
	SyncMode SyncMode
	// SyncInterval is the fsync period of SyncInterval mode; zero means 100ms.
	SyncInterval time.Duration
	// WALSegmentSize is the size in bytes past which the WAL rotates to a
	// new segment; zero means 64 MiB.
	WALSegmentSize int64
	// MaxGroupBytes bounds the bytes of one group commit; zero means 16 MiB.
	MaxGroupBytes int
	// MemtableBudget is the memtable's memory budget in bytes; past it,
	// Append returns series.ErrOverloaded. Zero means 1 GiB.
	MemtableBudget int64
	// PartitionDuration is the span of a time partition in nanoseconds:
	// partition boundaries are multiples of it since the Unix epoch. The tag
	// index (and, with segments, the data) is kept per partition so a query
	// over a recent range never touches series that stopped long ago. Zero
	// means 24h.
	PartitionDuration int64
	// MemtableFlushBytes is the size of samples in the active memtable
	// (sealed chunks at about 2 bytes a sample, the raw tails at 16, plus
	// string bytes) past which it is flushed to segments. It is far below
	// MemtableBudget, which stays the back-pressure limit of the active
	// and flushing memtables together. The memtable's memory is up to
	// about twice this (the active memtable and the flushing one). Zero
	// means 128 MiB: some 40 M samples of regular series, whose WAL
	// replays in a few seconds (docs/lsm.md "Memory").
	MemtableFlushBytes int64
	// MemtableFlushInterval flushes the active memtable once its oldest
	// write is this old, so the WAL stays short on a quiet database. Zero
	// means 15 minutes.
	MemtableFlushInterval time.Duration
	// BlockSamples is the most samples of one series in one segment block;
	// a series' samples of a segment are cut into equal blocks. Larger
	// blocks compress better, smaller ones make point reads cheaper. Zero
	// means 8192 (a 10 s series-day is two blocks).
	BlockSamples int
	// CompactionFanIn is how many consecutive segments of one level of a
	// partition are merged into one of the next level. Zero means 4.
	CompactionFanIn int
	// CompactionBytesPerSecond bounds the write rate of compaction; zero
	// means no limit.
	CompactionBytesPerSecond int64
	// ColdCompactionDelay is how long a partition before the current one
	// must go without a flush adding to it before background compaction
	// merges it whole (until then it is merged tiered, like the current
	// one). Zero means 1 minute; negative merges at once.
	ColdCompactionDelay time.Duration
	// DisableCompaction stops background compaction (Compact still works).
	DisableCompaction bool
	// Retention drops partitions whose every timestamp is older than
	// now - Retention. Zero keeps everything.
	Retention time.Duration
	// RetentionPolicy, when set, gives each series its own retention
	// (rules per database and label matcher) and replaces Retention.
	// Partitions whose series are all expired are dropped whole; the
	// compactor rewrites a partition with some expired series without
	// them. Nil means Retention for every series.
	RetentionPolicy RetentionPolicy
	// MaintenanceInterval is how often the background job checks the
	// memtable age, retention and cold partitions. Zero means 10 s.
	MaintenanceInterval time.Duration
	// PrefetchBytes is how far ahead of a sequential scan MADV_WILLNEED is
	// given. Zero means 4 MiB; negative disables all page-cache advice
	// (mappings keep the kernel's default read-ahead).
	PrefetchBytes int64
	// PrefetchSeries is how many series ahead a strided scan prefetches
	// the blocks of. Zero means 32.
	PrefetchSeries int
	// Now returns the current time for retention, compaction (which
	// partition is current, how long one has been quiet), the memtable's
	// age (MemtableFlushInterval) and the new-series rate limit; nil means
	// time.Now. Durations that are only measured (metrics, logs) use the
	// wall clock.
	Now func() time.Time
	// MaxSeries caps the number of series; zero means no limit. There is
	// no default: the right cap depends on the machine's memory (about
	// 1.5 KB of RAM a series, docs/lsm.md "Series limits"), and the
	// limits on new series per request and per minute below already
	// bound how fast a client can grow the registry.
	MaxSeries int
	// MaxNewSeriesPerRequest caps the series one Append may create; the
	// series past it are rejected (per series, ErrSeriesLimit) and the
	// rest of the batch is stored. Zero means 100,000 (a Telegraf or
	// Prometheus request holds at most a few thousand series); negative
	// means no limit.
	MaxNewSeriesPerRequest int
	// MaxNewSeriesPerMinute caps the series created in any minute (a
	// token bucket of that size refilled at that rate, on the clock
	// Now); past it new series are rejected per series. Zero means
	// 500,000: a fleet of 1,000 Telegraf hosts of 300 series each, or the
	// 290,000 series of the churn benchmark, start within it; negative
	// means no limit.
	MaxNewSeriesPerMinute int
	// FlushRetryMin and FlushRetryMax bound the backoff between retries
	// of a failed background flush (a full disk): the first retry comes
	// FlushRetryMin after the failure, each next one twice as late, up to
	// FlushRetryMax. Zero means 1 s and 1 minute.
	FlushRetryMin, FlushRetryMax time.Duration
	// CommitQueue is the number of batches that may wait for the WAL
	// writer; zero means 1024.
	CommitQueue int
	// WALRetain, when set, returns the sequence number of the oldest WAL
	// segment a reader of the WAL still needs (the forwarder,
	// docs/forwarding.md): flushes and Open then keep that segment and
	// the later ones even when their data is in segments (they are not
	// replayed). 0 holds nothing. The reader bounds what it holds by
	// returning a later number. lightning-admin's repair and
	// rebuild-index set it from the forward cursor file.
	WALRetain func() uint64

	// Logger receives the engine's logs; nil discards them.
	Logger *slog.Logger
	// Registerer receives the engine's metrics; nil registers nothing.
	Registerer prometheus.Registerer

	// noFlushOnClose leaves the memtable in the WAL at Close, as a crash
	// would; for tests of WAL replay and repair.
	noFlushOnClose bool
	// noTimeCheck lets Append store timestamps out of
	// series.MinTime..MaxTime, as versions before the check did; for tests
	// of recovery from such a WAL.
	noTimeCheck bool
	// afterResolve, when set, is called by Append between resolving its
	// series and queueing its commit (a test hook: lifecycle_test.go).
	afterResolve func()
	// repair, set by Repair, makes recovery cut the WAL at its first
	// damage (dropping later segments) and report it here, instead of
	// refusing to open; progress is called per WAL segment replayed.
	repair   *RepairReport
	progress func(RepairProgress)
	// rebuild, set by RebuildIndex, makes recovery ignore the tag index
	// files (and series.snap when asked) and rebuild them (rebuild.go).
	rebuild *RebuildReport
}

// DefaultOptions returns the defaults.
func DefaultOptions() Options {
	o := Options{}
	o.ensureDefaults()
	return o
}

func (o *Options) ensureDefaults() {
	if o.FS == nil {
		o.FS = OSFS{}
	}
	if o.SyncInterval == 0 {
		o.SyncInterval = 100 * time.Millisecond
	}
	if o.WALSegmentSize == 0 {
		o.WALSegmentSize = 64 << 20
	}
	if o.MaxGroupBytes == 0 {
		o.MaxGroupBytes = 16 << 20
	}
	if o.MemtableBudget == 0 {
		o.MemtableBudget = 1 << 30
	}
	if o.PartitionDuration == 0 {
		o.PartitionDuration = int64(24 * time.Hour)
	}
	if o.MemtableFlushBytes == 0 {
		o.MemtableFlushBytes = 128 << 20
	}
	if o.MemtableFlushInterval == 0 {
		o.MemtableFlushInterval = 15 * time.Minute
	}
	if o.BlockSamples == 0 {
		o.BlockSamples = 8192
	}
	if o.CompactionFanIn == 0 {
		o.CompactionFanIn = 4
	}
	if o.ColdCompactionDelay == 0 {
		o.ColdCompactionDelay = time.Minute
	}
	if o.MaintenanceInterval == 0 {
		o.MaintenanceInterval = 10 * time.Second
	}
	if o.PrefetchBytes == 0 {
		o.PrefetchBytes = 4 << 20
	}
	if o.PrefetchSeries == 0 {
		o.PrefetchSeries = 32
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MaxNewSeriesPerRequest == 0 {
		o.MaxNewSeriesPerRequest = 100_000
	}
	if o.MaxNewSeriesPerMinute == 0 {
		o.MaxNewSeriesPerMinute = 500_000
	}
	if o.FlushRetryMin == 0 {
		o.FlushRetryMin = time.Second
	}
	if o.FlushRetryMax == 0 {
		o.FlushRetryMax = time.Minute
	}
	if o.CommitQueue == 0 {
		o.CommitQueue = 1024
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// validate returns every problem of the options at once.
func (o *Options) validate() error {
	var errs []error
	if o.SyncMode < SyncFsync || o.SyncMode > SyncNone {
		errs = append(errs, fmt.Errorf("invalid sync mode %d", o.SyncMode))
	}
	if o.SyncInterval < 0 {
		errs = append(errs, fmt.Errorf("sync interval %v is negative", o.SyncInterval))
	}
	if o.WALSegmentSize < 1<<16 {
		errs = append(errs, fmt.Errorf("WAL segment size %d is below 64 KiB", o.WALSegmentSize))
	}
	if o.PartitionDuration < int64(time.Minute) {
		errs = append(errs, fmt.Errorf("partition duration %v is below one minute", time.Duration(o.PartitionDuration)))
	}
	if o.BlockSamples < 16 || o.BlockSamples > encoding.MaxBlockSamples {
		errs = append(errs, fmt.Errorf("block samples %d outside [16, %d]", o.BlockSamples, encoding.MaxBlockSamples))
	}
	if o.CompactionFanIn < 2 {
		errs = append(errs, fmt.Errorf("compaction fan-in %d is below 2", o.CompactionFanIn))
	}
	if o.MemtableFlushBytes < 0 || o.MemtableFlushInterval < 0 || o.Retention < 0 || o.CompactionBytesPerSecond < 0 || o.PrefetchSeries < 0 {
		errs = append(errs, errors.New("flush, compaction, retention and prefetch settings must not be negative"))
	}
	if o.FlushRetryMin < 0 || o.FlushRetryMax < o.FlushRetryMin {
		errs = append(errs, fmt.Errorf("flush retry backoff %v..%v is negative or empty", o.FlushRetryMin, o.FlushRetryMax))
	}
	if o.MaxGroupBytes < 0 || o.MemtableBudget < 0 || o.MaxSeries < 0 || o.CommitQueue < 0 {
		errs = append(errs, errors.New("sizes and limits must not be negative"))
	}
	return errors.Join(errs...)
}

// maintenanceInterval is the background job's tick: the configured
// interval, shortened so a memtable flush interval below it is honoured.
func (o *Options) maintenanceInterval() time.Duration {
	return max(min(o.MaintenanceInterval, o.MemtableFlushInterval/2), time.Millisecond)
}
