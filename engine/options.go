package engine

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
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
	// Append returns ErrOverloaded. Zero means 1 GiB.
	MemtableBudget int64
	// PartitionDuration is the span of a time partition in nanoseconds:
	// partition boundaries are multiples of it since the Unix epoch. The tag
	// index (and, with segments, the data) is kept per partition so a query
	// over a recent range never touches series that stopped long ago. Zero
	// means 24h.
	PartitionDuration int64
	// MaxSeries caps the number of series; zero means no limit.
	MaxSeries int
	// CommitQueue is the number of batches that may wait for the WAL
	// writer; zero means 1024.
	CommitQueue int
	// Logger receives the engine's logs; nil discards them.
	Logger *slog.Logger
	// Registerer receives the engine's metrics; nil registers nothing.
	Registerer prometheus.Registerer
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
	if o.MaxGroupBytes < 0 || o.MemtableBudget < 0 || o.MaxSeries < 0 || o.CommitQueue < 0 {
		errs = append(errs, errors.New("sizes and limits must not be negative"))
	}
	return errors.Join(errs...)
}
