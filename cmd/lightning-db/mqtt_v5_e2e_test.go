package main

import (
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/lightningdb/lightningdb/auth"
	"github.com/lightningdb/lightningdb/internal/mosquittotest"
)

// pub5 runs mosquitto_pub as an MQTT 5 client at QoS 1 and returns what
// it printed: on a PUBACK of 0x80 or more it warns ("Warning: Publish 1
// failed: <reason>.") and prints the reason string, and exits 0.
func pub5(t testing.TB, addr, topic, msg string, extra ...string) string {
	t.Helper()
	pub := mosquittotest.Need(t, "mosquitto_pub")
	host, port, _ := strings.Cut(addr, ":")
	args := append([]string{"-h", host, "-p", port, "-V", "mqttv5", "-q", "1", "-t", topic, "-m", msg}, extra...)
	out, err := exec.Command(pub, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("mosquitto_pub %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// TestMQTT5Properties publishes with mosquitto_pub -V mqttv5 to the real
// server: user properties become labels by rule, the content type and
// the payload format indicator select the payload format, topic aliases
// resolve, and each refusal comes with its reason code and a reason
// string that says what was wrong.
func TestMQTT5Properties(t *testing.T) {
	mosquittotest.Need(t, "mosquitto_pub")
	conf := filepath.Join(t.TempDir(), "lightning-db.yaml")
	require.NoError(t, os.WriteFile(conf, []byte(`mqtt:
  topics:
    - filter: num/#
      name: reading
      user_property_labels: [site]
    - filter: "#"
      user_property_labels: [site, line]
`), 0o644))
	p := startServer(t, t.TempDir(), "--config", conf)
	addr := mqttAddrOf(p)
	up := func(k, v string) []string { return []string{"-D", "publish", "user-property", k, v} }
	ok := func(out string) {
		t.Helper()
		require.NotContains(t, out, "failed", "PUBACK not success")
	}

	ok(pub5(t, addr, "a", "m,k=1 v=1 1700000000000000000", append(append(up("site", "north"), up("line", "l2")...), up("other", "x")...)...))
	ok(pub5(t, addr, "a", "m,site=south v=2 1700000000000000000", up("site", "north")...)) // the payload's tag wins
	ok(pub5(t, addr, "a", `{"temp":1.5}`, append([]string{"-D", "publish", "content-type", "application/json"}, up("site", "north")...)...))
	ok(pub5(t, addr, "a", "lp v=3 1700000000000000000", "-D", "publish", "content-type", "application/vnd.influx.line-protocol"))
	ok(pub5(t, addr, "num/1", "42", "-D", "publish", "payload-format-indicator", "1"))
	ok(pub5(t, addr, "num/1", "lp2 v=4 1700000000000000000", "-D", "publish", "content-type", "text/plain; format=line"))

	// Topic alias: mosquitto_pub -l sends the topic with the first
	// message only, the alias with the others.
	pub := mosquittotest.Need(t, "mosquitto_pub")
	host, port, _ := strings.Cut(addr, ":")
	cmd := exec.Command(pub, "-d", "-h", host, "-p", port, "-V", "mqttv5", "-q", "1", "-t", "al/x", "-D", "publish", "topic-alias", "1", "-l")
	cmd.Stdin = strings.NewReader("al v=1 1700000000000000000\nal v=2 1700000001000000000\n")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Contains(t, string(out), "'(null)'", "the second PUBLISH carried no topic")
	require.NotContains(t, string(out), "failed")

	e := p.export(`{__name__=~"m_v|temp|lp_v|reading|lp2_v|al_v"}`)
	for key, want := range map[string]string{
		`m_v{db=mqtt,k=1,line=l2,site=north}`: `[1]`,
		`m_v{db=mqtt,site=south}`:             `[2]`,
		`temp{db=mqtt,site=north}`:            `[1.5]`,
		`lp_v{db=mqtt}`:                       `[3]`,
		`reading{db=mqtt}`:                    `[42]`,
		`lp2_v{db=mqtt}`:                      `[4]`,
		`al_v{db=mqtt}`:                       `[1,2]`,
	} {
		require.Equal(t, want, presenceValues(e, key), "%s in %v", key, e)
	}
	require.Len(t, e, 7)

	// Refusals: 0x99 with the parse error as reason string.
	for _, c := range []struct {
		topic, msg string
		args       []string
		reason     string
	}{
		{"a", "garbage", nil, "bad payload: 1 of 1 lines rejected, first: line 1: unable to parse 'garbage'"},
		{"a", "{", []string{"-D", "publish", "content-type", "application/json"}, "bad payload"},
		{"a", "42", []string{"-D", "publish", "payload-format-indicator", "1"},
			"unmapped payload: a number with payload format indicator 1 selects format value, which this rule cannot decode"},
	} {
		out := pub5(t, addr, c.topic, c.msg, c.args...)
		require.Contains(t, out, "Warning: Publish 1 failed: Payload format invalid.", "%s %q", c.topic, c.msg)
		require.Contains(t, out, c.reason)
	}
}

// TestMQTT5NotAuthorized: with tokens and an ACL, an MQTT 5 publish to a
// topic the ACL does not grant gets PUBACK 0x87 (not authorized), the
// connection stays up, and nothing is stored.
func TestMQTT5NotAuthorized(t *testing.T) {
	mosquittotest.Need(t, "mosquitto_pub")
	dir := t.TempDir()
	path := filepath.Join(dir, "tokens.yaml")
	f, err := auth.ReadTokenFile(path)
	require.NoError(t, err)
	alice, _, err := f.Create(auth.TokenEntry{Scopes: []string{"write", "read"}, User: "alice"}, time.Now())
	require.NoError(t, err)
	require.NoError(t, f.Write(path))
	acl := filepath.Join(dir, "acl")
	require.NoError(t, os.WriteFile(acl, []byte("user alice\ntopic write sensors/alice/#\n"), 0o600))
	conf := filepath.Join(dir, "config.yaml")
	require.NoError(t, os.WriteFile(conf, []byte("mqtt:\n  acl_file: "+acl+"\n"), 0o600))
	p := startServer(t, t.TempDir(), "--token-file", path, "--config", conf)
	addr := mqttAddrOf(p)
	cred := []string{"-u", "alice", "-P", alice}
	require.NotContains(t, pub5(t, addr, "sensors/alice/t", "granted v=1 1700000000000000000", cred...), "failed")
	out := pub5(t, addr, "sensors/bob/t", "denied v=1 1700000000000000000", cred...)
	require.Contains(t, out, "Warning: Publish 1 failed: Not authorized.")
	require.Contains(t, out, "not authorized")
	p.token = alice
	resp, err := p.get("/api/v1/export?match[]=" + url.QueryEscape(`{__name__=~"granted_v|denied_v"}`))
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, `{"metric":{"__name__":"granted_v","db":"mqtt"},"type":"float","values":[1],"timestamps":[1700000000000000000]}`,
		strings.TrimSpace(string(body)))
}

// TestMQTT5QuotaExceeded: storage over its memtable budget refuses the
// write; an MQTT 5 publisher gets PUBACK 0x97 (quota exceeded) with a
// reason string saying to send it again.
func TestMQTT5QuotaExceeded(t *testing.T) {
	mosquittotest.Need(t, "mosquitto_pub")
	p := startServer(t, t.TempDir(), "--memtable-budget", "1")
	out := pub5(t, mqttAddrOf(p), "a", "q v=1 1700000000000000000")
	require.Contains(t, out, "Warning: Publish 1 failed: Quota exceeded.")
	require.Contains(t, out, "not stored, send it again")
}

// TestMQTT5SeriesLimit: storage refuses a new series over --max-series;
// an MQTT 5 publisher whose every sample was refused gets PUBACK 0x97
// with the refusal as reason string (MQTT 3.1.1: success, counted).
func TestMQTT5SeriesLimit(t *testing.T) {
	mosquittotest.Need(t, "mosquitto_pub")
	p := startServer(t, t.TempDir(), "--max-series", "1")
	addr := mqttAddrOf(p)
	require.NotContains(t, pub5(t, addr, "a", "one v=1 1700000000000000000"), "failed")
	out := pub5(t, addr, "a", "two v=1 1700000000000000000")
	require.Contains(t, out, "Warning: Publish 1 failed: Quota exceeded.")
	require.Contains(t, out, "rejected by storage: 1 samples: series limit reached")
	mosquittoPub(t, addr, "a", 1, "three v=1 1700000000000000000") // MQTT 3.1.1: acknowledged
	e := p.export(`{__name__=~"one_v|two_v|three_v"}`)
	require.Len(t, e, 1, "%v", e)
}

// TestMQTTSubscriberMQTT5 subscribes the real server to a real mosquitto
// with protocol_version 5: messages published with mosquitto_pub -V
// mqttv5 keep their user properties (labels by rule) and content type
// (the format), are acknowledged after the commit, and an unparseable
// one is dead-lettered.
func TestMQTTSubscriberMQTT5(t *testing.T) {
	m := mosquittotest.Start(t)
	conf := filepath.Join(t.TempDir(), "lightning-db.yaml")
	require.NoError(t, os.WriteFile(conf, []byte(`mqtt:
  subscriptions:
    - name: plant5
      brokers: ["tcp://`+m.Addr+`"]
      client_id: ldb-v5
      protocol_version: 5
      dead_letter_topic: dead
      max_reconnect_interval: 1s
      topics:
        - filter: num/#
          name: reading
        - filter: a/#
          user_property_labels: [site]
`), 0o644))
	p := startServer(t, t.TempDir(), "--config", conf, "--mqtt-addr", "")
	waitFor(t, func() bool {
		return strings.Contains(metricsText(t, p), `lightningdb_mqtt_subscriber_connected{source="plant5"} 1`)
	})
	up := []string{"-D", "publish", "user-property", "site", "north"}
	pub5(t, m.Addr, "a/1", "m v=1 1700000000000000000", up...)
	pub5(t, m.Addr, "a/1", `{"temp":1.5}`, append([]string{"-D", "publish", "content-type", "application/json"}, up...)...)
	pub5(t, m.Addr, "num/1", "42", "-D", "publish", "payload-format-indicator", "1")
	pub5(t, m.Addr, "a/1", "garbage")
	e := waitExport(t, p, `{__name__=~"m_v|temp|reading"}`, func(e map[string]exported) bool { return len(e) == 3 })
	for key, want := range map[string]string{
		`m_v{db=mqtt,site=north}`:  `[1]`,
		`temp{db=mqtt,site=north}`: `[1.5]`,
		`reading{db=mqtt}`:         `[42]`,
	} {
		require.Equal(t, want, presenceValues(e, key), "%s in %v", key, e)
	}
	poll(t, 20*time.Second, 20*time.Millisecond, func() string {
		met := metricsText(t, p)
		if strings.Contains(met, `lightningdb_mqtt_dead_letters_total{source="plant5"} 1`) &&
			strings.Contains(met, `lightningdb_mqtt_ack_latency_seconds_count{qos="1",source="plant5"} 4`) {
			return ""
		}
		var mq []string
		for _, l := range strings.Split(met, "\n") {
			if strings.HasPrefix(l, "lightningdb_mqtt_") && !strings.Contains(l, "_bucket") {
				mq = append(mq, l)
			}
		}
		return "no dead letter, or not 4 acks:\n" + strings.Join(mq, "\n") + "\nlog:\n" + p.log.String()
	})
}
