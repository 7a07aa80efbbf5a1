package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Target names.
const (
	LightningDB     = "lightningdb"
	VictoriaMetrics = "victoriametrics"
	InfluxDB        = "influxdb"
	Prometheus      = "prometheus"
)

// QueryLang is the query language a target answers the query mix in.
type QueryLang string

// Query languages.
const (
	PromQL   QueryLang = "promql"   // /api/v1/query_range
	InfluxQL QueryLang = "influxql" // /query
)

// Target is one server process under test: how to start it with a data
// directory on loopback, where its endpoints are, and how to flush it. A
// path left empty means the target does not speak that protocol at all;
// a path that answers 404 at run time is reported as unsupported too.
type Target struct {
	// Name is the target's name in reports; Kind is which server it is
	// (LightningDB, VictoriaMetrics, ...): the Name up to an "@", so
	// "victoriametrics@v1.151.0" runs beside "victoriametrics".
	Name, Kind string
	Binary     string
	// ServerCPUs is the taskset CPU list for the server ("" = no pinning).
	ServerCPUs string

	LPv1Path, LPv2Path, RWPath string
	QueryLang                  QueryLang
	ReadyPath                  string
	// FlushPath is requested before a graceful stop when measuring disk
	// usage (VictoriaMetrics /internal/force_flush).
	FlushPath string
	// MinSettle is the least time to wait after ingestion before measuring
	// the disk: the target compacts on a timer (InfluxDB's 30 s cold-shard
	// compaction as configured here, Prometheus's 1 min compaction loop).
	MinSettle time.Duration
	// ExtraArgs are appended to the server's command line.
	ExtraArgs []string
	// Retention is VictoriaMetrics' -retentionPeriod ("" = 100y, i.e.
	// nothing expires during a run).
	Retention string
	// HasMQTT says the server has an embedded MQTT broker (Lightning DB
	// with --mqtt-addr).
	HasMQTT bool
	// MetricsQLNames starts Lightning DB with --metricsql-names (for the
	// TSBS query mix) when its binary has the flag.
	MetricsQLNames bool
	hasMQLNames    bool

	dir      string // this target's scratch root
	dataDir  string
	httpAddr string
	mqttAddr string
	rpcAddr  string // InfluxDB's meta/RPC port, kept on loopback
	cmd      *exec.Cmd
	exited   chan struct{}
	logFile  *os.File
	logPath  string
	starts   int
	// queryData is the data dir kept for the interleaved query mix
	// (interleave.go) and queryWorkload the workload that loaded it.
	queryData, queryWorkload string
}

// NewTarget returns the target name with binary, scratch space under dir.
func NewTarget(name, binary, dir, serverCPUs string) (*Target, error) {
	kind, _, _ := strings.Cut(name, "@")
	t := &Target{Name: name, Kind: kind, Binary: binary, ServerCPUs: serverCPUs, dir: dir}
	switch kind {
	case LightningDB:
		t.LPv1Path = "/write?db=" + DB
		t.LPv2Path = "/api/v2/write?org=" + DB + "&bucket=" + DB
		t.RWPath = "/api/v1/write"
		t.QueryLang = PromQL
		t.ReadyPath = "/ready"
		t.HasMQTT = helpMentions(binary, "mqtt-addr")
		t.hasMQLNames = helpMentions(binary, "metricsql-names")
	case VictoriaMetrics:
		// db= gives the same db label as Lightning DB's bucket on v2.
		t.LPv1Path = "/write?db=" + DB
		t.LPv2Path = "/api/v2/write?db=" + DB + "&org=" + DB + "&bucket=" + DB
		t.RWPath = "/api/v1/write"
		t.QueryLang = PromQL
		t.ReadyPath = "/health"
		t.FlushPath = "/internal/force_flush"
	case InfluxDB:
		t.LPv1Path = "/write?db=" + DB
		t.LPv2Path = "/api/v2/write?org=" + DB + "&bucket=" + DB // 1.6: 404
		t.RWPath = "/api/v1/prom/write?db=" + DB
		t.QueryLang = InfluxQL
		t.ReadyPath = "/ping"
		t.MinSettle = 40 * time.Second
	case Prometheus:
		t.RWPath = "/api/v1/write"
		t.QueryLang = PromQL
		t.ReadyPath = "/-/ready"
		t.MinSettle = 70 * time.Second
	default:
		return nil, fmt.Errorf("unknown target %q", name)
	}
	return t, nil
}

// helpMentions reports whether binary --help mentions s (how we find out
// whether this tree's server has a flag yet).
func helpMentions(binary, s string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, _ := exec.CommandContext(ctx, binary, "--help").CombinedOutput()
	return strings.Contains(string(out), s)
}

// BaseURL is the target's HTTP root.
func (t *Target) BaseURL() string { return "http://" + t.httpAddr }

// MQTTAddr is the embedded broker's address ("" when there is none).
func (t *Target) MQTTAddr() string { return t.mqttAddr }

// DataDir is the directory whose size is the target's bytes on disk.
func (t *Target) DataDir() string { return t.dataDir }

// PID is the server's process ID (0 when it is not running).
func (t *Target) PID() int {
	if t.cmd == nil || t.cmd.Process == nil {
		return 0
	}
	return t.cmd.Process.Pid
}

// Fresh removes any previous data and picks new loopback ports, so the next
// Start begins from an empty database.
func (t *Target) Fresh() error {
	if t.cmd != nil {
		return errors.New("fresh: target still running")
	}
	root := filepath.Join(t.dir, t.Name)
	if err := os.RemoveAll(root); err != nil {
		return err
	}
	t.dataDir = filepath.Join(root, "data")
	if err := os.MkdirAll(t.dataDir, 0o755); err != nil {
		return err
	}
	var err error
	if t.httpAddr, err = freeAddr(); err != nil {
		return err
	}
	if t.mqttAddr, err = freeAddr(); err != nil {
		return err
	}
	t.rpcAddr, err = freeAddr()
	if !t.HasMQTT {
		t.mqttAddr = ""
	}
	return err
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// args returns the server command line for the current data dir and ports.
func (t *Target) args() ([]string, error) {
	switch t.Kind {
	case LightningDB:
		a := []string{"--data-dir", t.dataDir, "--http-addr", t.httpAddr, "--log-level", "warn"}
		if t.HasMQTT {
			a = append(a, "--mqtt-addr", t.mqttAddr)
		}
		if t.MetricsQLNames && t.hasMQLNames {
			a = append(a, "--metricsql-names")
		}
		return a, nil
	case VictoriaMetrics:
		retention := "100y"
		if t.Retention != "" {
			retention = t.Retention
		}
		return []string{
			"-storageDataPath", t.dataDir, "-httpListenAddr", t.httpAddr,
			"-retentionPeriod", retention, "-loggerLevel", "ERROR",
		}, nil
	case InfluxDB:
		conf, err := t.writeInfluxConfig()
		return []string{"-config", conf}, err
	case Prometheus:
		conf := filepath.Join(t.dir, t.Name, "prometheus.yml")
		if err := os.WriteFile(conf, []byte("global:\n  scrape_interval: 1m\n"), 0o644); err != nil {
			return nil, err
		}
		return []string{
			"--config.file", conf, "--storage.tsdb.path", t.dataDir,
			"--web.listen-address", t.httpAddr, "--web.enable-remote-write-receiver",
			"--storage.tsdb.retention.time", "100y", "--log.level", "warn",
		}, nil
	}
	return nil, fmt.Errorf("unknown target %q", t.Name)
}

// writeInfluxConfig writes InfluxDB 1.x's configuration: everything on
// loopback, no reporting, no self-monitoring, no series limit, and the
// cold-shard snapshot and full-compaction delays lowered from 10 min and
// 4 h to 5 s and 30 s so that its bytes on disk are measured as compacted
// TSM rather than WAL (see README).
func (t *Target) writeInfluxConfig() (string, error) {
	conf := filepath.Join(t.dir, t.Name, "influxdb.conf")
	text := fmt.Sprintf(`reporting-disabled = true
bind-address = %q
[meta]
  dir = %q
[data]
  dir = %q
  wal-dir = %q
  query-log-enabled = false
  cache-snapshot-write-cold-duration = "5s"
  compact-full-write-cold-duration = "30s"
  max-series-per-database = 0
  max-values-per-tag = 0
[http]
  bind-address = %q
  log-enabled = false
  max-body-size = 0
[monitor]
  store-enabled = false
[continuous_queries]
  enabled = false
[logging]
  level = "warn"
`, t.rpcAddr, filepath.Join(t.dataDir, "meta"), filepath.Join(t.dataDir, "data"),
		filepath.Join(t.dataDir, "wal"), t.httpAddr)
	return conf, os.WriteFile(conf, []byte(text), 0o644)
}

// Start starts the server on the current data dir and waits (bounded by
// timeout) until its ready endpoint answers 2xx.
func (t *Target) Start(ctx context.Context, timeout time.Duration) error {
	if t.cmd != nil {
		return errors.New("start: already running")
	}
	args, err := t.args()
	if err != nil {
		return err
	}
	args = append(args, t.ExtraArgs...)
	name := t.Binary
	if t.ServerCPUs != "" {
		if ts, err := exec.LookPath("taskset"); err == nil {
			args = append([]string{"-c", t.ServerCPUs, t.Binary}, args...)
			name = ts
		}
	}
	t.starts++
	logPath := filepath.Join(t.dir, t.Name, fmt.Sprintf("server-%d.log", t.starts))
	t.logPath = logPath
	if t.logFile, err = os.Create(logPath); err != nil {
		return err
	}
	// Not CommandContext: the server must outlive a cancelled phase long
	// enough to be stopped gracefully by Stop.
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = t.logFile, t.logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.logFile.Close()
		return fmt.Errorf("start %s: %w", t.Name, err)
	}
	t.cmd = cmd
	t.exited = make(chan struct{})
	go func() { _ = cmd.Wait(); close(t.exited) }()
	if err := t.waitReady(ctx, timeout); err != nil {
		_ = t.Stop(30 * time.Second)
		return fmt.Errorf("start %s: %w; log %s: %s", t.Name, err, logPath, tail(logPath, 600))
	}
	if t.Kind == InfluxDB {
		return t.influxCreateDB(ctx)
	}
	return nil
}

func (t *Target) waitReady(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	client := &http.Client{Timeout: 2 * time.Second}
	for time.Now().Before(deadline) {
		select {
		case <-t.exited:
			return errors.New("server exited before it was ready")
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		resp, err := client.Get(t.BaseURL() + t.ReadyPath)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode/100 == 2 {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("not ready after %s", timeout)
}

func (t *Target) influxCreateDB(ctx context.Context) error {
	form := url.Values{"q": {"CREATE DATABASE " + DB}}
	req, err := http.NewRequestWithContext(ctx, "POST", t.BaseURL()+"/query", strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("influxdb create database: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("influxdb create database: %s %s", resp.Status, b)
	}
	return nil
}

// Flush asks the target to write what it buffers in memory (where it has
// such an endpoint); a graceful Stop flushes the rest.
func (t *Target) Flush(ctx context.Context) error {
	if t.FlushPath == "" {
		return nil
	}
	req, err := http.NewRequestWithContext(ctx, "GET", t.BaseURL()+t.FlushPath, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("flush %s: %w", t.Name, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("flush %s: %s", t.Name, resp.Status)
	}
	return nil
}

// Stop sends SIGTERM and waits up to grace for the server to exit, then
// kills it. It reports whether the stop was graceful.
func (t *Target) Stop(grace time.Duration) error {
	if t.cmd == nil {
		return nil
	}
	defer func() {
		t.cmd = nil
		t.logFile.Close()
	}()
	_ = t.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-t.exited:
		return nil
	case <-time.After(grace):
		_ = syscall.Kill(-t.cmd.Process.Pid, syscall.SIGKILL)
		<-t.exited
		return fmt.Errorf("stop %s: no exit %s after SIGTERM, killed", t.Name, grace)
	}
}

// LogCrash is what the server's log of its latest start says about its
// end (quoted): n bytes from the Go runtime's "panic:" or "fatal error:"
// line (and the line before it) when there is one, else the last n bytes,
// or why the log cannot be read.
func (t *Target) LogCrash(n int) string {
	b, err := os.ReadFile(t.logPath)
	if err != nil {
		return err.Error()
	}
	return strconv.Quote(crashExcerpt(b, n))
}

// crashExcerpt is n bytes of log b from its first Go crash report, or its
// last n bytes.
func crashExcerpt(b []byte, n int) string {
	for _, marker := range []string{"\npanic: ", "\nfatal error: "} {
		i := strings.Index("\n"+string(b), marker)
		if i < 0 {
			continue
		}
		// Keep the line before (e.g. "unexpected fault address").
		if j := strings.LastIndexByte(string(b[:max(i-1, 0)]), '\n'); j >= 0 {
			i = j + 1
		} else {
			i = 0
		}
		return string(b[i:min(i+n, len(b))])
	}
	return string(b[max(len(b)-n, 0):])
}

// Running reports whether the server process is still alive.
func (t *Target) Running() bool {
	if t.cmd == nil {
		return false
	}
	select {
	case <-t.exited:
		return false
	default:
		return true
	}
}

func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return strconv.Quote(string(b))
}
