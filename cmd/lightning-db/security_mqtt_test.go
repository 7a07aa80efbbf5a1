package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
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

// TestMQTTTokensAndACL: with tokens configured the embedded broker
// refuses anonymous clients and wrong tokens; a token connects under its
// user name; publishes need the write scope and what the ACL file grants
// (topic lines per user, pattern lines with %u and %c); subscriptions the
// read scope and the ACL. Tested with mosquitto_pub and mosquitto_sub.
func TestMQTTTokensAndACL(t *testing.T) {
	pub := mosquittotest.Need(t, "mosquitto_pub")
	sub := mosquittotest.Need(t, "mosquitto_sub")
	dir := t.TempDir()
	path := filepath.Join(dir, "tokens.yaml")
	f, err := auth.ReadTokenFile(path)
	require.NoError(t, err)
	alice, _, err := f.Create(auth.TokenEntry{Scopes: []string{"write"}, User: "alice"}, time.Now())
	require.NoError(t, err)
	bob, _, err := f.Create(auth.TokenEntry{Scopes: []string{"read"}, User: "bob"}, time.Now())
	require.NoError(t, err)
	reader, _, err := f.Create(auth.TokenEntry{Scopes: []string{"read"}}, time.Now())
	require.NoError(t, err)
	require.NoError(t, f.Write(path))
	acl := filepath.Join(dir, "acl")
	require.NoError(t, os.WriteFile(acl, []byte(`# mosquitto format
user alice
topic write sensors/alice/#
user bob
topic read sensors/#
pattern write devices/%u/%c/#
`), 0o600))
	conf := filepath.Join(dir, "config.yaml")
	require.NoError(t, os.WriteFile(conf, []byte("mqtt:\n  acl_file: "+acl+"\n"), 0o600))
	p := startServer(t, t.TempDir(), "--token-file", path, "--config", conf)
	defer p.stop()
	host, port, _ := strings.Cut(mqttAddrOf(p), ":")
	publish := func(user, pw, id, topic, msg string) error {
		args := []string{"-h", host, "-p", port, "-q", "1", "-t", topic, "-m", msg, "-i", id}
		if user != "" {
			args = append(args, "-u", user, "-P", pw)
		}
		out, err := exec.Command(pub, args...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		return nil
	}

	require.Error(t, publish("", "", "anon", "sensors/alice/t", "anon v=1"), "anonymous publish")
	require.Error(t, publish("alice", "nope", "a1", "sensors/alice/t", "wrong v=1"), "wrong token")
	require.Error(t, publish("mallory", alice, "a1", "sensors/alice/t", "stolen v=1"), "alice's token as another user")

	// bob listens on sensors/# (read scope, ACL read).
	sc := exec.Command(sub, "-h", host, "-p", port, "-q", "1", "-t", "sensors/#", "-u", "bob", "-P", bob, "-i", "b1", "-C", "1", "-W", "20", "-v")
	out, err := sc.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, sc.Start())
	defer sc.Process.Kill()
	// Subscribed once a retained-free publish reaches it: publish until bob's line arrives.
	got := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(out).ReadString('\n')
		got <- line
	}()
	var line string
	poll(t, 20*time.Second, 100*time.Millisecond, func() string {
		if err := publish("alice", alice, "a1", "sensors/alice/t", "ok,dev=a v=1"); err != nil {
			return "alice's publish: " + err.Error()
		}
		select {
		case line = <-got:
			return ""
		default:
			return "bob got nothing yet"
		}
	})
	require.Equal(t, "sensors/alice/t ok,dev=a v=1\n", line)
	sc.Wait()

	require.NoError(t, publish("alice", alice, "c1", "devices/alice/c1/x", "dev_ok v=1"), "%%u/%%c pattern")
	// Refused publishes: not stored (MQTT 3.1.1 clients are disconnected).
	_ = publish("alice", alice, "c1", "sensors/bob/t", "denied_topic v=1")
	_ = publish("alice", alice, "c1", "devices/alice/c2/x", "denied_client v=1")
	_ = publish("bob", bob, "b2", "sensors/bob/t", "denied_scope v=1")
	require.NoError(t, publish("alice", alice, "c1", "devices/alice/c1/y", "last v=1"))

	resp, err := tokenClient(reader).Get(p.url("/api/v1/label/__name__/values?") + url.Values{}.Encode())
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var names struct{ Data []string }
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&names))
	require.ElementsMatch(t, []string{"ok_v", "dev_ok_v", "last_v"}, names.Data)
}
