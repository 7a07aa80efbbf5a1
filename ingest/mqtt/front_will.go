//go:build linux

package mqtt

import (
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
)

// The MQTT 5 Will Delay Interval on the publish front end. A client whose
// connection closes without DISCONNECT 0x00 (or with 0x04) has its will
// published after willDelay; if the client ID connects again before, on
// the front end (takeover) or on mochi's port (closeID), the will is
// dropped [MQTT-3.1.3-9]. Presence records the close at once, as for a
// will without delay; the will is stored, retained and sent to
// subscribers (sendWill) only when it goes. Delays are counted on the
// listener's clock (frontListener.now) and checked by every loop's sweep,
// about once a second: a will goes at most a second late. Wills still
// waiting when the broker closes are not sent, as with mochi.

// delayedWill is the will of a client whose connection closed, waiting
// for its delay.
type delayedWill struct {
	c   *frontConn // what sendWill reads of the connection: ID, credentials, will
	due time.Time  // on the listener's clock
}

// willDelay returns how long the will of the MQTT 5 CONNECT pk waits
// after its connection closes: its Will Delay Interval, at most the
// session expiry interval as the CONNACK announces it (capped at
// maxSessionExpiry). An absent session expiry interval is 0, the session
// ends with the connection, and the will goes at once (MQTT 5 3.1.3.2.2:
// the will waits for the delay or the end of the session, whichever
// comes first).
// (mochi's listener caps the delay only when the client sent a session
// expiry interval.)
func willDelay(pk *packets.Packet, maxSessionExpiry time.Duration) time.Duration {
	d := time.Duration(pk.Connect.WillProperties.WillDelayInterval) * time.Second
	var exp time.Duration
	if pk.Properties.SessionExpiryIntervalFlag {
		exp = min(time.Duration(pk.Properties.SessionExpiryInterval)*time.Second, maxSessionExpiry)
	}
	return min(d, exp)
}

// disconnectWillDelay returns the will delay of c after its MQTT 5
// DISCONNECT 0x04 with body: a Session Expiry Interval in the DISCONNECT
// replaces the CONNECT's [MQTT 5 3.14.2.2.2] and bounds the delay as
// well. A DISCONNECT without one, or whose properties do not decode,
// leaves the delay as it was; so does one of a client whose delay is 0
// (no will delay, or a session expiry of 0 in the CONNECT, which the
// DISCONNECT may not raise).
func disconnectWillDelay(c *frontConn, body []byte, maxSessionExpiry time.Duration) time.Duration {
	if c.willDelay == 0 || c.will == nil || len(body) < 3 {
		return c.willDelay
	}
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Disconnect, Remaining: len(body)}, ProtocolVersion: 5}
	if err := mochiDecode(func() error { return pk.DisconnectDecode(body) }); err != nil || !pk.Properties.SessionExpiryIntervalFlag {
		return c.willDelay
	}
	exp := min(time.Duration(pk.Properties.SessionExpiryInterval)*time.Second, maxSessionExpiry)
	return min(time.Duration(c.will.Properties.WillDelayInterval)*time.Second, exp)
}

// publishWill publishes the will of c, which was dropped: at once when it
// has no delay, otherwise when its delay is over (sendDueWills). A
// connection taken over, or one whose client ID is connected again
// already, has its delayed will dropped. With MaxClients wills waiting,
// one more goes at once.
func (l *frontListener) publishWill(c *frontConn) {
	if c.willDelay <= 0 {
		l.sendWill(c)
		return
	}
	if c.why == "session taken over" {
		return // the new connection is the session's [MQTT-3.1.3-9]
	}
	w := delayedWill{c: &frontConn{id: c.id, who: c.who, user: c.user, will: c.will}, due: l.now().Add(c.willDelay)}
	l.mu.Lock()
	// drop forgot c: an ID held is held by a newer connection.
	back := l.closed || l.ids[c.id] != nil
	full := len(l.wills) >= l.b.lim.maxClients
	if !back && !full {
		l.wills[c.id] = w
	}
	l.mu.Unlock()
	switch {
	case back:
		return
	case full:
		l.sendWill(c)
		return
	}
	// A client of mochi's port with the ID: closeID may have run before
	// the will was put.
	if cl, ok := l.b.srv.Clients.Get(c.id); ok && !cl.Net.Inline && !cl.Closed() {
		l.mu.Lock()
		if l.wills[c.id].c == w.c {
			delete(l.wills, c.id)
		}
		l.mu.Unlock()
	}
}

// sendDueWills sends the wills whose delay is over at now (the
// listener's clock).
func (l *frontListener) sendDueWills(now time.Time) {
	l.mu.Lock()
	if len(l.wills) == 0 || l.closed {
		l.mu.Unlock()
		return
	}
	var due []*frontConn
	for id, w := range l.wills {
		if !now.Before(w.due) {
			due = append(due, w.c)
			delete(l.wills, id)
		}
	}
	l.mu.Unlock()
	for _, c := range due {
		l.sendWill(c)
	}
}
