package main

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"

	"github.com/lightningdb/lightningdb/internal/mosquittotest"
)

// TestMQTTSharedSubscriptionServers: two real servers, configured with
// the same mqtt.subscriptions topic filter $share/ldb/plant/# (and their
// own client IDs), consume one mosquitto. mosquitto_pub publishes
// shareN QoS 1 messages, each one sample of its own timestamp; together
// the servers store each exactly once, and each stores some (the
// "Many devices" path of docs/fleet.md).
func TestMQTTSharedSubscriptionServers(t *testing.T) {
	const shareN = 200
	m := mosquittotest.Start(t)
	var ps []*proc
	for i := range 2 {
		conf := subscriptionConfig(t, m, fmt.Sprintf("ldb-share-%d", i), `        - filter: "$share/ldb/plant/#"
          qos: 1
`)
		p := startServer(t, t.TempDir(), "--config", conf, "--mqtt-addr", "")
		waitFor(t, func() bool {
			return strings.Contains(metricsText(t, p), `lightningdb_mqtt_subscriber_connected{source="plant"} 1`)
		})
		ps = append(ps, p)
	}
	var lines strings.Builder
	for i := range shareN {
		fmt.Fprintf(&lines, "share v=%di %d\n", i, 1700000000000000000+int64(i))
	}
	host, port, _ := strings.Cut(m.Addr, ":")
	pub := exec.Command(mosquittotest.Need(t, "mosquitto_pub"), "-h", host, "-p", port, "-t", "plant/a", "-q", "1", "-l")
	pub.Stdin = strings.NewReader(lines.String())
	if out, err := pub.CombinedOutput(); err != nil {
		t.Fatalf("mosquitto_pub -l: %v\n%s", err, out)
	}
	counts := make([]int, len(ps))
	seen := map[int64]int{}
	waitFor(t, func() bool {
		clear(seen)
		total := 0
		for i, p := range ps {
			counts[i] = 0
			for _, e := range p.export(`{__name__="share_v"}`) {
				for _, ts := range e.Timestamps {
					seen[ts]++
				}
				counts[i] += len(e.Timestamps)
			}
			total += counts[i]
		}
		return total >= shareN
	})
	t.Logf("servers stored %v", counts)
	if len(seen) != shareN {
		t.Fatalf("stored %d distinct timestamps, want %d", len(seen), shareN)
	}
	for ts, n := range seen {
		if n != 1 {
			t.Errorf("timestamp %d stored %d times", ts, n)
		}
	}
	for i, n := range counts {
		if n == 0 {
			t.Errorf("server %d stored nothing: the group did not split the stream", i)
		}
	}
}
