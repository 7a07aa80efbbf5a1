package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// matrixOptions configure -matrix.
type matrixOptions struct {
	duration   time.Duration // publishing time of each run
	serverCPUs string        // taskset -c list for the servers; "" = not pinned
	// qos, samples and clients are the rows run (every combination).
	qos, samples, clients []int
	// base, when set, is another mqttbench binary (built from another
	// commit): the table then has mosquitto alone and the publish front
	// ends of base and of this binary, side by side.
	base string
}

// setup is one of the three things -matrix compares.
type setup struct {
	name string
	run  func(m *matrix, qos byte, samples, clients int) (setupResult, error)
}

// setupResult is one measured run. rate is messages per second: for
// mosquitto alone acknowledged by mosquitto (QoS 1) or written (QoS 0),
// for the servers that store, stored by Lightning DB (QoS 0 and through
// mosquitto the publishers can outrun it, so the run lasts until every
// published message is stored or a minute has passed).
type setupResult struct {
	rate     float64
	p50, p99 time.Duration // publish to PUBACK, QoS 1 (through mosquitto: mosquitto's PUBACK)
	cpu      time.Duration // server processes' CPU time per message
	lost     int64         // published but not stored when the run ended
	peakRSS  []int64       // bytes, VmHWM of each server process at the end of the run
	perFsync float64       // messages per WAL fsync (the publish front end; 0: not known)
}

// matrix holds what every run needs: the binaries and the CPUs to pin the
// servers to.
type matrix struct {
	o         matrixOptions
	self      string   // this binary, started with -serve
	mosquitto string   // the mosquitto binary
	pin       []string // taskset prefix for the servers, or nil
	dir       string
	lastStats string // the /stats address of the last startEmbedded
}

// runMatrix measures every load against mosquitto alone (a subscriber
// that discards), the embedded broker (ack after commit) and mosquitto ->
// Lightning DB (a persistent QoS 0/1 subscription, ack after commit) and
// prints a table. The servers run in their own processes, pinned to CPU 0
// when the machine has two or more; run the command itself on the other
// CPUs (taskset -c 1). CPU per message is the servers' user+system time
// from /proc, which depends less than the rates on what else runs.
func runMatrix(o matrixOptions) error {
	m, cleanup, err := newMatrix(o)
	if err != nil {
		return err
	}
	defer cleanup()
	setups := []setup{{"mosquitto alone", (*matrix).mosquittoAlone}, {"embedded", (*matrix).embedded},
		{"mosquitto -> Lightning DB", (*matrix).throughMosquitto}, {"front end", (*matrix).frontEnd}}
	header := "| QoS | samples/msg | publishers | mosquitto alone msgs/s (p50 / p99), µs CPU/msg, peak RSS | embedded, mochi's listener | mosquitto -> Lightning DB (stored; RSS mosquitto + Lightning DB) | embedded, publish front end (the device port) | mochi / alone | via mosquitto / alone | front end / alone |"
	if o.base != "" {
		setups = []setup{{"mosquitto alone", (*matrix).mosquittoAlone},
			{"front end of " + o.base, func(m *matrix, qos byte, samples, clients int) (setupResult, error) {
				return m.frontEndOf(o.base, qos, samples, clients)
			}},
			{"front end", (*matrix).frontEnd}}
		header = fmt.Sprintf("| QoS | samples/msg | publishers | mosquitto alone msgs/s (p50 / p99), µs CPU/msg, peak RSS | publish front end of %s | publish front end of %s | %s / alone | %s / alone |",
			o.base, m.self, filepath.Base(o.base), filepath.Base(m.self))
	}
	fmt.Printf("servers pinned: %v; %v per run; raw MQTT 3.1.1 publishers, one message in flight each\n\n", m.pin != nil, o.duration)
	fmt.Println(header)
	fmt.Println("|" + strings.Repeat("---|", 3+2*len(setups)-1))
	for _, q := range o.qos {
		if q < 0 || q > 2 {
			return fmt.Errorf("-qos %d: want 0, 1 or 2", q)
		}
		qos := byte(q)
		for _, samples := range o.samples {
			for _, clients := range o.clients {
				var rs []setupResult
				cells := []string{strconv.Itoa(int(qos)), strconv.Itoa(samples), strconv.Itoa(clients)}
				for _, s := range setups {
					r, err := s.run(m, qos, samples, clients)
					if err != nil {
						return fmt.Errorf("%s qos=%d samples=%d clients=%d: %w", s.name, qos, samples, clients, err)
					}
					rs = append(rs, r)
					cells = append(cells, r.String(qos))
				}
				for _, r := range rs[1:] {
					cells = append(cells, ratio(r.rate, rs[0].rate))
				}
				fmt.Printf("| %s |\n", strings.Join(cells, " | "))
			}
		}
	}
	return nil
}

// newMatrix finds the binaries and makes a temporary directory; cleanup
// removes it.
func newMatrix(o matrixOptions) (*matrix, func(), error) {
	m := &matrix{o: o}
	var err error
	if m.self, err = os.Executable(); err != nil {
		return nil, nil, err
	}
	if m.mosquitto, err = exec.LookPath("mosquitto"); err != nil {
		if _, serr := os.Stat("/usr/sbin/mosquitto"); serr != nil {
			return nil, nil, fmt.Errorf("mosquitto not found (apt-get install -y mosquitto): %w", err)
		}
		m.mosquitto = "/usr/sbin/mosquitto"
	}
	if ts, err := exec.LookPath("taskset"); err == nil && o.serverCPUs != "" {
		m.pin = []string{ts, "-c", o.serverCPUs}
	}
	if m.dir, err = os.MkdirTemp("", "mqttbench-matrix"); err != nil {
		return nil, nil, err
	}
	return m, func() { os.RemoveAll(m.dir) }, nil
}

func (r setupResult) String(qos byte) string {
	s := fmt.Sprintf("%.0f", r.rate)
	if qos > 0 {
		s += fmt.Sprintf(" (%s / %s)", ms(r.p50), ms(r.p99))
	}
	s += fmt.Sprintf(", %.1f µs", float64(r.cpu.Nanoseconds())/1e3)
	if r.lost > 0 {
		s += fmt.Sprintf(", %d not stored", r.lost)
	}
	var rss []string
	for _, b := range r.peakRSS {
		rss = append(rss, fmt.Sprintf("%.0f", float64(b)/(1<<20)))
	}
	s += ", " + strings.Join(rss, " + ") + " MiB"
	if r.perFsync > 0 {
		s += fmt.Sprintf(", %.1f msgs/fsync", r.perFsync)
	}
	return s
}

func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d.Microseconds())/1e3, 'f', 1, 64) + " ms"
}

func ratio(a, b float64) string {
	if b == 0 {
		return ""
	}
	return fmt.Sprintf("%.0f %%", 100*a/b)
}

// mosquittoAlone: mosquitto with a subscriber that discards; the rate is
// what reached the subscriber.
func (m *matrix) mosquittoAlone(qos byte, samples, clients int) (setupResult, error) {
	mq, addr, err := m.startMosquitto()
	if err != nil {
		return setupResult{}, err
	}
	defer stop(mq)
	sub, err := subscribeRaw(addr, "bench/#")
	if err != nil {
		return setupResult{}, err
	}
	defer sub.close()
	return m.measure([]*exec.Cmd{mq}, addr, sub.received.Load, qos, samples, clients)
}

// frontEnd: the embedded broker's publish front end over a real engine
// (mqttbench -serve -front).
func (m *matrix) frontEnd(qos byte, samples, clients int) (setupResult, error) {
	return m.frontEndOf(m.self, qos, samples, clients)
}

// frontEndOf: the publish front end of the mqttbench binary bin.
func (m *matrix) frontEndOf(bin string, qos byte, samples, clients int) (setupResult, error) {
	srv, addr, err := m.startEmbeddedOf(bin, "-front")
	if err != nil {
		return setupResult{}, err
	}
	defer stop(srv)
	st0, _ := readStats(m.lastStats)
	r, err := m.measure([]*exec.Cmd{srv}, addr, storedAt(m.lastStats, samples), qos, samples, clients)
	// A binary whose /stats has no fsyncs (built before they were
	// there) leaves perFsync 0.
	if st1, serr := readStats(m.lastStats); err == nil && serr == nil && st1["fsyncs"] > st0["fsyncs"] {
		r.perFsync = float64(st1["messages"]-st0["messages"]) / float64(st1["fsyncs"]-st0["fsyncs"])
	}
	return r, err
}

// embedded: the embedded broker over a real engine (mqttbench -serve).
func (m *matrix) embedded(qos byte, samples, clients int) (setupResult, error) {
	srv, addr, err := m.startEmbedded()
	if err != nil {
		return setupResult{}, err
	}
	defer stop(srv)
	return m.measure([]*exec.Cmd{srv}, addr, storedAt(m.lastStats, samples), qos, samples, clients)
}

// throughMosquitto: mosquitto, and Lightning DB subscribed to bench/# on
// it (mqttbench -subscribe), both on the servers' CPU.
func (m *matrix) throughMosquitto(qos byte, samples, clients int) (setupResult, error) {
	if qos == 2 {
		return setupResult{}, nil // not measured: the subscription path is QoS 0/1 here
	}
	mq, addr, err := m.startMosquitto()
	if err != nil {
		return setupResult{}, err
	}
	defer stop(mq)
	stats := freeAddr()
	srv, err := m.start(m.self, "-subscribe", "tcp://"+addr, "-qos", strconv.Itoa(int(qos)), "-pprof", stats)
	if err != nil {
		return setupResult{}, err
	}
	defer stop(srv)
	if err := waitFor(func() bool { st, err := readStats(stats); return err == nil && st["connects"] > 0 }); err != nil {
		return setupResult{}, fmt.Errorf("subscriber did not connect: %w", err)
	}
	return m.measure([]*exec.Cmd{mq, srv}, addr, storedAt(stats, samples), qos, samples, clients)
}

// storedAt returns the count of messages stored by the server whose
// /stats is at addr, from its samples stored (-1 when it does not answer).
func storedAt(addr string, samples int) func() int64 {
	return func() int64 {
		st, err := readStats(addr)
		if err != nil {
			return -1
		}
		return st["samples"] / int64(samples)
	}
}

// measure publishes to addr and waits (up to maxDrain) until done counts
// every published message (stored, or received by the discarding
// subscriber); the rate is what done counted over the time from the first
// publish to the last message counted.
func (m *matrix) measure(procs []*exec.Cmd, addr string, done func() int64, qos byte, samples, clients int) (setupResult, error) {
	cpu := func() (d time.Duration) {
		for _, p := range procs {
			d += procCPU(p)
		}
		return d
	}
	var cpu0 time.Duration
	var base int64
	lr, err := load("raw", addr, clients, qos, samples, m.o.duration, func() { cpu0, base = cpu(), done() })
	if err != nil {
		return setupResult{}, err
	}
	n := int64(0)
	end := lr.start.Add(lr.elapsed)
	for deadline := time.Now().Add(maxDrain); ; time.Sleep(5 * time.Millisecond) {
		d := done()
		if d < 0 {
			return setupResult{}, errors.New("server stats unavailable")
		}
		if d-base != n {
			n, end = d-base, time.Now()
		}
		if n >= lr.msgs || time.Now().After(deadline) {
			break
		}
	}
	var rss []int64
	for _, p := range procs {
		rss = append(rss, procStatus(p.Process.Pid, "VmHWM"))
	}
	return setupResult{rate: float64(n) / end.Sub(lr.start).Seconds(), p50: lr.p50, p99: lr.p99,
		cpu: perMsg(cpu()-cpu0, n), lost: lr.msgs - n, peakRSS: rss}, nil
}

// procStatus returns a "kB" field of /proc/<pid>/status (VmRSS, VmHWM)
// in bytes, or -1.
func procStatus(pid int, field string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				return -1
			}
			return kb << 10
		}
	}
	return -1
}

// maxDrain bounds the wait for the messages published to be counted.
const maxDrain = 30 * time.Second

func perMsg(d time.Duration, n int64) time.Duration {
	if n == 0 {
		return 0
	}
	return d / time.Duration(n)
}

// startMosquitto starts mosquitto on a free loopback port: no
// persistence, unlimited queues, 1,000 messages in flight per client (the
// Lightning DB subscriber acknowledges after its commit, see docs/mqtt.md).
func (m *matrix) startMosquitto() (*exec.Cmd, string, error) {
	addr := freeAddr()
	_, port, _ := strings.Cut(addr, ":")
	cfg := fmt.Sprintf("listener %s 127.0.0.1\nallow_anonymous true\npersistence false\nmax_inflight_messages 1000\nmax_queued_messages 0\n", port)
	if os.Getuid() == 0 {
		cfg += "user root\n"
	}
	conf := filepath.Join(m.dir, "mosquitto.conf")
	if err := os.WriteFile(conf, []byte(cfg), 0o644); err != nil {
		return nil, "", err
	}
	cmd, err := m.start(m.mosquitto, "-c", conf)
	if err != nil {
		return nil, "", err
	}
	if err := waitFor(func() bool { return dialable(addr) }); err != nil {
		stop(cmd)
		return nil, "", fmt.Errorf("mosquitto did not start: %w", err)
	}
	return cmd, addr, nil
}

// start runs bin with args, pinned to the servers' CPU.
func (m *matrix) start(bin string, args ...string) (*exec.Cmd, error) {
	argv := append(append(append([]string{}, m.pin...), bin), args...)
	cmd := exec.Command(argv[0], argv[1:]...)
	if bin != m.mosquitto {
		cmd.Stderr = os.Stderr // mosquitto logs every connection there
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	return cmd, nil
}

// stop ends cmd with SIGINT, then SIGKILL after 10 s.
func stop(cmd *exec.Cmd) {
	cmd.Process.Signal(syscall.SIGINT)
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		<-done
	}
}

// procCPU returns the user+system CPU time of cmd's process (taskset
// execs the program, so the pid is the server's) from /proc/<pid>/stat.
func procCPU(cmd *exec.Cmd) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", cmd.Process.Pid))
	if err != nil {
		return 0
	}
	i := strings.LastIndexByte(string(b), ')')
	f := strings.Fields(string(b[i+1:])) // f[0] is field 3 (state); utime, stime are fields 14, 15
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	s, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+s) * (time.Second / 100) // USER_HZ is 100 on Linux
}

func readStats(addr string) (map[string]int64, error) {
	resp, err := http.Get("http://" + addr + "/stats")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	st := map[string]int64{}
	return st, json.NewDecoder(resp.Body).Decode(&st)
}

func freeAddr() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func dialable(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// waitFor polls cond for up to 10 s.
func waitFor(cond func() bool) error {
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			return errors.New("timed out after 10s")
		}
	}
	return nil
}
