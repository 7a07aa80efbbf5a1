package main

import (
	"crypto/subtle"
	"fmt"
	"sync/atomic"

	"github.com/lightningdb/lightningdb/auth"
	"github.com/lightningdb/lightningdb/ingest/mqtt"
)

// mqttAuth is the embedded broker's mqtt.Authorizer once authentication
// is on or mqtt.acl_file is set. A client connects with a token as its
// password and the token's ID or user (lightning-admin token create
// --user) as its username, or with mqtt.username and mqtt.password;
// publishing needs the write scope, subscribing the read scope, and both
// what the ACL file grants. Anonymous clients are refused once any user
// exists (tokens or mqtt.username).
type mqttAuth struct {
	s          *server
	user, pass []byte
	acl        atomic.Pointer[auth.ACL] // nil: no ACL file
}

var _ mqtt.Authorizer = (*mqttAuth)(nil)

// mqttUser is the principal of mqtt.username: every scope.
var mqttUser = &auth.Principal{ID: "mqtt.username", Perm: auth.Full.Perm}

// newMQTTAuth returns nil when neither authentication nor an ACL file is
// configured: the broker then keeps mqtt.username/password alone.
func (s *server) newMQTTAuth(c MQTTConfig) (*mqttAuth, error) {
	if !s.auth.enabled() && c.ACLFile == "" {
		return nil, nil
	}
	m := &mqttAuth{s: s, user: []byte(c.Username), pass: []byte(c.Password)}
	return m, m.reloadACL()
}

// reloadACL reads mqtt.acl_file again; on error the old ACL stays.
func (m *mqttAuth) reloadACL() error {
	path := m.s.cfg.MQTT.ACLFile
	if path == "" {
		return nil
	}
	acl, err := auth.ReadACL(path)
	if err != nil {
		return fmt.Errorf("mqtt.acl_file: %w", err)
	}
	m.acl.Store(acl)
	return nil
}

// Authenticate implements mqtt.Authorizer.
func (m *mqttAuth) Authenticate(user, pass []byte, clientID, remote string) (any, bool) {
	if len(m.user) > 0 && subtle.ConstantTimeCompare(user, m.user)&subtle.ConstantTimeCompare(pass, m.pass) == 1 {
		return mqttUser, true
	}
	if !m.s.auth.enabled() && len(m.user) == 0 {
		return auth.Full, true // an ACL file alone: anonymous clients, as mosquitto's
	}
	p, ok := m.s.auth.store.Load().Authenticate(string(pass))
	u := string(user)
	if ok && (p.ID == auth.LegacyID || u == p.ID || (p.User != "" && u == p.User)) {
		return p, true
	}
	ev := auth.Event{Event: "auth_failure", Source: remote, Method: "MQTT CONNECT", TokenID: auth.ClaimedID(string(pass)),
		Detail: fmt.Sprintf("mqtt client %q user %q: invalid token or username", clientID, u)}
	if err := m.s.auth.audit.Log(ev); err != nil {
		m.s.log.Error("audit log", "err", err)
	}
	return nil, false
}

// Allow implements mqtt.Authorizer.
func (m *mqttAuth) Allow(who any, user, clientID, topic string, write bool) bool {
	p, _ := who.(*auth.Principal)
	need := auth.Read
	if write {
		need = auth.Write
	}
	if p == nil || !p.Has(need) {
		return false
	}
	if p != mqttUser && p != auth.Full && p.ID != auth.LegacyID && !m.s.auth.store.Load().Known(p.ID) {
		return false // revoked since the client connected
	}
	acl := m.acl.Load()
	return acl == nil || acl.Allow(user, clientID, topic, write)
}
