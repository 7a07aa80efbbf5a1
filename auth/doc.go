// Package auth holds who may do what: API tokens with scopes (read, write,
// admin), each optionally limited to databases or label matchers, the
// token file they are kept in (hashed), the credentials HTTP clients send
// them in, the principal a request carries in its context, and the audit
// log. It imports nothing of ours; cmd wires it into every
// route (docs/security.md).
package auth
