package tagindex

import (
	"errors"
	"fmt"
	"time"
)

// Options configures an Index.
type Options struct {
	// PartitionDuration is the span of a partition created by Add, in
	// nanoseconds: a partition starting at s covers [s, s+PartitionDuration).
	// 0 means 24h. Loaded partitions keep the span they were written with.
	PartitionDuration int64
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
