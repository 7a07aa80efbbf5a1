package main

import (
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestAlertRules checks deploy/prometheus/alerts.yml with promtool (check
// rules, and the unit tests of alerts_test.yml, which fire the down, disk,
// overload and flush alerts from made-up series), then that every
// lightningdb_* metric it names is one a real server exports.
func TestAlertRules(t *testing.T) {
	promtool := needTool(t, "promtool", "prometheus")
	for _, args := range [][]string{
		{"check", "rules", "../../deploy/prometheus/alerts.yml"},
		{"test", "rules", "../../deploy/prometheus/alerts_test.yml"},
	} {
		out, err := exec.Command(promtool, args...).CombinedOutput()
		require.NoError(t, err, "promtool %v:\n%s", args, out)
		require.Contains(t, string(out), "SUCCESS")
	}

	rules, err := os.ReadFile("../../deploy/prometheus/alerts.yml")
	require.NoError(t, err)
	p := startServer(t, t.TempDir())
	resp, err := http.Get(p.url("/metrics"))
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	exported := map[string]bool{}
	for _, l := range strings.Split(string(body), "\n") {
		if name, _, ok := strings.Cut(l, " "); ok && !strings.HasPrefix(l, "#") {
			name, _, _ = strings.Cut(name, "{")
			exported[name] = true
		}
	}
	// Vectors with no series until an event: MQTT subscriptions (none
	// here) and failed MQTT messages. Their names are checked in the source.
	lazy := map[string]string{
		"lightningdb_mqtt_subscriber_connected":  "../../ingest/mqtt/metrics.go",
		"lightningdb_mqtt_messages_failed_total": "../../ingest/mqtt/metrics.go",
	}
	names := regexp.MustCompile(`\b(lightningdb_[a-z0-9_]+|process_[a-z_]+|go_[a-z_]+)\b`).FindAllString(string(rules), -1)
	require.NotEmpty(t, names)
	for _, n := range names {
		if src, ok := lazy[n]; ok {
			code, err := os.ReadFile(src)
			require.NoError(t, err)
			require.Contains(t, string(code), `"`+strings.TrimPrefix(n, "lightningdb_")+`"`, "%s not defined in %s", n, src)
			continue
		}
		require.True(t, exported[n], "alerts.yml names %s, which the server does not export", n)
	}
}
