package main

import (
	"errors"

	"github.com/lightningdb/lightningdb/engine"
)

// engineRetryLater reports whether an Append error asks the client to
// retry later (503 with Retry-After): an overloaded memtable, or a full
// disk. For the disk, 503 rather than 507: Telegraf and Prometheus both
// retry a 503 and honour its Retry-After, while 507 is rare enough that
// clients treat it as an unknown 5xx at best; the error says "no space left
// on device" either way, without server paths (the log has them).
func engineRetryLater(err error) bool {
	return errors.Is(err, engine.ErrOverloaded) || errors.Is(err, engine.ErrDiskFull)
}
