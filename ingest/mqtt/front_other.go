//go:build !linux

package mqtt

import (
	"fmt"
	"time"
)

// frontListener is the publish front end (front.go): Linux only.
type frontListener struct{ n atomicInt }

type atomicInt struct{}

func (atomicInt) Load() int64 { return 0 }

func newFrontListener(*Broker, string, func() time.Time) (*frontListener, error) {
	return nil, fmt.Errorf("%w: the publish front end (publish_addr) needs Linux", ErrConfig)
}

func (l *frontListener) addr() string   { return "" }
func (l *frontListener) serve()         {}
func (l *frontListener) close()         {}
func (l *frontListener) closeID(string) {}
