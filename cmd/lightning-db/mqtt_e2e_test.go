package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/lightningdb/lightningdb/internal/mosquittotest"
)

// mosquittoPub publishes one message with mosquitto_pub and fails the
// test when it does not exit 0 (for QoS 1 that means it got its PUBACK).
func mosquittoPub(t testing.TB, addr, topic string, qos int, msg string, extra ...string) {
	t.Helper()
	pub := mosquittotest.Need(t, "mosquitto_pub")
	host, port, _ := strings.Cut(addr, ":")
	args := append([]string{"-h", host, "-p", port, "-t", topic, "-q", string(rune('0' + qos)), "-m", msg}, extra...)
	out, err := exec.Command(pub, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("mosquitto_pub %v: %v\n%s", args, err, out)
	}
}

// mqttAddrOf returns the last --mqtt-addr the server was started with.
func mqttAddrOf(p *proc) string {
	args := p.cmd.Args
	for i := len(args) - 2; i >= 0; i-- {
		if args[i] == "--mqtt-addr" {
			return args[i+1]
		}
	}
	return ""
}

// values returns the values of series key of an export as JSON text.
func values(t testing.TB, e map[string]exported, key string) string {
	t.Helper()
	s, ok := e[key]
	if !ok {
		keys := make([]string, 0, len(e))
		for k := range e {
			keys = append(keys, k)
		}
		t.Fatalf("series %s not exported; have %v", key, keys)
	}
	b, _ := json.Marshal(struct {
		Type string  `json:"type"`
		V    []any   `json:"v"`
		T    []int64 `json:"t"`
	}{s.Type, s.Values, s.Timestamps})
	return string(b)
}

// TestMQTTEmbeddedBrokerDefault is the zero-configuration path: any topic,
// line protocol, db label "mqtt"; mosquitto_pub at QoS 1 returns only after
// the PUBACK, which the server sends after the commit; the data survives a
// restart.
func TestMQTTEmbeddedBrokerDefault(t *testing.T) {
	mosquittotest.Need(t, "mosquitto_pub")
	dir := t.TempDir()
	p := startServer(t, dir)
	addr := mqttAddrOf(p)
	mosquittoPub(t, addr, "anything", 1, "sensor,device=d1 temp=21.5,n=3i,ok=true,fw=\"v1.2\" 1700000000000000000")
	mosquittoPub(t, addr, "a/b/c", 2, "sensor,device=d1 temp=22.5 1700000001000000000\nsensor,device=d2 temp=1e3 1700000001000000000")
	mosquittoPub(t, addr, "x", 1, "not line protocol")
	e := p.export(`{__name__=~"sensor_.*"}`)
	if got, want := values(t, e, `sensor_temp{db=mqtt,device=d1}`), `{"type":"float","v":[21.5,22.5],"t":[1700000000000000000,1700000001000000000]}`; got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
	checks := map[string]string{
		`sensor_temp{db=mqtt,device=d2}`: `{"type":"float","v":[1000],"t":[1700000001000000000]}`,
		`sensor_n{db=mqtt,device=d1}`:    `{"type":"integer","v":[3],"t":[1700000000000000000]}`,
		`sensor_ok{db=mqtt,device=d1}`:   `{"type":"boolean","v":[true],"t":[1700000000000000000]}`,
		`sensor_fw{db=mqtt,device=d1}`:   `{"type":"string","v":["v1.2"],"t":[1700000000000000000]}`,
	}
	for k, want := range checks {
		if got := values(t, e, k); got != want {
			t.Errorf("%s: got %s, want %s", k, got, want)
		}
	}
	if len(e) != 5 {
		t.Errorf("exported %d series, want 5", len(e))
	}
	m := metricsText(t, p)
	for _, want := range []string{
		`lightningdb_mqtt_messages_received_total{filter="#",source="broker"} 3`,
		`lightningdb_mqtt_samples_stored_total{filter="#",source="broker"} 6`,
		`lightningdb_mqtt_parse_errors_total{filter="#",reason="bad payload",source="broker"} 1`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if !strings.Contains(p.log.String(), "mqtt message not stored") {
		t.Errorf("no log line for the parse error; log:\n%s", p.log)
	}
	p.stop()
	p2 := startServer(t, dir)
	if got := values(t, p2.export(`sensor_temp{device="d1"}`), `sensor_temp{db=mqtt,device=d1}`); !strings.Contains(got, "[21.5,22.5]") {
		t.Fatalf("after restart: %s", got)
	}
}

func metricsText(t testing.TB, p *proc) string {
	t.Helper()
	resp, err := http.Get(p.url("/metrics"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// waitExport polls the export until cond holds on it (at most 20 s).
func waitExport(t testing.TB, p *proc, selector string, cond func(map[string]exported) bool) map[string]exported {
	t.Helper()
	var e map[string]exported
	poll(t, 20*time.Second, 50*time.Millisecond, func() string {
		if e = p.export(selector); cond(e) {
			return ""
		}
		return fmt.Sprintf("timed out waiting for %s; have %d series; log:\n%s", selector, len(e), p.log)
	})
	return e
}

// TestMQTTSubscriberPayloadFormats subscribes the real server to a real
// mosquitto and publishes with mosquitto_pub in each payload format; the
// data is read back value by value.
func TestMQTTSubscriberPayloadFormats(t *testing.T) {
	m := mosquittotest.Start(t)
	conf := subscriptionConfig(t, m, "ldb-formats", `        - filter: lp/#
        - template: sensors/+site/+device/+measurement
          format: value
          db: iot
        - filter: tele/+/SENSOR
          format: json
          template: tele/+device/+measurement
          name: tasmota
          json:
            tag_keys: [id]
            time_key: t
            time_format: unix_ms
            path: values
`)
	p := startServer(t, t.TempDir(), "--config", conf, "--mqtt-addr", "")
	waitFor(t, func() bool {
		return strings.Contains(metricsText(t, p), `lightningdb_mqtt_subscriber_connected{source="plant"} 1`)
	})
	mosquittoPub(t, m.Addr, "lp/x", 1, "env,room=k temp=21.5,on=true 1700000000000000000")
	mosquittoPub(t, m.Addr, "sensors/north/d7/temperature", 1, "19.25")
	mosquittoPub(t, m.Addr, "sensors/north/d7/state", 1, "open")
	mosquittoPub(t, m.Addr, "sensors/north/d7/count", 1, "12i")
	mosquittoPub(t, m.Addr, "tele/d1/SENSOR", 1, `{"values":[{"id":"a","v":7,"t":1700000000000},{"id":"b","v":8.5,"t":1700000001000}]}`)
	mosquittoPub(t, m.Addr, "tele/d1/SENSOR", 1, `{"values":[`) // poison: acked, dead-lettered

	e := waitExport(t, p, `{__name__=~"env_.*|temperature|state|count|SENSOR_v"}`, func(e map[string]exported) bool { return len(e) == 7 })
	for key, want := range map[string]string{
		`env_temp{db=mqtt,room=k}`:         `{"type":"float","v":[21.5],"t":[1700000000000000000]}`,
		`env_on{db=mqtt,room=k}`:           `{"type":"boolean","v":[true],"t":[1700000000000000000]}`,
		`SENSOR_v{db=mqtt,device=d1,id=a}`: `{"type":"float","v":[7],"t":[1700000000000000000]}`,
		`SENSOR_v{db=mqtt,device=d1,id=b}`: `{"type":"float","v":[8.5],"t":[1700000001000000000]}`,
	} {
		if got := values(t, e, key); got != want {
			t.Errorf("%s: got %s, want %s", key, got, want)
		}
	}
	for key, want := range map[string]string{
		`temperature{db=iot,device=d7,site=north}`: `"type":"float","v":[19.25]`,
		`state{db=iot,device=d7,site=north}`:       `"type":"string","v":["open"]`,
		`count{db=iot,device=d7,site=north}`:       `"type":"integer","v":[12]`,
	} {
		if got := values(t, e, key); !strings.Contains(got, want) {
			t.Errorf("%s: got %s, want %s", key, got, want)
		}
	}
	waitFor(t, func() bool {
		return strings.Contains(metricsText(t, p), `lightningdb_mqtt_dead_letters_total{source="plant"} 1`)
	})
	met := metricsText(t, p)
	for _, want := range []string{
		`lightningdb_mqtt_parse_errors_total{filter="tele/+/SENSOR",reason="bad payload",source="plant"} 1`,
		`lightningdb_mqtt_messages_received_total{filter="sensors/+/+/+",source="plant"} 3`,
		`lightningdb_mqtt_ack_latency_seconds_count{qos="1",source="plant"} 6`,
	} {
		if !strings.Contains(met, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

// waitFor polls cond (a real process's state: metrics, stats of an
// Ingestor fed by a real broker) every 20 ms for up to 20 s.
func waitFor(t testing.TB, cond func() bool) {
	t.Helper()
	poll(t, 20*time.Second, 20*time.Millisecond, func() string {
		if cond() {
			return ""
		}
		return "timed out"
	})
}
