package tagindex

import (
	"errors"
	"fmt"
	"github.com/lightningdb/lightningdb/series"
	"time"
)

// Options configures an Index.
type Options struct {
	// PartitionDuration is the span of a partition created by Add, in
	// nanoseconds: a partition starting at s covers [s, s+PartitionDuration).
	// 0 means 24h. Loaded partitions keep the span they were written with.
	PartitionDuration int64

	// Labels, when set, returns the canonical labels of a series (for
	// example series.Registry.Labels) or nil for an unknown one. Label
	// values listings restricted by matchers use it when the selection is
	// much smaller than the label's value count, reading the selected
	// series' labels instead of testing every value's bitmap. nil means
	// bitmaps only.
	Labels func(series.ID) []byte
}

// DefaultOptions returns the defaults: one partition per day.
func DefaultOptions() Options {
	return Options{PartitionDuration: int64(24 * time.Hour)}
}

func (o *Options) ensureDefaults() {
	if o.PartitionDuration == 0 {
		o.PartitionDuration = DefaultOptions().PartitionDuration
	}
}

// validate returns every problem of o at once.
func (o *Options) validate() error {
	var errs []error
	if o.PartitionDuration < 0 {
		errs = append(errs, fmt.Errorf("PartitionDuration %d is negative", o.PartitionDuration))
	}
	return errors.Join(errs...)
}
