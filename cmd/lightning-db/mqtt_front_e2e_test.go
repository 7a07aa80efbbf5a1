package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lightningdb/lightningdb/internal/mosquittotest"
)

// TestMQTTPublishFrontEnd runs the real server with its defaults plus
// mqtt.subscribe_addr: mosquitto_pub at QoS 0, 1 and 2 (MQTT 3.1.1 and 5)
// on the device port (mqtt.addr, the publish front end's) is stored,
// survives a restart, and reaches a mosquitto_sub subscribed on mochi's
// port (mqtt.subscribe_addr) and one on the device port.
func TestMQTTPublishFrontEnd(t *testing.T) {
	mosquittotest.Need(t, "mosquitto_pub")
	subBin := mosquittotest.Need(t, "mosquitto_sub")
	dir := t.TempDir()
	mochiAddr := freeAddr(t)
	conf := filepath.Join(t.TempDir(), "lightning-db.yaml")
	if err := os.WriteFile(conf, []byte("mqtt:\n  subscribe_addr: "+mochiAddr+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p := startServer(t, dir, "--config", conf)
	poll(t, 10*time.Second, 20*time.Millisecond, func() string {
		if !strings.Contains(p.log.String(), "mqtt publish front end listening") {
			return "front end not listening; log:\n" + p.log.String()
		}
		return ""
	})
	front := mqttAddrOf(p)
	host, port, _ := strings.Cut(mochiAddr, ":")
	fhost, fport, _ := strings.Cut(front, ":")
	sub := exec.Command(subBin, "-h", host, "-p", port, "-t", "fe/#", "-C", "1", "-W", "20")
	var subOut strings.Builder
	sub.Stdout = &subOut
	if err := sub.Start(); err != nil {
		t.Fatal(err)
	}
	subDone := make(chan error, 1)
	go func() { subDone <- sub.Wait() }()
	// Until mosquitto_sub has subscribed, a message may miss it: publish
	// on the front end until one reaches it (it exits after one).
	deadline := time.Now().Add(15 * time.Second)
	for got := false; !got; {
		mosquittoPub(t, front, "fe/warm", 1, "warm")
		select {
		case err := <-subDone:
			if err != nil || strings.TrimSpace(subOut.String()) != "warm" {
				t.Fatalf("mosquitto_sub on mochi's port: %v: %q", err, subOut.String())
			}
			got = true
		case <-time.After(100 * time.Millisecond):
			if time.Now().After(deadline) {
				t.Fatal("a message published on the front end never reached mosquitto_sub on mochi's port")
			}
		}
	}
	i := 0
	for _, v := range []string{"mqttv311", "mqttv5"} {
		for q := 0; q <= 2; q++ {
			mosquittoPub(t, front, "fe/a", q, "fe,n=1 v="+string(rune('0'+i))+" 170000000000000000"+string(rune('0'+i)), "-V", v)
			i++
		}
	}
	mosquittoPub(t, front, "fe/ret", 1, "fe,n=2 v=7 1700000000000000007", "-r")
	out, err := exec.Command(subBin, "-h", fhost, "-p", fport, "-t", "fe/ret", "-C", "1", "-W", "10").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "fe,n=2 v=7 1700000000000000007" {
		t.Fatalf("mosquitto_sub on the front end: %v: %q", err, out)
	}
	want := `{"type":"float","v":[0,1,2,3,4,5],"t":[1700000000000000000,1700000000000000001,1700000000000000002,1700000000000000003,1700000000000000004,1700000000000000005]}`
	poll(t, 10*time.Second, 20*time.Millisecond, func() string {
		if got := values(t, p.export(`{__name__="fe_v"}`), `fe_v{db=mqtt,n=1}`); got != want {
			return "got " + got
		}
		return ""
	})
	p.stop()
	p = startServer(t, dir, "--config", conf)
	if got := values(t, p.export(`{__name__="fe_v"}`), `fe_v{db=mqtt,n=1}`); got != want {
		t.Fatalf("after a restart: got %s, want %s", got, want)
	}
}
