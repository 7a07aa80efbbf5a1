package bench

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/klauspost/compress/s2"
)

// SoakOptions shape a soak run: every protocol at once, at a fixed offered
// rate, against one Lightning DB server, for Duration.
type SoakOptions struct {
	Duration time.Duration
	// Every is the sampling period of the server's vital signs (default 5 s).
	Every time.Duration
	// Rate is the total samples/s offered: half line protocol, 40 % remote
	// write, 10 % MQTT (default 50,000).
	Rate float64
	// Lifetime is how long a series lives before its slot moves to a new
	// one (a new "gen" label); slots are staggered so churn is steady
	// (default 5 min).
	Lifetime time.Duration
	// Retention and Partition are the server's engine retention and
	// partition duration (defaults 5 min and 1 min).
	Retention, Partition time.Duration
	// MQTTClients publish at QoS 1, one message in flight each (default 20).
	MQTTClients int
	// QueryClients each run one PromQL query at a time, every 250 ms
	// (default 2).
	QueryClients int
	// HeapProfile, when set, is where the server's heap profile
	// (/debug/pprof/heap; the server needs --pprof) is saved at the end,
	// before the load stops.
	HeapProfile string
	// Progress receives one line per sample (nil: none).
	Progress func(string)
}

func (o *SoakOptions) defaults() {
	if o.Every <= 0 {
		o.Every = 5 * time.Second
	}
	if o.Rate <= 0 {
		o.Rate = 50_000
	}
	if o.Lifetime <= 0 {
		o.Lifetime = 5 * time.Minute
	}
	if o.Retention <= 0 {
		o.Retention = 5 * time.Minute
	}
	if o.Partition <= 0 {
		o.Partition = time.Minute
	}
	if o.MQTTClients <= 0 {
		o.MQTTClients = 20
	}
	if o.QueryClients <= 0 {
		o.QueryClients = 2
	}
}

// Each series of the soak gets soakHz samples a second; the number of
// live series of a stream is its rate / soakHz.
const (
	soakHz        = 10
	soakFields    = 5
	soakMaxBehind = 5 * time.Second // a stream further behind skips ahead
)

// StreamStats counts what one load stream did; safe for concurrent use.
type StreamStats struct {
	Name     string
	Requests atomic.Int64 // answered 2xx
	Samples  atomic.Int64 // samples acknowledged
	Offered  atomic.Int64 // samples due at the fixed rate
	Skipped  atomic.Int64 // due but never sent: the stream fell behind
	Errors   atomic.Int64 // transport errors and final non-2xx answers
	Retries  atomic.Int64 // 429/503 answers retried
	mu       sync.Mutex
	firstErr string
}

func (s *StreamStats) fail(msg string) {
	s.Errors.Add(1)
	s.mu.Lock()
	if s.firstErr == "" {
		s.firstErr = msg
	}
	s.mu.Unlock()
}

// FirstError is the first error the stream saw ("" when none).
func (s *StreamStats) FirstError() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.firstErr
}

// soakFleet names the series of one stream: slot i lives as generation
// gen(i, t) = floor((t + offset_i) / lifetime), offsets staggered evenly.
type soakFleet struct {
	name     string
	slots    int
	start    time.Time
	lifetime time.Duration
}

func (f soakFleet) gen(slot int, t time.Time) int {
	off := time.Duration(int64(f.lifetime) * int64(slot) / int64(max(f.slots, 1)))
	return int((t.Sub(f.start) + off) / f.lifetime)
}

// point fills p with slot's sample set at t.
func (f soakFleet) point(p *Point, slot int, t time.Time) {
	p.Measurement = f.name
	p.Tags = append(p.Tags[:0],
		Tag{"gen", strconv.Itoa(f.gen(slot, t))},
		Tag{"slot", strconv.Itoa(slot)},
	)
	p.Fields = p.Fields[:0]
	x := float64(t.UnixMilli()%600_000) / 1000
	for k := range soakFields {
		p.Fields = append(p.Fields, Field{Name: "f" + strconv.Itoa(k), Value: math.Round(100*math.Sin(x/60+float64(slot+k))) / 10})
	}
	p.T = t.UnixNano()
	p.Shard = -1
}

// cursor paces a stream: each call to due returns the sample timestamps
// that became due since the last call, one per 1/soakHz, skipping ahead
// (and counting it) when the stream is more than soakMaxBehind late.
type cursor struct {
	next time.Time
	step time.Duration
}

func (c *cursor) due(now time.Time, st *StreamStats, perStep int) []time.Time {
	if late := now.Sub(c.next); late > soakMaxBehind {
		n := int64(late / c.step)
		st.Skipped.Add(n * int64(perStep))
		st.Offered.Add(n * int64(perStep))
		c.next = c.next.Add(time.Duration(n) * c.step)
	}
	var ts []time.Time
	for !c.next.After(now) {
		ts = append(ts, c.next)
		c.next = c.next.Add(c.step)
	}
	st.Offered.Add(int64(len(ts) * perStep))
	return ts
}

// runHTTPStream sends, every 100 ms, the samples that became due, as
// bodies of at most slotsPerBody slots, on one connection.
func runHTTPStream(ctx context.Context, base string, proto Proto, f soakFleet, slotsPerBody int, st *StreamStats) {
	path := "/write?db=" + DB
	if proto == RWv1 {
		path = "/api/v1/write"
	}
	s := &sender{url: base + path, proto: proto, opts: IngestOptions{MaxRetries: 20}, res: &IngestResult{}, stop: func() {},
		client: &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 1, DisableCompression: true}}}
	defer s.client.CloseIdleConnections()
	c := &cursor{next: f.start, step: time.Second / soakHz}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var p Point
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		ts := c.due(time.Now(), st, f.slots*soakFields)
		if len(ts) == 0 {
			continue
		}
		for lo := 0; lo < f.slots; lo += slotsPerBody {
			hi := min(lo+slotsPerBody, f.slots)
			b, err := soakBody(proto, f, lo, hi, ts, &p)
			if err != nil {
				st.fail(err.Error())
				continue
			}
			s.sendCounted(ctx, &b, st)
		}
	}
}

// soakBody encodes slots [lo, hi) at the times ts.
func soakBody(proto Proto, f soakFleet, lo, hi int, ts []time.Time, p *Point) (Body, error) {
	if proto == LPv1 {
		var data []byte
		for _, t := range ts {
			for slot := lo; slot < hi; slot++ {
				f.point(p, slot, t)
				data = AppendLine(data, p)
			}
		}
		return Body{Data: data, Samples: len(ts) * (hi - lo) * soakFields, Shard: -1}, nil
	}
	b := rwBatch{index: map[string]int{}}
	for slot := lo; slot < hi; slot++ {
		for _, t := range ts {
			f.point(p, slot, t)
			b.add(p)
		}
	}
	raw, err := marshalRW(b.series, RW1)
	if err != nil {
		return Body{}, err
	}
	return Body{Data: s2.EncodeSnappy(nil, raw), Samples: b.samples, Series: len(b.series), Shard: -1}, nil
}

// sendCounted sends b (with the bench's retries on 429/503) and moves the
// outcome into st.
func (s *sender) sendCounted(ctx context.Context, b *Body, st *StreamStats) {
	*s.res = IngestResult{}
	s.send(ctx, b)
	r := s.res
	st.Retries.Add(int64(r.Retries))
	st.Samples.Add(r.Samples)
	if r.Errors > 0 && ctx.Err() == nil {
		st.fail(r.FirstError)
		st.Errors.Add(int64(r.Errors - 1))
	} else if r.Errors == 0 {
		st.Requests.Add(int64(r.Requests))
	}
}

// runMQTTStream publishes, from clients connections at QoS 1, one line of
// line protocol per message for each of f.slots devices (device d on
// client d % clients), at perDeviceHz messages a second per device.
func runMQTTStream(ctx context.Context, addr string, f soakFleet, clients int, perDeviceHz float64, st *StreamStats) {
	var wg sync.WaitGroup
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mqttClient(ctx, addr, f, c, clients, perDeviceHz, st)
		}()
	}
	wg.Wait()
}

func mqttClient(ctx context.Context, addr string, f soakFleet, c, clients int, hz float64, st *StreamStats) {
	opts := mqtt.NewClientOptions().AddBroker("tcp://" + addr).
		SetClientID(fmt.Sprintf("lightning-soak-%d", c)).SetCleanSession(true).
		SetAutoReconnect(false).SetConnectTimeout(5 * time.Second).SetWriteTimeout(30 * time.Second)
	cl := mqtt.NewClient(opts)
	if tok := cl.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		st.fail(fmt.Sprintf("mqtt connect %s: %v", addr, tok.Error()))
		return
	}
	defer cl.Disconnect(250)
	var devices []int
	for d := c; d < f.slots; d += clients {
		devices = append(devices, d)
	}
	cur := &cursor{next: f.start, step: time.Duration(float64(time.Second) / hz)}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var p Point
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		for _, t := range cur.due(time.Now(), st, len(devices)*soakFields) {
			for _, d := range devices {
				if ctx.Err() != nil {
					return
				}
				f.point(&p, d, t)
				tok := cl.Publish("devices/"+strconv.Itoa(d), 1, false, AppendLine(nil, &p))
				if !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
					if ctx.Err() == nil {
						st.fail(fmt.Sprintf("mqtt publish: %v", tok.Error()))
					}
					continue
				}
				st.Requests.Add(1)
				st.Samples.Add(soakFields)
			}
		}
	}
}

// soakQueries are the PromQL queries the query clients take in turn; a
// range query covers the last 10 minutes (past retention: it must still
// answer).
var soakQueries = []struct {
	expr   string
	ranged bool
}{
	{`sum(soak_lp_f0{db="bench"})`, false},
	{`count by (gen) (soak_rw_f1)`, false},
	{`max_over_time(soak_lp_f1{slot="7"}[10s])`, true},
	{`sum(rate(soak_rw_f2[30s]))`, true},
	{`avg by (slot) (soak_mqtt_f3{slot=~"1.?"})`, true},
	{`count(soak_mqtt_f0)`, false},
}

// runQueryStream runs the soak queries in turn, one every 250 ms.
func runQueryStream(ctx context.Context, base string, id int, st *StreamStats) {
	client := &http.Client{Timeout: 30 * time.Second}
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for i := id; ; i++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		q := soakQueries[i%len(soakQueries)]
		now := time.Now()
		v := url.Values{"query": {q.expr}, "time": {unixSeconds(now)}}
		path := "/api/v1/query?"
		if q.ranged {
			v = url.Values{"query": {q.expr}, "start": {unixSeconds(now.Add(-10 * time.Minute))},
				"end": {unixSeconds(now)}, "step": {"15"}}
			path = "/api/v1/query_range?"
		}
		st.Offered.Add(1)
		status, body, err := get(ctx, client, base+path+v.Encode())
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			st.fail(fmt.Sprintf("query %s: %v", q.expr, err))
		case status != 200:
			st.fail(fmt.Sprintf("query %s: %d %s", q.expr, status, body[:min(len(body), 200)]))
		default:
			st.Requests.Add(1)
		}
	}
}
