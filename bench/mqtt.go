package bench

import (
	"context"
	"fmt"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// MQTTOptions shape an MQTT publishing run.
type MQTTOptions struct {
	Clients     int  // publishing clients, one TCP connection each
	QoS         byte // 0 or 1 (1: latency is publish to PUBACK)
	MaxDuration time.Duration
}

// BuildMQTT drains g into per-client message payloads: one line of line
// protocol per message on topic devices/<shard>, each point going to client
// Shard%clients so a device always publishes on one connection.
func BuildMQTT(g Generator, clients int) (topics [][]string, payloads [][][]byte, samples [][]int) {
	clients = max(clients, 1)
	topics = make([][]string, clients)
	payloads = make([][][]byte, clients)
	samples = make([][]int, clients)
	var p Point
	for g.Next(&p) {
		c := max(p.Shard, 0) % clients
		topics[c] = append(topics[c], fmt.Sprintf("devices/%d", p.Shard))
		payloads[c] = append(payloads[c], AppendLine(nil, &p))
		samples[c] = append(samples[c], len(p.Fields))
	}
	return topics, payloads, samples
}

// PublishMQTT publishes the prepared messages to the broker at addr, each
// client one message in flight at a time, and measures publish-to-ack
// latency (for QoS 0: until the message is written to the connection).
func PublishMQTT(ctx context.Context, addr string, topics [][]string, payloads [][][]byte, samples [][]int, o MQTTOptions) IngestResult {
	if o.MaxDuration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.MaxDuration)
		defer cancel()
	}
	results := make([]IngestResult, len(payloads))
	clients := make([]mqtt.Client, len(payloads))
	// Connect everyone first so that connection set-up is not timed.
	for i := range clients {
		opts := mqtt.NewClientOptions().AddBroker("tcp://" + addr).
			SetClientID(fmt.Sprintf("lightning-bench-%d", i)).SetCleanSession(true).
			SetAutoReconnect(false).SetConnectTimeout(5 * time.Second).
			SetWriteTimeout(30 * time.Second)
		c := mqtt.NewClient(opts)
		tok := c.Connect()
		if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			for _, d := range clients[:i] {
				d.Disconnect(100)
			}
			return IngestResult{FirstError: fmt.Sprintf("mqtt connect %s: %v", addr, tok.Error()), Errors: 1}
		}
		clients[i] = c
	}
	var wg sync.WaitGroup
	start := time.Now()
	for i, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := &results[i]
			for j, msg := range payloads[i] {
				if ctx.Err() != nil {
					return
				}
				t0 := time.Now()
				tok := c.Publish(topics[i][j], o.QoS, false, msg)
				if !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
					r.Errors++
					r.Rejected += int64(samples[i][j])
					if r.FirstError == "" {
						r.FirstError = fmt.Sprintf("publish: %v", tok.Error())
					}
					continue
				}
				r.Requests++
				r.Samples += int64(samples[i][j])
				r.Latencies = append(r.Latencies, time.Since(t0))
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	for _, c := range clients {
		c.Disconnect(250)
	}
	var total IngestResult
	for _, r := range results {
		total.Requests += r.Requests
		total.Samples += r.Samples
		total.Rejected += r.Rejected
		total.Errors += r.Errors
		total.Latencies = append(total.Latencies, r.Latencies...)
		if total.FirstError == "" {
			total.FirstError = r.FirstError
		}
	}
	total.Elapsed = elapsed
	return total
}
