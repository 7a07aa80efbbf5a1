package main

import (
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"
)

// fleetOptions configure -fleet.
type fleetOptions struct {
	duration   time.Duration // publishing time of each run
	serverCPUs string        // taskset -c list for the brokers and consumers
	qos        []int         // 0 and 1 (nats-server's MQTT has no QoS 2)
	clients    []int         // rows to run; nil: every row
	deathsOnly bool          // skip the throughput table
}

// fleetLoad is one row: clients publishers, each at rate messages per
// second (0: as fast as the acknowledgements come).
type fleetLoad struct {
	clients int
	rate    float64
}

// fleetLoads: many devices at a low rate (10,000 msgs/s offered), fewer
// at a high one (50,000 msgs/s offered), and the same as fast as the
// acknowledgements come (at QoS 0, as fast as TCP takes them: a flood
// the brokers shed).
var fleetLoads = []fleetLoad{{10000, 1}, {1000, 50}, {1000, 0}}

// fleetResult is one measured run of a fleet setup.
type fleetResult struct {
	rate        float64       // messages/s delivered to the consumers (stored, or counted by a discarding one)
	brokerCPU   time.Duration // per message delivered
	consumerCPU time.Duration // per message, the Lightning DB processes (0: an in-process discarding consumer)
	peakRSS     int64         // broker
	perConn     float64       // broker RSS growth per publisher connection, bytes
	lost        int64         // published but not delivered when the run ended
}

// runFleet measures the two ingest paths of issue #23 for large fleets
// side by side, the brokers and the Lightning DB consumers pinned to
// -server-cpus and the publishers in this process:
//
//   - mosquitto, consumed through $share/ldb/bench/# by two members: two
//     discarding subscribers (the broker's share), then two Lightning DB
//     processes (mqttbench -subscribe, storing with a WAL commit);
//   - nats-server's MQTT listener (JetStream on), consumed by a discarding
//     core NATS subscriber on bench.> (the broker's share), then by one
//     Lightning DB process subscribed over MQTT to bench/#.
//
// Then, for each QoS, what a consumer's death does (runDeaths).
func runFleet(o fleetOptions) error {
	m, cleanup, err := newMatrix(matrixOptions{serverCPUs: o.serverCPUs, duration: o.duration})
	if err != nil {
		return err
	}
	defer cleanup()
	if _, err := natsBinary(); err != nil {
		return err
	}
	if o.deathsOnly {
		return m.runDeaths(o)
	}
	type setup struct {
		name string
		run  func(qos byte, l fleetLoad) (fleetResult, error)
	}
	setups := []setup{
		{"mosquitto $share, 2 discarding", func(q byte, l fleetLoad) (fleetResult, error) { return m.fleetMosquitto(q, l, false) }},
		{"mosquitto $share -> 2 Lightning DB", func(q byte, l fleetLoad) (fleetResult, error) { return m.fleetMosquitto(q, l, true) }},
		{"nats-server MQTT, discarding NATS sub", func(q byte, l fleetLoad) (fleetResult, error) { return m.fleetNats(q, l, false) }},
		{"nats-server MQTT -> Lightning DB (MQTT sub)", func(q byte, l fleetLoad) (fleetResult, error) { return m.fleetNats(q, l, true) }},
		{"nats-server MQTT -> JetStream stream on bench.> (file, R1; no consumer)", m.fleetNatsStream},
	}
	fmt.Printf("servers pinned: %v; %v per run; raw MQTT 3.1.1 publishers, one message in flight each\n", m.pin != nil, o.duration)
	fmt.Println("cells: delivered msgs/s; broker µs CPU/msg (+ Lightning DB µs CPU/msg); broker peak RSS; broker RSS per publisher connection; not delivered at the end")
	fmt.Println()
	head := []string{"QoS", "publishers x rate"}
	for _, s := range setups {
		head = append(head, s.name)
	}
	head = append(head, "nats discarding / mosquitto discarding", "nats -> LDB / mosquitto -> LDB", "nats stream / mosquitto -> LDB")
	fmt.Printf("| %s |\n|%s\n", strings.Join(head, " | "), strings.Repeat("---|", len(head)))
	for _, q := range o.qos {
		if q < 0 || q > 1 {
			return fmt.Errorf("-fleet -qos %d: want 0 or 1 (nats-server's MQTT has no QoS 2)", q)
		}
		for _, l := range fleetLoads {
			if o.clients != nil && !slices.Contains(o.clients, l.clients) {
				continue
			}
			if publishRate > 0 {
				l.rate = publishRate
			}
			cells := []string{strconv.Itoa(q), l.String()}
			var rs []fleetResult
			for _, s := range setups {
				r, err := s.run(byte(q), l)
				if err != nil {
					return fmt.Errorf("%s qos=%d %s: %w", s.name, q, l, err)
				}
				rs = append(rs, r)
				cells = append(cells, r.String())
			}
			cells = append(cells, ratio(rs[2].rate, rs[0].rate), ratio(rs[3].rate, rs[1].rate), ratio(rs[4].rate, rs[1].rate))
			fmt.Printf("| %s |\n", strings.Join(cells, " | "))
		}
	}
	fmt.Println()
	return m.runDeaths(o)
}

func (l fleetLoad) String() string {
	if l.rate == 0 {
		return fmt.Sprintf("%d x max", l.clients)
	}
	return fmt.Sprintf("%d x %g/s", l.clients, l.rate)
}

func (r fleetResult) String() string {
	s := fmt.Sprintf("%.0f msgs/s; %.1f µs", r.rate, float64(r.brokerCPU.Nanoseconds())/1e3)
	if r.consumerCPU > 0 {
		s += fmt.Sprintf(" (+ %.1f µs)", float64(r.consumerCPU.Nanoseconds())/1e3)
	}
	s += fmt.Sprintf("; %s; %.1f KiB/conn", mib(r.peakRSS), r.perConn/1024)
	if r.lost > 0 {
		s += fmt.Sprintf("; %d not delivered", r.lost)
	}
	return s
}

// fleetMosquitto: mosquitto with two $share/ldb/bench/# members, either
// discarding subscribers in this process or Lightning DB processes.
func (m *matrix) fleetMosquitto(qos byte, l fleetLoad, store bool) (fleetResult, error) {
	mq, addr, err := m.startMosquitto()
	if err != nil {
		return fleetResult{}, err
	}
	defer stop(mq)
	const filter = "$share/ldb/bench/#"
	if !store {
		var subs []*rawSubscriber
		for i := range 2 {
			s, err := subscribeRawOpts(addr, filter, subOptions{clientID: fmt.Sprintf("ldb%d", i), qos: qos, clean: true})
			if err != nil {
				return fleetResult{}, err
			}
			defer s.close()
			subs = append(subs, s)
		}
		return m.fleetMeasure(mq, nil, addr, func() int64 { return subs[0].received.Load() + subs[1].received.Load() }, qos, l)
	}
	var procs []*exec.Cmd
	var stats []string
	for i := range 2 {
		st := freeAddr()
		p, err := m.start(m.self, "-subscribe", "tcp://"+addr, "-filter", filter, "-sub-name", fmt.Sprintf("ldb%d", i),
			"-qos", strconv.Itoa(int(qos)), "-pprof", st)
		if err != nil {
			return fleetResult{}, err
		}
		defer stop(p)
		procs, stats = append(procs, p), append(stats, st)
	}
	if err := waitSubscribed(stats...); err != nil {
		return fleetResult{}, err
	}
	return m.fleetMeasure(mq, procs, addr, storedSum(stats...), qos, l)
}

// fleetNats: nats-server's MQTT listener, consumed by a discarding core
// NATS subscriber on bench.> or by a Lightning DB process subscribed over
// MQTT to bench/#.
func (m *matrix) fleetNats(qos byte, l fleetLoad, store bool) (fleetResult, error) {
	ns, err := m.startNats()
	if err != nil {
		return fleetResult{}, err
	}
	defer ns.stop()
	if !store {
		s, err := subscribeNats(ns.nats, "bench.>", "", false)
		if err != nil {
			return fleetResult{}, err
		}
		defer s.kill()
		return m.fleetMeasure(ns.cmd, nil, ns.mqtt, s.received.Load, qos, l)
	}
	st := freeAddr()
	p, err := m.start(m.self, "-subscribe", "tcp://"+ns.mqtt, "-filter", "bench/#", "-sub-name", "ldb0",
		"-qos", strconv.Itoa(int(qos)), "-pprof", st)
	if err != nil {
		return fleetResult{}, err
	}
	defer stop(p)
	if err := waitSubscribed(st); err != nil {
		return fleetResult{}, err
	}
	return m.fleetMeasure(ns.cmd, []*exec.Cmd{p}, ns.mqtt, storedSum(st), qos, l)
}

// fleetNatsStream: nats-server's MQTT listener with a JetStream stream of
// our own capturing bench.> (what a Lightning DB JetStream consumer would
// read); delivered is what the stream stored. This is the broker's share
// of that path: a pull consumer (nats.go) would add the deliveries and
// acknowledgements on top.
func (m *matrix) fleetNatsStream(qos byte, l fleetLoad) (fleetResult, error) {
	ns, err := m.startNats()
	if err != nil {
		return fleetResult{}, err
	}
	defer ns.stop()
	if err := createStream(ns.nats, "DEVICES", "bench.>"); err != nil {
		return fleetResult{}, err
	}
	return m.fleetMeasure(ns.cmd, nil, ns.mqtt, func() int64 { return streamMessages(ns.nats, "DEVICES") }, qos, l)
}

// waitSubscribed waits until each Lightning DB process at stats
// connected to its broker.
func waitSubscribed(stats ...string) error {
	for _, st := range stats {
		if err := waitFor(func() bool { s, err := readStats(st); return err == nil && s["connects"] > 0 }); err != nil {
			return fmt.Errorf("subscriber did not connect: %w", err)
		}
	}
	// paho reports the connection before the SUBACK; give the
	// subscription the time to be in place.
	time.Sleep(500 * time.Millisecond)
	return nil
}

// storedSum counts the messages stored by the processes at stats (one
// sample each).
func storedSum(stats ...string) func() int64 {
	return func() int64 {
		var n int64
		for _, st := range stats {
			v := storedAt(st, 1)()
			if v < 0 {
				return -1
			}
			n += v
		}
		return n
	}
}

// fleetMeasure publishes l to addr (one sample a message) and waits until
// done counts every message published or maxDrain passed.
func (m *matrix) fleetMeasure(broker *exec.Cmd, consumers []*exec.Cmd, addr string, done func() int64, qos byte, l fleetLoad) (fleetResult, error) {
	cpu := func(ps ...*exec.Cmd) (d time.Duration) {
		for _, p := range ps {
			d += procCPU(p)
		}
		return d
	}
	rss0 := settledRSS(broker.Process.Pid)
	var bcpu0, ccpu0 time.Duration
	var base, rss1 int64
	saved := publishRate
	publishRate = l.rate
	defer func() { publishRate = saved }()
	lr, err := load("raw", addr, l.clients, qos, 1, m.o.duration, func() {
		rss1 = procStatus(broker.Process.Pid, "VmRSS")
		bcpu0, ccpu0, base = cpu(broker), cpu(consumers...), done()
	})
	if err != nil {
		return fleetResult{}, err
	}
	n := int64(0)
	end := lr.start.Add(lr.elapsed)
	for deadline := time.Now().Add(maxDrain); ; time.Sleep(50 * time.Millisecond) {
		d := done()
		if d < 0 {
			return fleetResult{}, errors.New("consumer stats unavailable")
		}
		if d-base != n {
			n, end = d-base, time.Now()
		}
		if n >= lr.msgs || time.Now().After(deadline) || (time.Since(end) > 5*time.Second && time.Now().After(lr.start.Add(lr.elapsed+5*time.Second))) {
			break
		}
	}
	return fleetResult{rate: float64(n) / end.Sub(lr.start).Seconds(), brokerCPU: perMsg(cpu(broker)-bcpu0, n),
		consumerCPU: perMsg(cpu(consumers...)-ccpu0, n), peakRSS: procStatus(broker.Process.Pid, "VmHWM"),
		perConn: float64(rss1-rss0) / float64(l.clients), lost: lr.msgs - n}, nil
}
