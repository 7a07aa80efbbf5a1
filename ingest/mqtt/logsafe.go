package mqtt

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/mochi-mqtt/server/v2/packets"
)

// The broker's log lines must not let a client amplify what it sends
// into the server's log: mochi logs a packet it could not process with
// the packet as an attribute (a 1 MB payload became a 3 MB line of
// decimal bytes) and warns about every client with a keep alive under
// 5 s (0, no keep alive, is legal). safeHandler sits in front of the
// configured handler: packets become their type, QoS, ID, topic and
// payload size; byte slices become their length; strings and errors are
// cut to logTextMax bytes; mochi's keep-alive warning is a debug line;
// and each message at warn level or above is written at most logBurst
// times per logWindow, the next one after a pause carrying how many were
// suppressed.
const (
	logTextMax = 256
	logBurst   = 5
	logWindow  = time.Minute
	logKeysMax = 256 // distinct messages tracked; more share one budget
)

// mochiKeepaliveWarning is the message of mochi's ErrMinimumKeepalive.
const mochiKeepaliveWarning = "client keepalive is below minimum recommended value and may exhibit connection instability"

type safeHandler struct {
	next slog.Handler
	lim  *logLimiter // shared by the handlers WithAttrs/WithGroup derive
}

// newSafeHandler wraps next; now is the clock of the rate limit.
func newSafeHandler(next slog.Handler, now func() time.Time) *safeHandler {
	return &safeHandler{next: next, lim: &logLimiter{now: now, keys: map[string]*logKey{}}}
}

func (h *safeHandler) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

func (h *safeHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == mochiKeepaliveWarning && r.Level > slog.LevelDebug {
		if !h.next.Enabled(ctx, slog.LevelDebug) {
			return nil
		}
		r.Level = slog.LevelDebug
	}
	var suppressed int
	if r.Level >= slog.LevelWarn {
		ok, n := h.lim.allow(r.Message)
		if !ok {
			return nil
		}
		suppressed = n
	}
	out := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(safeAttr(a))
		return true
	})
	if suppressed > 0 {
		out.AddAttrs(slog.Int("suppressed", suppressed))
	}
	return h.next.Handle(ctx, out)
}

func (h *safeHandler) WithAttrs(as []slog.Attr) slog.Handler {
	safe := make([]slog.Attr, len(as))
	for i, a := range as {
		safe[i] = safeAttr(a)
	}
	return &safeHandler{next: h.next.WithAttrs(safe), lim: h.lim}
}

func (h *safeHandler) WithGroup(name string) slog.Handler {
	return &safeHandler{next: h.next.WithGroup(name), lim: h.lim}
}

// safeAttr replaces what could carry a client's bytes by its size or a
// bounded prefix.
func safeAttr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, truncate(v.String()))
	case slog.KindGroup:
		g := v.Group()
		safe := make([]any, len(g))
		for i, x := range g {
			safe[i] = safeAttr(x)
		}
		return slog.Group(a.Key, safe...)
	case slog.KindAny:
	default:
		return slog.Attr{Key: a.Key, Value: v}
	}
	switch x := v.Any().(type) {
	case packets.Packet:
		return packetAttr(a.Key, &x)
	case *packets.Packet:
		if x == nil {
			return a
		}
		return packetAttr(a.Key, x)
	case []byte:
		return slog.Int(a.Key+"_bytes", len(x))
	case []string:
		return slog.String(a.Key, truncate(strings.Join(x, ",")))
	case error:
		return slog.String(a.Key, truncate(x.Error()))
	case fmt.Stringer:
		return slog.String(a.Key, truncate(x.String()))
	case nil:
		return a
	}
	return slog.String(a.Key, fmt.Sprintf("(%T)", v.Any())) // could hold anything a client sent
}

// packetAttr describes a packet without its payload.
func packetAttr(key string, pk *packets.Packet) slog.Attr {
	return slog.Group(key, "type", packets.PacketNames[pk.FixedHeader.Type], "qos", pk.FixedHeader.Qos,
		"id", pk.PacketID, "topic", truncate(pk.TopicName), "payload_bytes", len(pk.Payload),
		"remaining", pk.FixedHeader.Remaining)
}

// truncate cuts s to logTextMax bytes (on a rune boundary), marking the
// cut with the length of the whole.
func truncate(s string) string {
	if len(s) <= logTextMax {
		return s
	}
	cut := logTextMax
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%s... (%d bytes)", s[:cut], len(s))
}

// logLimiter lets each message through logBurst times per logWindow.
type logLimiter struct {
	now  func() time.Time
	mu   sync.Mutex
	keys map[string]*logKey // mu
}

type logKey struct {
	start      time.Time // of the current window
	n          int       // lines written in it
	suppressed int       // lines dropped since the last one written
}

// allow reports whether a line with this message may be written, and how
// many were suppressed before it.
func (l *logLimiter) allow(msg string) (ok bool, suppressed int) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	k := l.keys[msg]
	if k == nil {
		if len(l.keys) >= logKeysMax {
			msg = "" // one budget for the rest
			k = l.keys[msg]
		}
		if k == nil {
			k = &logKey{start: now}
			l.keys[msg] = k
		}
	}
	if now.Sub(k.start) >= logWindow {
		k.start, k.n = now, 0
	}
	if k.n >= logBurst {
		k.suppressed++
		return false, 0
	}
	k.n++
	suppressed, k.suppressed = k.suppressed, 0
	return true, suppressed
}
