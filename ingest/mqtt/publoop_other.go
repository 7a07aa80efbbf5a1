//go:build !linux

package mqtt

import (
	"crypto/tls"
	"log/slog"
	"net"

	"github.com/mochi-mqtt/server/v2/listeners"
)

// loopListener is the publish loop's listener (publoop.go, Linux only).
type loopListener interface {
	listeners.Listener
	takeover(id string, conn net.Conn) // conn: the mochi client's connection
	clients() int64                    // clients on the loops
}

// newLoopListener returns nil: without epoll every client is mochi's.
func newLoopListener(b *Broker, id, addr string, user, pass []byte, log *slog.Logger, tlsConf *tls.Config, loops bool) loopListener {
	return nil
}
