package mqtt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/lightningdb/lightningdb/series"
)

// Presence series (docs/mqtt.md, "Device presence").
const (
	// PresenceMetric is 1 when a client connects (or its status topic
	// says online) and 0 when it goes (or its status topic says offline),
	// at the time of the event; label client_id.
	PresenceMetric = "mqtt_client_connected"
	// DisconnectsMetric counts a client's disconnections by reason since
	// the server started (a counter: it restarts at 0 with the server);
	// labels client_id and reason.
	DisconnectsMetric = "mqtt_client_disconnects_total"
	// captureClientID is the template capture a presence rule takes the
	// client ID from.
	captureClientID = "client_id"
)

// Disconnect reasons (the reason label of DisconnectsMetric).
const (
	goneDisconnect     = "disconnect"           // the client sent DISCONNECT (no will)
	goneDisconnectWill = "disconnect_with_will" // MQTT 5 DISCONNECT 0x04: the will is sent
	goneLost           = "connection_lost"      // the connection closed without DISCONNECT: the will is sent
	goneKeepAlive      = "keep_alive"           // nothing heard for 1.5 keep alives: the will is sent
	goneShutdown       = "server_shutdown"      // the broker closed
	goneError          = "error"                // the broker closed it: protocol error, limit, storage failure
)

// Bounds of the presence writer's state.
const (
	presenceMaxPending = 10_000  // events waiting for their Append; more are dropped (counted)
	presenceMaxCounts  = 100_000 // (client, reason) counters; over it they restart at 0
)

// presence records the embedded broker's clients connecting and going
// as samples (BrokerOptions.Presence). Events come from the publish
// loop's goroutines and mochi's connection goroutines, which must not
// wait for a commit: they are queued in the order they happen and one
// goroutine appends them through the Ingestor's committer.
//
// A client ID can change hands (a session takeover, the publish loop
// handing a connection to mochi): each connect names its owner (the
// connection), and a disconnect counts only from the connection that
// owns the ID, so the old connection's end never marks the new one
// offline. mu protects owners, counts, last and queue.
type presence struct {
	in      *Ingestor
	db      string
	dbLabel string
	log     interface{ Debug(string, ...any) }
	now     func() time.Time

	mu     sync.Mutex
	owners map[string]any     // client ID -> connection
	counts map[string]float64 // client ID \x00 reason -> disconnections
	last   int64              // timestamp of the last event, ns: events get distinct, rising times
	queue  []presenceEvent
	closed bool

	kick chan struct{} // capacity 1
	done chan struct{}
}

type presenceEvent struct {
	id     string
	up     bool
	reason string  // down only
	count  float64 // down only: DisconnectsMetric's new value
	ts     int64
}

func newPresence(in *Ingestor, log interface{ Debug(string, ...any) }) *presence {
	p := &presence{in: in, db: in.opts.DB, dbLabel: in.opts.Lines.DBLabel, log: log, now: time.Now,
		owners: map[string]any{}, counts: map[string]float64{},
		kick: make(chan struct{}, 1), done: make(chan struct{})}
	go p.run()
	return p
}

// connect records that owner (a connection) holds id.
func (p *presence) connect(id string, owner any) {
	if p == nil || id == "" {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.owners[id] = owner
	p.pushLocked(presenceEvent{id: id, up: true})
}

// disconnect records that owner's connection with id ended for reason,
// unless another connection took the ID over meanwhile.
func (p *presence) disconnect(id string, owner any, reason string) {
	if p == nil || id == "" || reason == "" {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if cur, ok := p.owners[id]; !ok || cur != owner {
		return
	}
	delete(p.owners, id)
	if len(p.counts) >= presenceMaxCounts {
		clear(p.counts) // a counter reset, which rate() and increase() handle
	}
	key := id + "\x00" + reason
	p.counts[key]++
	p.pushLocked(presenceEvent{id: id, reason: reason, count: p.counts[key]})
}

func (p *presence) pushLocked(e presenceEvent) {
	if p.closed {
		return
	}
	if len(p.queue) >= presenceMaxPending {
		p.in.m.presenceDropped.Inc()
		return
	}
	e.ts = p.now().UnixNano()
	if e.ts <= p.last {
		e.ts = p.last + 1
	}
	p.last = e.ts
	p.queue = append(p.queue, e)
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// run appends the queued events until close, then what is left.
func (p *presence) run() {
	var b series.Batch
	var sb series.Builder
	for {
		_, open := <-p.kick
		p.mu.Lock()
		q := p.queue
		p.queue = nil
		p.mu.Unlock()
		if len(q) > 0 {
			p.write(&b, &sb, q)
		}
		if !open {
			close(p.done)
			return
		}
	}
}

// write appends events, retrying a failed Append a few times (storage
// overloaded): a presence change is worth a short wait, not a stuck queue.
func (p *presence) write(b *series.Batch, sb *series.Builder, q []presenceEvent) {
	b.Reset()
	for _, e := range q {
		tags := []string{captureClientID, e.id}
		v := 0.0
		if e.up {
			v = 1
		}
		if err := addSeries(b, sb, PresenceMetric, tags, nil, p.dbLabel, p.db, series.TypeFloat); err != nil {
			p.log.Debug("mqtt presence: client ID not usable as a label", "client", truncate(e.id), "err", err)
			continue
		}
		b.AppendFloat(e.ts, v)
		if !e.up {
			if err := addSeries(b, sb, DisconnectsMetric, tags, []string{"reason", e.reason}, p.dbLabel, p.db, series.TypeFloat); err == nil {
				b.AppendFloat(e.ts, e.count)
			}
		}
	}
	if b.Len() == 0 {
		return
	}
	wait := 100 * time.Millisecond
	for try := 0; ; try++ {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		res := p.in.c.submit(ctx, b)
		cancel()
		if res.err == nil {
			p.in.cnt.samples.Add(int64(res.accepted))
			return
		}
		p.mu.Lock()
		closing := p.closed
		p.mu.Unlock()
		if try == 4 || closing { // at Close, one try: the committer may be gone
			p.in.m.presenceDropped.Add(float64(len(q)))
			p.log.Debug("mqtt presence: events not stored", "events", len(q), "err", res.err)
			return
		}
		time.Sleep(wait)
		wait *= 2
	}
}

// close stops taking events and waits until the queued ones are written.
func (p *presence) close() {
	if p == nil {
		return
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	p.mu.Unlock()
	close(p.kick)
	<-p.done
}

// mochiGone names why mochi's client cl went (its stop cause).
func mochiGone(cl *mochi.Client, err error) string {
	cause := cl.StopCause()
	if cause == nil {
		cause = err
	}
	var code packets.Code
	switch {
	case errors.Is(cause, packets.ErrSessionTakenOver):
		return "" // not gone: the new connection holds the ID
	case cause == nil, errors.Is(cause, packets.CodeDisconnect):
		return goneDisconnect
	case errors.Is(cause, packets.CodeDisconnectWillMessage):
		return goneDisconnectWill
	case errors.Is(cause, packets.ErrServerShuttingDown):
		return goneShutdown
	case errors.Is(cause, os.ErrDeadlineExceeded):
		return goneKeepAlive
	case errors.Is(cause, io.EOF), errors.Is(cause, net.ErrClosed), errors.Is(cause, io.ErrUnexpectedEOF):
		return goneLost
	case errors.As(cause, &code):
		return goneError
	}
	var ne net.Error
	if errors.As(cause, &ne) || strings.Contains(cause.Error(), "connection reset") {
		return goneLost
	}
	return goneError
}

// presenceDecoder is the decoder of a presence rule (Rule.Presence): the
// payload is a device's status (online/offline, 1/0, true/false, ...),
// the client ID the template's +client_id capture; it adds one sample of
// PresenceMetric at the receive time. An empty payload (a retained status
// being deleted) adds nothing.
type presenceDecoder struct {
	r       *rule
	dbLabel string
}

// compilePresence checks a presence rule and gives it its decoder.
func compilePresence(c *rule, o *Options) (*rule, error) {
	switch {
	case c.Format != "":
		return nil, fmt.Errorf("rule %q: a presence rule takes no format (its payloads are online/offline)", c.Filter)
	case c.tmpl == nil || !c.tmpl.captures(captureClientID):
		return nil, fmt.Errorf("rule %q: a presence rule needs a template capturing +%s (e.g. devices/+%s/status)", c.Filter, captureClientID, captureClientID)
	}
	c.dec = &presenceDecoder{r: c, dbLabel: o.Lines.DBLabel}
	return c, nil
}

func (d *presenceDecoder) decode(dst *series.Batch, topic string, payload []byte, now int64) error {
	var n nameBuilder
	if err := n.fromTopic(d.r, topic); err != nil {
		return err
	}
	var id string
	for i := 0; i+1 < len(n.tags); i += 2 {
		if n.tags[i] == captureClientID {
			id = n.tags[i+1]
		}
	}
	s := bytes.TrimSpace(payload)
	if len(s) == 0 {
		return nil
	}
	up, ok := parseStatus(s)
	if !ok {
		return fmt.Errorf("%w: presence status %q: want online/offline, 1/0, true/false, connected/disconnected, up/down", ErrSyntax, truncate(string(s)))
	}
	v := 0.0
	if up {
		v = 1
	}
	var b series.Builder
	if err := addSeries(dst, &b, PresenceMetric, []string{captureClientID, id}, nil, d.dbLabel, d.r.DB, series.TypeFloat); err != nil {
		return err
	}
	dst.AppendFloat(now, v)
	return nil
}

// parseStatus reads a status payload, case-insensitively; a JSON string
// ("online") is taken as its content.
func parseStatus(s []byte) (up, ok bool) {
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		s = s[1 : len(s)-1]
	}
	switch strings.ToLower(string(s)) {
	case "online", "1", "true", "connected", "up", "on":
		return true, true
	case "offline", "0", "false", "disconnected", "down", "off", "lost", "dead":
		return false, true
	}
	return false, false
}
