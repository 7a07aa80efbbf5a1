package mqtt

import (
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/lightningdb/lightningdb/series"
)

// presenceSeq returns the values of metric{client_id=id} in time order,
// comma-separated ("1,0"), and, for DisconnectsMetric, the reasons.
func presenceSeq(a *memAppender, metric, id string) string {
	a.mu.Lock()
	defer a.mu.Unlock()
	type pt struct {
		ts int64
		v  string
	}
	var pts []pt
	for k, v := range a.data {
		at := strings.LastIndex(k, "@")
		key := k[:at]
		if !strings.HasPrefix(key, metric+"{") || !strings.Contains(key, `client_id="`+id+`"`) {
			continue
		}
		ts, _ := strconv.ParseInt(k[at+1:], 10, 64)
		v = strings.TrimPrefix(v, "float:")
		if i := strings.Index(key, `reason="`); i >= 0 {
			v = key[i+8:strings.Index(key[i+8:], `"`)+i+8] + ":" + v
		}
		pts = append(pts, pt{ts, v})
	}
	sort.Slice(pts, func(i, j int) bool { return pts[i].ts < pts[j].ts })
	var out []string
	for _, p := range pts {
		out = append(out, p.v)
	}
	return strings.Join(out, ",")
}

func waitPresence(t *testing.T, a *memAppender, metric, id, want string) {
	t.Helper()
	waitFor(t, 10*time.Second, metric+" "+id+" = "+want, func() bool { return presenceSeq(a, metric, id) == want })
}

// TestBrokerPresenceTakeover: a client ID taken over by a new connection
// (on the publish loop, or from the loop into mochi, or within mochi) is
// never marked offline in between; the last connection's end is.
func TestBrokerPresenceTakeover(t *testing.T) {
	wirePaths(t, func(t *testing.T, opts BrokerOptions) {
		app := newMemAppender()
		opts.Presence = true
		b, _ := startBroker(t, app, opts)
		w1, _ := connectWire(t, b.Addr(), wireConnectOpts{id: "dev"})
		waitPresence(t, app, PresenceMetric, "dev", "1")
		w2, _ := connectWire(t, b.Addr(), wireConnectOpts{id: "dev"}) // takes over
		w1.expectClosedQuietly(5 * time.Second)
		waitPresence(t, app, PresenceMetric, "dev", "1,1")
		// With a will: mochi serves it, and takes over from the loop.
		w3, _ := connectWire(t, b.Addr(), wireConnectOpts{id: "dev", willTopic: "devices/dev/status", willMsg: "offline"})
		w2.expectClosedQuietly(5 * time.Second)
		waitPresence(t, app, PresenceMetric, "dev", "1,1,1")
		w3.write(wireDisconnect)
		w3.expectClosedQuietly(5 * time.Second)
		waitPresence(t, app, PresenceMetric, "dev", "1,1,1,0")
		waitPresence(t, app, DisconnectsMetric, "dev", "disconnect:1")
	})
}

// TestBrokerPresenceReasons: keep alive expiry and a connection closed
// without DISCONNECT are told apart; a client without an ID of its own
// gets no presence series; Close marks who is still connected.
func TestBrokerPresenceReasons(t *testing.T) {
	wirePaths(t, func(t *testing.T, opts BrokerOptions) {
		app := newMemAppender()
		opts.Presence = true
		b, closeB := startBrokerOpts(t, app, Options{DB: "iot"}, opts)
		lost, _ := connectWire(t, b.Addr(), wireConnectOpts{id: "lost"})
		waitPresence(t, app, PresenceMetric, "lost", "1")
		lost.c.Close()
		waitPresence(t, app, DisconnectsMetric, "lost", "connection_lost:1")
		anon, _ := connectWire(t, b.Addr(), wireConnectOpts{})
		connectWire(t, b.Addr(), wireConnectOpts{id: "stay"})
		waitPresence(t, app, PresenceMetric, "stay", "1")
		anon.write(wireDisconnect)
		anon.expectClosedQuietly(5 * time.Second)
		require.True(t, closeB(10*time.Second))
		require.Equal(t, "1,0", presenceSeq(app, PresenceMetric, "stay"))
		require.Equal(t, "server_shutdown:1", presenceSeq(app, DisconnectsMetric, "stay"))
		for _, k := range app.dump(true) {
			require.NotContains(t, k, `client_id=""`)
		}
		ids := map[string]bool{}
		for _, k := range app.dump(true) {
			if strings.HasPrefix(k, PresenceMetric+"{") {
				ids[k[:strings.Index(k, "}")]] = true
			}
		}
		require.Len(t, ids, 2, "presence series: %v", app.dump(true))
	})
}

func TestParseStatus(t *testing.T) {
	for _, c := range []struct {
		in     string
		up, ok bool
	}{
		{"online", true, true}, {"ONLINE", true, true}, {`"online"`, true, true}, {"1", true, true}, {"true", true, true},
		{"offline", false, true}, {"Offline", false, true}, {"0", false, true}, {"false", false, true}, {"lost", false, true},
		{"maybe", false, false}, {`"`, false, false}, {"2", false, false},
	} {
		up, ok := parseStatus([]byte(c.in))
		require.Equal(t, c.ok, ok, c.in)
		require.Equal(t, c.up, up, c.in)
	}
}

// TestPresenceRule: a presence rule needs +client_id and no format; its
// payloads set the presence series, an empty one adds nothing, anything
// else is a bad payload naming what is accepted.
func TestPresenceRule(t *testing.T) {
	o := DefaultOptions()
	o.fill()
	_, err := compileRule(Rule{Filter: "devices/+/status", Presence: true}, &o)
	require.ErrorContains(t, err, "needs a template capturing +client_id")
	_, err = compileRule(Rule{Template: "devices/+client_id/status", Presence: true, Format: FormatJSON}, &o)
	require.ErrorContains(t, err, "takes no format")
	r, err := compileRule(Rule{Template: "devices/+client_id/status", Presence: true}, &o)
	require.NoError(t, err)
	require.Equal(t, "devices/+/status", r.Filter)
	var b series.Batch
	require.NoError(t, r.dec.decode(&b, "devices/d1/status", []byte(" offline\n"), 5))
	require.NoError(t, r.dec.decode(&b, "devices/d1/status", nil, 6))
	require.Equal(t, 1, b.Len())
	canon, _, ts, vals := b.Series(0)
	ls, err := series.UnmarshalLabels(nil, canon)
	require.NoError(t, err)
	require.Equal(t, `mqtt_client_connected{client_id="d1", db="mqtt"}`, ls.String())
	require.Equal(t, []int64{5}, ts)
	require.Equal(t, 0.0, series.AsFloat64(series.TypeFloat, vals[0]))
	err = r.dec.decode(&b, "devices/d1/status", []byte("maybe"), 7)
	require.ErrorIs(t, err, ErrSyntax)
	require.ErrorContains(t, err, `presence status "maybe": want online/offline`)
}

// TestBrokerPresenceKeepAlive: a client silent for 1.5 keep alives goes
// with reason keep_alive (keep alive 1 s, a real 1.5 s); an MQTT 5
// DISCONNECT 0x04 (send my will) is disconnect_with_will.
func TestBrokerPresenceKeepAlive(t *testing.T) {
	t.Run("mochi", func(t *testing.T) {
		t.Parallel()
		app := newMemAppender()
		b, _ := startBroker(t, app, BrokerOptions{Presence: true})
		connectWire(t, b.Addr(), wireConnectOpts{id: "silent", keepalive: 1})
		w := dialWire(t, b.Addr())
		w.write(wireConnect5("v5will"))
		w.expect(pktConnack)
		// Reason 0x04 and an empty property length: mochi 2.7.9 ignores the
		// reason code of a DISCONNECT whose remaining length is 1.
		w.write([]byte{pktDisconnect << 4, 2, 0x04, 0})
		waitFor(t, 5*time.Second, "v5will's disconnect", func() bool { return presenceSeq(app, DisconnectsMetric, "v5will") != "" })
		require.Equal(t, "disconnect_with_will:1", presenceSeq(app, DisconnectsMetric, "v5will"))
		waitPresence(t, app, DisconnectsMetric, "silent", "keep_alive:1")
		require.Equal(t, "1,0", presenceSeq(app, PresenceMetric, "silent"))
	})
}
