package mqtt

import (
	"sync"

	mochi "github.com/mochi-mqtt/server/v2"
)

// Authorizer decides who may connect to the embedded broker, publish and
// subscribe (BrokerOptions.Auth). cmd implements it over the token store
// and an ACL file.
type Authorizer interface {
	// Authenticate checks a CONNECT's credentials; who is handed to
	// Allow for the connection's publishes and subscriptions.
	// remote is the client's address, for the audit log.
	Authenticate(username, password []byte, clientID, remote string) (who any, ok bool)
	// Allow reports whether the connection may publish to topic (write)
	// or subscribe to the filter topic.
	Allow(who any, username, clientID, topic string, write bool) bool
}

// clientAuth remembers what Authenticate said of each connection until
// it ends.
type clientAuth struct {
	a   Authorizer
	who sync.Map // *mochi.Client -> any
}

func (c *clientAuth) authenticate(cl *mochi.Client, user, pass []byte) bool {
	who, ok := c.a.Authenticate(user, pass, cl.ID, cl.Net.Remote)
	if ok {
		c.who.Store(cl, who)
	}
	return ok
}

func (c *clientAuth) allow(cl *mochi.Client, topic string, write bool) bool {
	who, ok := c.who.Load(cl)
	return ok && c.a.Allow(who, string(cl.Properties.Username), cl.ID, topic, write)
}

func (c *clientAuth) forget(cl *mochi.Client) { c.who.Delete(cl) }
