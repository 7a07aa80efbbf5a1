package main

import (
	"encoding/json"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/lightningdb/lightningdb/internal/mosquittotest"
)

// presenceConfig writes a config with presence on, a status-topic rule
// and the given extra topics YAML.
func presenceConfig(t testing.TB, extra string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "lightning-db.yaml")
	cfg := `mqtt:
  presence: true
  topics:
    - template: devices/+client_id/status
      presence: true
` + extra + `    - filter: "#"
`
	if err := os.WriteFile(p, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// presenceValues returns the values (not the times) of a series of the
// export, as JSON, or "" when it is absent.
func presenceValues(e map[string]exported, key string) string {
	s, ok := e[key]
	if !ok {
		return ""
	}
	b, _ := json.Marshal(s.Values)
	return string(b)
}

// waitValues polls the export of selector until series key has exactly
// the values want (JSON), and returns that export.
func waitValues(t testing.TB, p *proc, selector, key, want string) map[string]exported {
	t.Helper()
	var e map[string]exported
	poll(t, 20*time.Second, 20*time.Millisecond, func() string {
		e = p.export(selector)
		if got := presenceValues(e, key); got != want {
			return "series " + key + ": got " + got + ", want " + want + "; log:\n" + p.log.String()
		}
		return ""
	})
	return e
}

// pahoConnect connects a paho MQTT 3.1.1 client; conn receives its TCP
// connection (for the test to kill it).
func pahoConnect(t testing.TB, addr, id string, will bool, conn *net.Conn) paho.Client {
	t.Helper()
	o := paho.NewClientOptions().AddBroker("tcp://" + addr).SetClientID(id).SetAutoReconnect(false).
		SetConnectRetry(false).SetKeepAlive(30 * time.Second)
	if will {
		o.SetWill("devices/"+id+"/status", "offline", 1, true)
	}
	o.SetCustomOpenConnectionFn(func(u *url.URL, _ paho.ClientOptions) (net.Conn, error) {
		c, err := net.Dial("tcp", u.Host)
		if conn != nil {
			*conn = c
		}
		return c, err
	})
	c := paho.NewClient(o)
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("paho connect %s: %v", id, tok.Error())
	}
	return c
}

// TestMQTTPresence runs the real server with presence on and checks the
// presence series value by value over /api/v1/export:
//   - a paho client without a will (the publish loop serves it) connects
//     and disconnects: 1, 0, reason disconnect;
//   - a paho client with a retained will on its status topic (mochi
//     serves it) has its TCP connection reset: the will goes to a
//     mosquitto_sub subscriber, and the series gets 1, then 0 from the
//     will on the status topic, then 0 from the disconnect, reason
//     connection_lost;
//   - mosquitto_pub sets a device's status with retained messages
//     (online, offline) and the will's retained message reaches a later
//     mosquitto_sub;
//   - a client still connected when the server stops gets 0 with reason
//     server_shutdown, read back after a restart.
func TestMQTTPresence(t *testing.T) {
	mosquittotest.Need(t, "mosquitto_pub")
	sub := mosquittotest.Need(t, "mosquitto_sub")
	dir := t.TempDir()
	conf := presenceConfig(t, "")
	p := startServer(t, dir, "--config", conf)
	addr := mqttAddrOf(p)
	const sel = `{__name__=~"mqtt_client_.*"}`

	a := pahoConnect(t, addr, "dev-a", false, nil)
	if tok := a.Publish("plant/a", 1, false, "temp,dev=a v=1 1700000000000000000"); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publish: %v", tok.Error())
	}
	waitValues(t, p, sel, `mqtt_client_connected{client_id=dev-a,db=mqtt}`, `[1]`)
	a.Disconnect(1000)
	waitValues(t, p, sel, `mqtt_client_connected{client_id=dev-a,db=mqtt}`, `[1,0]`)
	waitValues(t, p, sel, `mqtt_client_disconnects_total{client_id=dev-a,db=mqtt,reason=disconnect}`, `[1]`)

	// A will, delivered when the TCP connection is reset.
	var conn net.Conn
	pahoConnect(t, addr, "dev-b", true, &conn)
	waitValues(t, p, sel, `mqtt_client_connected{client_id=dev-b,db=mqtt}`, `[1]`)
	host, port, _ := strings.Cut(addr, ":")
	out := &lockedLog{}
	// stdbuf: mosquitto_sub's debug lines (SUBACK) are printf'd, and its
	// stdout is a pipe.
	live := exec.Command("stdbuf", "-oL", sub, "-d", "-h", host, "-p", port, "-i", "watcher", "-t", "devices/+/status", "-C", "1", "-W", "20",
		"-F", "message %t %p retained=%r")
	live.Stdout, live.Stderr = out, out
	if err := live.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return strings.Contains(out.String(), "received SUBACK") })
	conn.(*net.TCPConn).SetLinger(0) // RST, as a device losing power and its link would
	conn.Close()
	if err := live.Wait(); err != nil {
		t.Fatalf("mosquitto_sub: %v\n%s", err, out)
	}
	if !strings.Contains(out.String(), "message devices/dev-b/status offline retained=0") {
		t.Fatalf("the will did not reach the live subscriber:\n%s", out)
	}
	// 1 connect, 0 the will on the status topic, 0 the disconnect.
	waitValues(t, p, sel, `mqtt_client_connected{client_id=dev-b,db=mqtt}`, `[1,0,0]`)
	waitValues(t, p, sel, `mqtt_client_disconnects_total{client_id=dev-b,db=mqtt,reason=connection_lost}`, `[1]`)

	// The retained will reaches a later subscriber too.
	late, err := exec.Command(sub, "-h", host, "-p", port, "-i", "late", "-t", "devices/dev-b/status", "-C", "1", "-W", "10",
		"-F", "%t %p retained=%r").CombinedOutput()
	if err != nil || strings.TrimSpace(string(late)) != "devices/dev-b/status offline retained=1" {
		t.Fatalf("retained will: %v %q", err, late)
	}

	// Status topics set presence: retained online, then offline.
	// mosquitto_pub exits once its DISCONNECT is sent, before the server
	// has read it: the second "tool" could connect first and take the
	// session over ([1,1,0], 1 in 150 pairs on a loaded machine), so the
	// first one's end is waited for.
	mosquittoPub(t, addr, "devices/dev-c/status", 1, "online", "-r", "-i", "tool")
	waitValues(t, p, sel, `mqtt_client_connected{client_id=tool,db=mqtt}`, `[1,0]`)
	mosquittoPub(t, addr, "devices/dev-c/status", 1, "OFFLINE", "-r", "-i", "tool")
	waitValues(t, p, sel, `mqtt_client_connected{client_id=dev-c,db=mqtt}`, `[1,0]`)
	waitValues(t, p, sel, `mqtt_client_connected{client_id=tool,db=mqtt}`, `[1,0,1,0]`)

	// Still connected at shutdown: 0, reason server_shutdown.
	pahoConnect(t, addr, "dev-d", false, nil)
	waitValues(t, p, sel, `mqtt_client_connected{client_id=dev-d,db=mqtt}`, `[1]`)
	p.stop()
	p = startServer(t, dir, "--config", conf)
	e := waitValues(t, p, sel, `mqtt_client_connected{client_id=dev-d,db=mqtt}`, `[1,0]`)
	want := map[string]string{
		`mqtt_client_connected{client_id=dev-a,db=mqtt}`:                                `[1,0]`,
		`mqtt_client_connected{client_id=dev-b,db=mqtt}`:                                `[1,0,0]`,
		`mqtt_client_connected{client_id=dev-c,db=mqtt}`:                                `[1,0]`,
		`mqtt_client_connected{client_id=dev-d,db=mqtt}`:                                `[1,0]`,
		`mqtt_client_connected{client_id=watcher,db=mqtt}`:                              `[1,0]`,
		`mqtt_client_connected{client_id=late,db=mqtt}`:                                 `[1,0]`,
		`mqtt_client_connected{client_id=tool,db=mqtt}`:                                 `[1,0,1,0]`,
		`mqtt_client_disconnects_total{client_id=dev-a,db=mqtt,reason=disconnect}`:      `[1]`,
		`mqtt_client_disconnects_total{client_id=dev-b,db=mqtt,reason=connection_lost}`: `[1]`,
		`mqtt_client_disconnects_total{client_id=dev-d,db=mqtt,reason=server_shutdown}`: `[1]`,
		`mqtt_client_disconnects_total{client_id=watcher,db=mqtt,reason=disconnect}`:    `[1]`,
		`mqtt_client_disconnects_total{client_id=late,db=mqtt,reason=disconnect}`:       `[1]`,
		`mqtt_client_disconnects_total{client_id=tool,db=mqtt,reason=disconnect}`:       `[1,2]`,
	}
	for k, v := range want {
		if got := presenceValues(e, k); got != v {
			t.Errorf("%s: got %s, want %s", k, got, v)
		}
	}
	if len(e) != len(want) {
		t.Errorf("exported %d presence series, want %d: %v", len(e), len(want), e)
	}
	// The times: dev-d's 0 is later than its 1.
	if d := e[`mqtt_client_connected{client_id=dev-d,db=mqtt}`]; d.Timestamps[1] <= d.Timestamps[0] {
		t.Errorf("dev-d: times %v", d.Timestamps)
	}
}

// TestMQTTSubscriberPresenceStatus: in subscriber mode the status topics
// of another broker (a real mosquitto) set presence too: a retained
// "online" published before Lightning DB subscribes arrives with the
// subscription, a live "offline" follows.
func TestMQTTSubscriberPresenceStatus(t *testing.T) {
	m := mosquittotest.Start(t)
	mosquittoPub(t, m.Addr, "devices/gw1/status", 1, "online", "-r")
	conf := subscriptionConfig(t, m, "ldb-presence", `        - template: devices/+client_id/status
          presence: true
`)
	p := startServer(t, t.TempDir(), "--config", conf, "--mqtt-addr", "")
	const key = `mqtt_client_connected{client_id=gw1,db=mqtt}`
	waitValues(t, p, `mqtt_client_connected`, key, `[1]`)
	mosquittoPub(t, m.Addr, "devices/gw1/status", 1, "offline")
	waitValues(t, p, `mqtt_client_connected`, key, `[1,0]`)
}
