// Command mqttbench measures MQTT ingestion: publishers on many
// connections, each publishing one message at a time (waiting for the
// PUBACK at QoS 1, running PUBREC/PUBREL/PUBCOMP at QoS 2), for a fixed
// duration.
//
//	go run ./ingest/mqtt/mqttbench -clients 1000 -qos 1 -samples 1 -duration 10s
//	go run ./ingest/mqtt/mqttbench -broker 127.0.0.1:1884 ...   # an external broker (e.g. mosquitto) with a discarding subscriber
//
// Without -broker it starts the embedded broker over a real engine (fsync
// per group commit) in a temporary directory, in the same process as the
// publishers. To measure the server alone, run it in its own process,
// pinned to one core, and the load in another, pinned to the other:
//
//	taskset -c 0 mqttbench -serve 127.0.0.1:18830 -pprof 127.0.0.1:6060 &
//	taskset -c 1 mqttbench -broker 127.0.0.1:18830 -discard=false -client raw -clients 1000 -qos 1
//
// -matrix runs every load of issue #21 (QoS 0, 1 and 2; 1 and 10 samples
// per message; 10, 1,000 and 10,000 publishers) against mosquitto alone,
// the embedded broker and mosquitto -> Lightning DB, each server in its
// own pinned process, and prints one table with msgs/s, µs CPU per
// message and each server's peak RSS (bench/results/mqtt-matrix.md).
// -qos, -samples and -clients, given as lists, pick rows:
//
//	taskset -c 1 mqttbench -matrix -client raw
//	taskset -c 1 mqttbench -matrix -client raw -qos 2 -clients 10000 -samples 1
//
// -idle N connects N idle clients to mosquitto, the embedded broker and
// nats-server's MQTT listener in turn and prints the RSS growth per
// connection (idle.go). -fleet measures the two ingest paths for large
// device fleets of issue #23, $share on mosquitto and nats-server's MQTT
// listener, and what a consumer's death does (fleet.go, death.go;
// bench/results/fleet.md, docs/fleet.md).
//
// The process raises RLIMIT_NOFILE (the servers it starts inherit it)
// and dials loopback servers from 127.0.0.2, 127.0.0.3, ... so that
// 10,000 publishers never run out of ephemeral ports.
//
// -serve prints, every second with traffic, the messages stored, how they
// were grouped (messages per Append, Appends per WAL group commit) and the
// process's CPU time per message, which depends less than the rate on
// what else the machine runs.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"math/rand/v2"
	"net/http"
	_ "net/http/pprof" // -pprof
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/lightningdb/lightningdb/engine"
	"github.com/lightningdb/lightningdb/ingest"
	"github.com/lightningdb/lightningdb/ingest/mqtt"
	"github.com/lightningdb/lightningdb/series"
)

func main() {
	clients, qos, samples := intList{10}, intList{1}, intList{1}
	flag.Var(&clients, "clients", "publishing connections; with -matrix or -fleet a comma-separated list of the rows to run (default: every row)")
	flag.Var(&qos, "qos", "QoS 0, 1 or 2; with -matrix or -fleet a list, as -clients")
	flag.Var(&samples, "samples", "samples (fields) per message; with -matrix a list, as -clients")
	idle := flag.Int("idle", 0, "measure the memory per idle connection: connect this many idle clients to mosquitto, the embedded broker and nats-server's MQTT listener in turn and print the RSS growth per connection (see idle.go)")
	deaths := flag.Bool("deaths", false, "with -fleet: only the consumer deaths")
	fleet := flag.Bool("fleet", false, "measure the two ingest paths for large device fleets, nats-server's MQTT listener and $share subscriptions on mosquitto (see fleet.go)")
	filter := flag.String("filter", "bench/#", "with -subscribe: the topic filter (e.g. $share/ldb/bench/#)")
	subName := flag.String("sub-name", "bench", "with -subscribe: the subscription's name (its client ID is lightningdb-<name>)")
	rate := flag.Float64("rate", 0, "messages per second per publisher (0: as fast as the acknowledgements come)")
	duration := flag.Duration("duration", 10*time.Second, "how long to publish")
	broker := flag.String("broker", "", "external broker host:port (default: embedded broker over a real engine)")
	client := flag.String("client", "paho", "publisher implementation: paho, or raw (a minimal MQTT 3.1.1 publisher that needs less CPU)")
	discard := flag.Bool("discard", true, "with -broker: subscribe a client that discards to bench/# (mosquitto alone)")
	serve := flag.String("serve", "", "only serve: run the embedded broker over a real engine on this address until SIGINT/SIGTERM")
	flag.StringVar(&subscribe, "subscribe", "", "with -serve: also (with -serve '' only) subscribe to bench/# at -qos on this broker (tcp://host:port) and store what arrives (mosquitto -> Lightning DB)")
	pprofAddr := flag.String("pprof", "", "serve net/http/pprof and /stats (the server's counters as JSON) on this address")
	serverCPUs := flag.String("server-cpus", "0", "with -matrix: taskset -c list the servers run on ('' = not pinned); run the command itself on other CPUs")
	matrix := flag.Bool("matrix", false, "run every load (QoS 0, 1 and 2; 1 and 10 samples per message; 10, 1,000 and 10,000 publishers) against mosquitto alone, the embedded broker and mosquitto -> Lightning DB side by side (see matrix.go); -qos, -samples and -clients pick rows")
	base := flag.String("base", "", "with -matrix: another mqttbench binary (e.g. built from main): compare mosquitto alone, the publish front end of that binary and this one's, side by side")
	row := flag.String("row", "", "with -matrix: only the row qos,samples,publishers (e.g. 1,1,1000; the same as -qos 1 -samples 1 -clients 1000)")
	flag.BoolVar(&frontEnd, "front", false, "with -serve: the address is the publish front end's (BrokerOptions.PublishAddr); mochi listens on a free port")
	flag.DurationVar(&fakeFsync, "fake-fsync", 0, "with -serve: a serial group commit whose every fsync is a sleep of this long replaces the engine (compares front end designs without the disk's noise); with -matrix: given to the embedded servers it starts")
	flag.BoolVar(&noStore, "nostore", false, "store nothing: an appender that returns at once replaces the engine (measures the broker and the hook alone)")
	linger := flag.Duration("linger", 0, "mqtt.Options.Linger")
	inflight := flag.Int("inflight", 0, "mqtt.Options.MaxInFlight (0: default)")
	flag.Parse()
	set := map[string]bool{}
	flag.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if *row != "" { // -row q,s,c is -qos q -samples s -clients c
		var r intList
		if err := r.Set(*row); err != nil || len(r) != 3 {
			log.Fatalf("-row %q: want qos,samples,publishers", *row)
		}
		qos, samples, clients = intList{r[0]}, intList{r[1]}, intList{r[2]}
		set["qos"], set["samples"], set["clients"] = true, true, true
	}
	if err := raiseNoFile(); err != nil {
		log.Printf("raise RLIMIT_NOFILE: %v (10,000 connections may fail)", err)
	}
	subFilter, subscribeName, publishRate = *filter, *subName, *rate
	if *pprofAddr != "" {
		go func() { log.Println(http.ListenAndServe(*pprofAddr, nil)) }()
	}
	opts := mqtt.Options{Linger: *linger, MaxInFlight: *inflight}
	var err error
	switch {
	case *matrix:
		mo := matrixOptions{duration: *duration, serverCPUs: *serverCPUs, qos: []int{0, 1, 2}, samples: []int{1, 10}, clients: []int{10, 1000, 10000}, base: *base}
		if set["qos"] {
			mo.qos = qos
		}
		if set["samples"] {
			mo.samples = samples
		}
		if set["clients"] {
			mo.clients = clients
		}
		err = runMatrix(mo)
	case *idle > 0:
		err = runIdle(*idle, *serverCPUs)
	case *fleet:
		fo := fleetOptions{duration: *duration, serverCPUs: *serverCPUs, qos: []int{0, 1}, deathsOnly: *deaths}
		if set["qos"] {
			fo.qos = qos
		}
		if set["clients"] {
			fo.clients = clients
		}
		err = runFleet(fo)
	case *serve != "" || subscribe != "":
		err = serveOnly(*serve, byte(qos[0]), opts)
	default:
		err = run(*client, clients[0], byte(qos[0]), samples[0], *duration, *broker, *discard, opts)
	}
	if err != nil {
		log.Fatal(err)
	}
}

// server is the embedded broker over a real engine in a temporary
// directory.
type server struct {
	dir    string
	db     *engine.DB // nil with -nostore
	nop    *nopAppender
	fake   *fakeWAL // -fake-fsync
	in     *mqtt.Ingestor
	b      *mqtt.Broker     // nil without a broker address
	sub    *mqtt.Subscriber // nil without -subscribe
	cancel context.CancelFunc
}

func startServer(addr string, opts mqtt.Options) (*server, error) {
	return startServerSub(addr, "", 0, opts)
}

// startServerSub starts the server with the embedded broker on addr
// (none when addr is empty) and, when sub is set, a subscription to
// bench/# at qos on the broker sub.
func startServerSub(addr, sub string, qos byte, opts mqtt.Options) (*server, error) {
	dir, err := os.MkdirTemp("", "mqttbench")
	if err != nil {
		return nil, err
	}
	s := &server{dir: dir}
	var app ingest.Appender
	switch {
	case noStore:
		s.nop = &nopAppender{}
		app = s.nop
	case fakeFsync > 0:
		s.fake = newFakeWAL(fakeFsync)
		app = s.fake
	default:
		if s.db, err = engine.Open(dir, engine.Options{}); err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("open engine: %w", err)
		}
		app = s.db
	}
	if s.in, err = mqtt.New(app, opts); err != nil {
		s.close()
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	go s.in.Run(ctx)
	if sub != "" {
		q := int(qos)
		if s.sub, err = mqtt.NewSubscriber(s.in, mqtt.SubscriberOptions{Name: subscribeName, Brokers: []string{sub},
			Rules: []mqtt.Rule{{Filter: subFilter, QoS: &q}}}); err != nil {
			s.close()
			return nil, err
		}
		go s.sub.Run()
	}
	if addr == "" {
		return s, nil
	}
	bo := mqtt.BrokerOptions{Addr: addr, StateDir: filepath.Join(dir, "mqtt")}
	if frontEnd {
		bo.Addr, bo.PublishAddr = "127.0.0.1:0", addr
	}
	if s.b, err = mqtt.NewBroker(s.in, bo); err != nil {
		s.close()
		return nil, err
	}
	if err := s.b.Serve(); err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

func (s *server) close() {
	if s.sub != nil {
		s.sub.Close()
	}
	if s.b != nil {
		s.b.Close()
	}
	if s.cancel != nil {
		s.cancel()
	}
	if s.db != nil {
		s.db.Close()
	}
	os.RemoveAll(s.dir)
}

// noStore is -nostore; subscribe is -subscribe; frontEnd is -front;
// subFilter and subscribeName are -filter and -sub-name; publishRate is
// -rate.
var (
	noStore       bool
	fakeFsync     time.Duration
	subscribe     string
	frontEnd      bool
	subFilter     = "bench/#"
	subscribeName = "bench"
	publishRate   float64
	// published counts the messages acknowledged (QoS 1, 2) or written
	// (QoS 0) by every load of the process, for -fleet's consumer deaths.
	published atomic.Int64
)

// intList is a flag of comma-separated integers.
type intList []int

func (l *intList) String() string {
	var s []string
	for _, v := range *l {
		s = append(s, strconv.Itoa(v))
	}
	return strings.Join(s, ",")
}

func (l *intList) Set(v string) error {
	*l = nil
	for _, f := range strings.Split(v, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			return fmt.Errorf("%q is not an integer", f)
		}
		*l = append(*l, n)
	}
	return nil
}

// raiseNoFile raises RLIMIT_NOFILE to 200,000 (as root, the hard limit
// too): 10,000 publishers need 10,000 descriptors in this process and as
// many in each server it starts, which inherit the limit.
func raiseNoFile() error {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return err
	}
	const want = 200000
	if rl.Max < want {
		raised := syscall.Rlimit{Cur: want, Max: want}
		if syscall.Setrlimit(syscall.RLIMIT_NOFILE, &raised) == nil {
			return nil
		}
	}
	rl.Cur = min(rl.Max, want)
	return syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl)
}

// nopAppender accepts every batch at once (-nostore): the broker and the
// hook without the engine.
type nopAppender struct{ batches atomic.Int64 }

func (a *nopAppender) Append(_ context.Context, b *series.Batch) (series.AppendResult, error) {
	a.batches.Add(1)
	return series.AppendResult{Accepted: b.Samples()}, nil
}

// fakeWAL stands in for the engine with -fake-fsync: a serial group
// commit, as the engine's WAL, whose every fsync is a sleep of a fixed
// length. Appends queue; one goroutine takes what is queued, sleeps, and
// returns them all; what queues meanwhile waits for the next.
type fakeWAL struct {
	fsync  time.Duration
	fsyncs atomic.Int64
	kick   chan struct{} // capacity 1
	mu     sync.Mutex
	queue  []chan struct{}
}

func newFakeWAL(fsync time.Duration) *fakeWAL {
	w := &fakeWAL{fsync: fsync, kick: make(chan struct{}, 1)}
	go w.run()
	return w
}

func (w *fakeWAL) Append(ctx context.Context, b *series.Batch) (series.AppendResult, error) {
	done := make(chan struct{})
	w.mu.Lock()
	w.queue = append(w.queue, done)
	w.mu.Unlock()
	select {
	case w.kick <- struct{}{}:
	default:
	}
	select {
	case <-done:
		return series.AppendResult{Accepted: b.Samples()}, nil
	case <-ctx.Done():
		return series.AppendResult{}, ctx.Err()
	}
}

func (w *fakeWAL) run() {
	for range w.kick {
		w.mu.Lock()
		q := w.queue
		w.queue = nil
		w.mu.Unlock()
		if len(q) == 0 {
			continue
		}
		time.Sleep(w.fsync)
		w.fsyncs.Add(1)
		for _, done := range q {
			close(done)
		}
	}
}

// counts is what the grouping report compares between two moments.
type counts struct {
	msgs, samples, appends, groups, fsyncs int64
	cpu                                    time.Duration // user + system CPU time of the process
}

func (s *server) counts() counts {
	st := s.in.Stats()
	var es engine.Stats
	switch {
	case s.db != nil:
		es = s.db.Stats()
	case s.fake != nil:
		es.WALFsyncs = uint64(s.fake.fsyncs.Load())
		es.WALGroups = es.WALFsyncs
	default:
		es.AppendedBatches = uint64(s.nop.batches.Load())
	}
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	return counts{st.Messages, st.Samples, int64(es.AppendedBatches), int64(es.WALGroups), int64(es.WALFsyncs), cpu}
}

func (c counts) report(prev counts, el time.Duration) string {
	d := counts{c.msgs - prev.msgs, c.samples - prev.samples, c.appends - prev.appends, c.groups - prev.groups, c.fsyncs - prev.fsyncs, c.cpu - prev.cpu}
	div := func(a, b int64) float64 {
		if b == 0 {
			return 0
		}
		return float64(a) / float64(b)
	}
	return fmt.Sprintf("%.0f msgs/s, %.0f samples/s, %.1f msgs/Append, %.2f Appends/group, %.0f fsyncs/s, %.1f µs CPU/msg",
		float64(d.msgs)/el.Seconds(), float64(d.samples)/el.Seconds(), div(d.msgs, d.appends), div(d.appends, d.groups),
		float64(d.fsyncs)/el.Seconds(), div(d.cpu.Nanoseconds(), d.msgs)/1e3)
}

func serveOnly(addr string, qos byte, opts mqtt.Options) error {
	s, err := startServerSub(addr, subscribe, qos, opts)
	if err != nil {
		return err
	}
	defer s.close()
	http.HandleFunc("/stats", func(w http.ResponseWriter, _ *http.Request) {
		st := s.in.Stats()
		out := map[string]int64{"messages": st.Messages, "samples": st.Samples, "connects": st.Connects}
		if s.db != nil {
			est := s.db.Stats()
			out["fsyncs"], out["appends"] = int64(est.WALFsyncs), int64(est.AppendedBatches)
		}
		if s.fake != nil {
			out["fsyncs"] = s.fake.fsyncs.Load()
		}
		json.NewEncoder(w).Encode(out)
	})
	if s.b != nil {
		fmt.Printf("serving on %s\n", s.b.Addr())
	}
	if subscribe != "" {
		fmt.Printf("subscribed to bench/# on %s\n", subscribe)
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	prev, last := s.counts(), time.Now()
	var first counts
	var firstAt time.Time
	for {
		select {
		case <-sig:
			now := s.counts()
			if !firstAt.IsZero() {
				fmt.Printf("total: %s\n", now.report(first, last.Sub(firstAt)))
			}
			return nil
		case t := <-tick.C:
			now := s.counts()
			if now.msgs != prev.msgs {
				if firstAt.IsZero() {
					first, firstAt = prev, last
				}
				fmt.Printf("%s\n", now.report(prev, t.Sub(last)))
			}
			prev, last = now, t
		}
	}
}

// publisher is one publishing connection.
type publisher interface {
	publish(topic string, qos byte, payload []byte) error
	close()
}

func dial(client, addr, id string) (publisher, error) {
	switch client {
	case "raw":
		return dialRaw(addr, id)
	case "paho":
		c := paho.NewClient(paho.NewClientOptions().AddBroker("tcp://" + addr).SetClientID(id).
			SetAutoReconnect(false).SetConnectTimeout(30 * time.Second))
		if t := c.Connect(); t.Wait() && t.Error() != nil {
			return nil, t.Error()
		}
		return pahoConn{c}, nil
	}
	return nil, fmt.Errorf("unknown -client %q (paho or raw)", client)
}

type pahoConn struct{ c paho.Client }

func (p pahoConn) publish(topic string, qos byte, payload []byte) error {
	t := p.c.Publish(topic, qos, false, payload)
	if !t.WaitTimeout(30 * time.Second) {
		return fmt.Errorf("no PUBACK in 30s")
	}
	return t.Error()
}

func (p pahoConn) close() { p.c.Disconnect(0) }

// dialAll connects clients publishers to addr, 64 at a time.
func dialAll(client, addr string, clients int) ([]publisher, error) {
	conns := make([]publisher, clients)
	errs := make([]error, clients)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(64, clients) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1) - 1); i < clients; i = int(next.Add(1) - 1) {
				if conns[i], errs[i] = dial(client, addr, fmt.Sprintf("bench-%d", i)); errs[i] != nil {
					errs[i] = fmt.Errorf("connect %d: %w", i, errs[i])
					return
				}
			}
		}()
	}
	wg.Wait()
	if i := slices.IndexFunc(errs, func(e error) bool { return e != nil }); i >= 0 {
		err := errs[i]
		for _, c := range conns {
			if c != nil {
				c.close()
			}
		}
		return nil, err
	}
	return conns, nil
}

// loadResult is what the publishers measured.
type loadResult struct {
	msgs     int64
	start    time.Time
	elapsed  time.Duration
	p50, p99 time.Duration // publish to PUBACK (QoS 1) or PUBCOMP (QoS 2)
}

// load publishes from clients connections to addr for duration, each one
// message at a time (at QoS 1 waiting for its PUBACK), one series per
// connection, timestamps unique per message.
// ready, when set, is called once every connection is up, just before
// the first publish.
func load(client, addr string, clients int, qos byte, samples int, duration time.Duration, ready func()) (loadResult, error) {
	var fields []string
	for i := range samples {
		fields = append(fields, fmt.Sprintf("f%d=%d.5", i, i))
	}
	body := strings.Join(fields, ",")
	conns, err := dialAll(client, addr, clients)
	if err != nil {
		return loadResult{}, err
	}
	defer func() {
		for _, c := range conns {
			c.close()
		}
	}()
	if ready != nil {
		ready()
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
			topic := fmt.Sprintf("bench/d%d", i)
			var p []byte
			// With -rate the publishers start spread over one interval and
			// then keep to their schedule (a slow acknowledgement delays
			// the next message, none is skipped).
			var every time.Duration
			next := start
			if publishRate > 0 {
				every = time.Duration(float64(time.Second) / publishRate)
				next = start.Add(time.Duration(rand.Int64N(int64(every))))
			}
			for seq := 0; time.Now().Before(deadline); seq++ {
				if every > 0 {
					time.Sleep(time.Until(next))
					next = next.Add(every)
					if !next.Before(deadline) {
						break
					}
				}
				p = fmt.Appendf(p[:0], "bench,dev=d%d %s %d", i, body, start.UnixNano()+int64(seq))
				t0 := time.Now()
				if err := c.publish(topic, qos, p); err != nil {
					log.Printf("publish: %v", err)
					return
				}
				if qos > 0 {
					lat[i] = append(lat[i], time.Since(t0))
				}
				msgs.Add(1)
				published.Add(1)
			}
		}()
	}
	wg.Wait()
	all := slices.Concat(lat...)
	slices.Sort(all)
	pct := func(p float64) time.Duration {
		if len(all) == 0 {
			return 0
		}
		return all[int(float64(len(all)-1)*p)]
	}
	return loadResult{msgs: msgs.Load(), start: start, elapsed: time.Since(start), p50: pct(0.5), p99: pct(0.99)}, nil
}

func run(client string, clients int, qos byte, samples int, duration time.Duration, addr string, discard bool, opts mqtt.Options) error {
	var srv *server
	if addr == "" {
		var err error
		if srv, err = startServer("127.0.0.1:0", opts); err != nil {
			return err
		}
		defer srv.close()
		addr = srv.b.Addr()
	} else if discard {
		stop, err := discardSubscriber(addr)
		if err != nil {
			return err
		}
		defer stop()
	}
	var before counts
	if srv != nil {
		before = srv.counts()
	}
	lr, err := load(client, addr, clients, qos, samples, duration, nil)
	if err != nil {
		return err
	}
	n, el := lr.msgs, lr.elapsed
	if srv != nil && qos == 0 { // QoS 0: wait for what was accepted to be stored
		for end := time.Now().Add(30 * time.Second); srv.in.Stats().Messages < n && time.Now().Before(end); {
			time.Sleep(10 * time.Millisecond)
		}
		el = time.Since(lr.start)
	}
	stored := int64(-1)
	if srv != nil {
		stored = srv.in.Stats().Samples
	}
	fmt.Printf("clients=%d qos=%d samples/msg=%d: %.0f msgs/s, %.0f samples/s, p50=%v p99=%v (messages=%d stored samples=%d, %v)\n",
		clients, qos, samples, float64(n)/el.Seconds(), float64(n*int64(samples))/el.Seconds(),
		lr.p50.Round(10*time.Microsecond), lr.p99.Round(10*time.Microsecond), n, stored, el.Round(time.Millisecond))
	if srv != nil {
		fmt.Printf("server: %s\n", srv.counts().report(before, el))
	}
	return nil
}

// discardSubscriber subscribes a client that discards to bench/# at addr
// (mosquitto alone: the messages are routed somewhere).
func discardSubscriber(addr string) (stop func(), err error) {
	sub := paho.NewClient(paho.NewClientOptions().AddBroker("tcp://" + addr).SetClientID("discard"))
	if t := sub.Connect(); t.Wait() && t.Error() != nil {
		return nil, t.Error()
	}
	if t := sub.Subscribe("bench/#", 0, func(paho.Client, paho.Message) {}); t.Wait() && t.Error() != nil {
		sub.Disconnect(100)
		return nil, t.Error()
	}
	return func() { sub.Disconnect(100) }, nil
}
