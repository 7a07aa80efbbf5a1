// Command mqttbench measures MQTT ingestion: publishers on many
// connections, each publishing one message at a time (waiting for the
// PUBACK at QoS 1), for a fixed duration.
//
//	go run ./ingest/mqtt/mqttbench -clients 1000 -qos 1 -samples 1 -duration 10s
//	go run ./ingest/mqtt/mqttbench -broker 127.0.0.1:1884 ...   # an external broker (e.g. mosquitto) with a discarding subscriber
//
// Without -broker it starts the embedded broker over a real engine (fsync
// per group commit) in a temporary directory.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/lightningdb/lightningdb/engine"
	"github.com/lightningdb/lightningdb/ingest/mqtt"
)

func main() {
	clients := flag.Int("clients", 10, "publishing connections")
	qos := flag.Int("qos", 1, "QoS 0 or 1")
	samples := flag.Int("samples", 1, "samples (fields) per message")
	duration := flag.Duration("duration", 10*time.Second, "how long to publish")
	broker := flag.String("broker", "", "external broker host:port (default: embedded broker over a real engine)")
	linger := flag.Duration("linger", 0, "mqtt.Options.Linger")
	inflight := flag.Int("inflight", 0, "mqtt.Options.MaxInFlight (0: default)")
	flag.Parse()
	opts := mqtt.Options{Linger: *linger, MaxInFlight: *inflight}
	if err := run(*clients, byte(*qos), *samples, *duration, *broker, opts); err != nil {
		log.Fatal(err)
	}
}

func run(clients int, qos byte, samples int, duration time.Duration, addr string, opts mqtt.Options) error {
	var in *mqtt.Ingestor
	if addr == "" {
		dir, err := os.MkdirTemp("", "mqttbench")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		db, err := engine.Open(dir, engine.Options{})
		if err != nil {
			return fmt.Errorf("open engine: %w", err)
		}
		defer db.Close()
		if in, err = mqtt.New(db, opts); err != nil {
			return err
		}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go in.Run(ctx)
		b, err := mqtt.NewBroker(in, mqtt.BrokerOptions{Addr: "127.0.0.1:0"})
		if err != nil {
			return err
		}
		defer b.Close()
		if err := b.Serve(); err != nil {
			return err
		}
		addr = b.Addr()
	} else {
		// mosquitto alone: a subscriber that discards, so messages are routed.
		sub := paho.NewClient(paho.NewClientOptions().AddBroker("tcp://" + addr).SetClientID("discard"))
		if t := sub.Connect(); t.Wait() && t.Error() != nil {
			return t.Error()
		}
		defer sub.Disconnect(100)
		if t := sub.Subscribe("bench/#", 0, func(paho.Client, paho.Message) {}); t.Wait() && t.Error() != nil {
			return t.Error()
		}
	}
	var fields []string
	for i := range samples {
		fields = append(fields, fmt.Sprintf("f%d=%d.5", i, i))
	}
	body := strings.Join(fields, ",")

	conns := make([]paho.Client, clients)
	for i := range conns {
		c := paho.NewClient(paho.NewClientOptions().AddBroker("tcp://" + addr).SetClientID(fmt.Sprintf("bench-%d", i)).
			SetAutoReconnect(false).SetConnectTimeout(30 * time.Second))
		if t := c.Connect(); t.Wait() && t.Error() != nil {
			return fmt.Errorf("connect %d: %w", i, t.Error())
		}
		defer c.Disconnect(0)
		conns[i] = c
	}
	var msgs atomic.Int64
	lat := make([][]time.Duration, clients)
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(duration)
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for seq := 0; time.Now().Before(deadline); seq++ {
				p := fmt.Sprintf("bench,dev=d%d %s %d", i, body, start.UnixNano()+int64(seq))
				t0 := time.Now()
				t := c.Publish(fmt.Sprintf("bench/d%d", i), qos, false, p)
				if !t.WaitTimeout(30*time.Second) || t.Error() != nil {
					log.Printf("publish: %v", t.Error())
					return
				}
				if qos > 0 {
					lat[i] = append(lat[i], time.Since(t0))
				}
				msgs.Add(1)
			}
		}()
	}
	wg.Wait()
	el := time.Since(start)
	if in != nil && qos == 0 { // QoS 0: wait for what was accepted to be stored
		for end := time.Now().Add(30 * time.Second); in.Stats().Messages < msgs.Load() && time.Now().Before(end); {
			time.Sleep(10 * time.Millisecond)
		}
		el = time.Since(start)
	}
	all := slices.Concat(lat...)
	slices.Sort(all)
	pct := func(p float64) time.Duration {
		if len(all) == 0 {
			return 0
		}
		return all[int(float64(len(all)-1)*p)]
	}
	n := msgs.Load()
	stored := int64(-1)
	if in != nil {
		stored = in.Stats().Samples
	}
	fmt.Printf("clients=%d qos=%d samples/msg=%d: %.0f msgs/s, %.0f samples/s, p50=%v p99=%v (messages=%d stored samples=%d, %v)\n",
		clients, qos, samples, float64(n)/el.Seconds(), float64(n*int64(samples))/el.Seconds(),
		pct(0.5).Round(10*time.Microsecond), pct(0.99).Round(10*time.Microsecond), n, stored, el.Round(time.Millisecond))
	return nil
}
