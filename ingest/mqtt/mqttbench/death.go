package main

import (
	"fmt"
	"time"
)

// deathLoad is the load of the consumer-death runs: 1,000 publishers at
// 20 messages/s each (20,000 msgs/s), well below every setup's capacity,
// so what goes missing is the death's doing, not overload.
var deathLoad = fleetLoad{1000, 20}

// member is a consumer that can die and come back.
type member interface {
	count() int64  // messages received
	unique() int64 // distinct payloads received
	dups() int64   // deliveries of a payload received before
	kill()
}

func (s *rawSubscriber) count() int64 { return s.received.Load() }
func (s *rawSubscriber) unique() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return int64(len(s.seen))
}
func (s *rawSubscriber) dups() int64 { s.mu.Lock(); defer s.mu.Unlock(); return s.dupCount }
func (s *natsSub) count() int64      { return s.received.Load() }
func (s *natsSub) unique() int64     { s.mu.Lock(); defer s.mu.Unlock(); return int64(len(s.seen)) }
func (s *natsSub) dups() int64       { s.mu.Lock(); defer s.mu.Unlock(); return s.dupCount }

// deathResult is what a consumer death cost.
type deathResult struct {
	published     int64   // acknowledged (QoS 1) or written (QoS 0)
	delivered     int64   // distinct payloads the consumers received, over all incarnations
	dups          int64   // deliveries beyond the first
	survivorShare float64 // while the member was dead: received by the survivors / published (0 with no survivor)
	firstSecond   int64   // received by the member in its first second back
	heldFor       string  // what the broker did with the dead member's messages
}

// runDeaths publishes deathLoad for -duration (at least 15 s) to each
// setup; one consumer is dropped (an RST, nothing acknowledged, as a
// SIGKILLed process) at a third of the run and comes back with the same
// identity at two thirds. Every consumer records each payload, so lost
// and duplicated messages are counted exactly.
func (m *matrix) runDeaths(o fleetOptions) error {
	d := max(o.duration, 15*time.Second)
	fmt.Printf("consumer death: %s publishers, %v; one consumer dropped (RST, nothing acknowledged) at %v and back (same client ID and session flag) at %v\n\n",
		deathLoad, d, d/3, 2*d/3)
	fmt.Println("| QoS | setup | published | delivered (distinct) | lost | duplicates | survivors got, while the member was dead | member's first second back |")
	fmt.Println("|---|---|---|---|---|---|---|---|")
	type setup struct {
		name string
		run  func(qos byte, d time.Duration) (deathResult, error)
	}
	setups := []setup{
		{"mosquitto $share, 2 members, persistent sessions", func(q byte, d time.Duration) (deathResult, error) { return m.deathMosquitto(q, d, false) }},
		{"mosquitto $share, 2 members, clean sessions", func(q byte, d time.Duration) (deathResult, error) { return m.deathMosquitto(q, d, true) }},
		{"nats-server MQTT, core NATS queue group of 2", m.deathNatsQueue},
		{"nats-server MQTT, 1 MQTT subscriber, persistent session", m.deathNatsMQTT},
	}
	for _, q := range o.qos {
		for _, s := range setups {
			r, err := s.run(byte(q), d)
			if err != nil {
				return fmt.Errorf("%s qos=%d: %w", s.name, q, err)
			}
			share := "-"
			if r.survivorShare > 0 {
				share = fmt.Sprintf("%.0f %% of the published", 100*r.survivorShare)
			}
			fmt.Printf("| %d | %s | %d | %d | %d | %d | %s | %d |\n", q, s.name, r.published, r.delivered,
				r.published-r.delivered, r.dups, share, r.firstSecond)
		}
	}
	return nil
}

// deathRun publishes to addr, kills members[0] at d/3, revives it with
// back at 2d/3 and collects the counts once nothing more arrives.
func deathRun(addr string, qos byte, d time.Duration, members []member, back func() (member, error)) (deathResult, error) {
	saved := publishRate
	publishRate = deathLoad.rate
	defer func() { publishRate = saved }()
	pub0 := published.Load()
	type out struct {
		lr  loadResult
		err error
	}
	res := make(chan out, 1)
	started := make(chan struct{})
	go func() {
		lr, err := load("raw", addr, deathLoad.clients, qos, 1, d, func() { close(started) })
		res <- out{lr, err}
	}()
	select {
	case <-started:
	case o := <-res:
		return deathResult{}, o.err
	}
	var r deathResult
	var gone []member
	survivors := func() (n int64) {
		for _, s := range members[1:] {
			n += s.count()
		}
		return n
	}
	time.Sleep(d / 3)
	members[0].kill()
	gone = append(gone, members[0])
	p0, s0 := published.Load(), survivors()
	time.Sleep(d / 3)
	if len(members) > 1 {
		r.survivorShare = float64(survivors()-s0) / float64(published.Load()-p0)
	}
	nb, err := back()
	if err != nil {
		return r, fmt.Errorf("member back: %w", err)
	}
	members[0] = nb
	time.Sleep(time.Second)
	r.firstSecond = nb.count()
	o := <-res
	if o.err != nil {
		return r, o.err
	}
	r.published = published.Load() - pub0
	all := append(gone, members...)
	// Wait for the redeliveries too (nats-server's MQTT consumers redeliver
	// what was not acknowledged after their 30 s AckWait).
	var seen map[uint64]bool
	for deadline := time.Now().Add(maxDrain + 15*time.Second); ; time.Sleep(time.Second) {
		seen = distinct(all)
		if int64(len(seen)) >= r.published || time.Now().After(deadline) {
			break
		}
	}
	for _, s := range all {
		r.dups += s.dups()
	}
	r.delivered = int64(len(seen))
	// Copies over incarnations: a payload seen by two members or
	// incarnations is a duplicate too.
	var per int64
	for _, s := range all {
		per += s.unique()
	}
	r.dups += per - r.delivered
	for _, s := range members {
		s.kill()
	}
	return r, nil
}

// distinct returns the payload hashes the members received.
func distinct(all []member) map[uint64]bool {
	seen := map[uint64]bool{}
	for _, s := range all {
		switch s := s.(type) {
		case *rawSubscriber:
			s.mu.Lock()
			for k := range s.seen {
				seen[k] = true
			}
			s.mu.Unlock()
		case *natsSub:
			s.mu.Lock()
			for k := range s.seen {
				seen[k] = true
			}
			s.mu.Unlock()
		}
	}
	return seen
}

func (m *matrix) deathMosquitto(qos byte, d time.Duration, clean bool) (deathResult, error) {
	mq, addr, err := m.startMosquitto()
	if err != nil {
		return deathResult{}, err
	}
	defer stop(mq)
	const filter = "$share/ldb/bench/#"
	sub := func(id string) (member, error) {
		return subscribeRawOpts(addr, filter, subOptions{clientID: id, qos: qos, clean: clean, record: true})
	}
	var members []member
	for _, id := range []string{"ldb0", "ldb1"} {
		s, err := sub(id)
		if err != nil {
			return deathResult{}, err
		}
		members = append(members, s)
	}
	return deathRun(addr, qos, d, members, func() (member, error) { return sub("ldb0") })
}

func (m *matrix) deathNatsQueue(qos byte, d time.Duration) (deathResult, error) {
	ns, err := m.startNats()
	if err != nil {
		return deathResult{}, err
	}
	defer ns.stop()
	sub := func() (member, error) { return subscribeNats(ns.nats, "bench.>", "ldb", true) }
	var members []member
	for range 2 {
		s, err := sub()
		if err != nil {
			return deathResult{}, err
		}
		members = append(members, s)
	}
	return deathRun(ns.mqtt, qos, d, members, sub)
}

func (m *matrix) deathNatsMQTT(qos byte, d time.Duration) (deathResult, error) {
	ns, err := m.startNats()
	if err != nil {
		return deathResult{}, err
	}
	defer ns.stop()
	sub := func() (member, error) {
		return subscribeRawOpts(ns.mqtt, "bench/#", subOptions{clientID: "ldb0", qos: qos, clean: false, record: true})
	}
	s, err := sub()
	if err != nil {
		return deathResult{}, err
	}
	return deathRun(ns.mqtt, qos, d, []member{s}, sub)
}
