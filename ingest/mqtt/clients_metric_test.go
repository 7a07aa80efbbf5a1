package mqtt

import (
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
)

// TestClientGauges: mqtt_clients_connected follows connections,
// mqtt_clients also counts the sessions the broker keeps for clients that
// left (the figure max_clients bounds).
func TestClientGauges(t *testing.T) {
	reg := prometheus.NewRegistry()
	in, err := New(newMemAppender(), Options{DB: "iot", Registerer: reg})
	require.NoError(t, err)
	b, err := NewBroker(in, BrokerOptions{Addr: "127.0.0.1:0"})
	require.NoError(t, err)
	require.NoError(t, b.Serve())
	defer b.Close()
	want := func(connected, held int) {
		t.Helper()
		var c, h int64
		if !eventually(10*time.Second, func() bool {
			c, h = in.m.clientCounts()
			return c == int64(connected) && h == int64(held)
		}) {
			t.Fatalf("clients: %d connected, %d held; want %d, %d", c, h, connected, held)
		}
		mfs, err := reg.Gather()
		require.NoError(t, err)
		got := map[string]float64{}
		for _, mf := range mfs {
			if strings.HasPrefix(mf.GetName(), "mqtt_clients") {
				got[mf.GetName()] = mf.GetMetric()[0].GetGauge().GetValue()
			}
		}
		require.Equal(t, map[string]float64{"mqtt_clients": float64(held), "mqtt_clients_connected": float64(connected)}, got)
	}
	want(0, 0)
	clean := connect(t, b.Addr(), "clean", nil)
	kept := connect(t, b.Addr(), "kept", func(o *paho.ClientOptions) { o.SetCleanSession(false) })
	want(2, 2)
	kept.Disconnect(100)
	want(1, 2) // the broker keeps the session
	clean.Disconnect(100)
	want(0, 1)
}
