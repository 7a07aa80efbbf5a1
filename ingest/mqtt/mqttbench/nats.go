package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// natsServer is a nats-server process with JetStream and its MQTT
// listener (nats-server needs both, and a server_name, to serve MQTT).
type natsServer struct {
	cmd  *exec.Cmd
	log  string // its log file
	nats string // client port host:port
	mqtt string // MQTT listener host:port
}

// natsBinary finds nats-server (Debian installs it in /usr/sbin).
func natsBinary() (string, error) {
	for _, p := range []string{"nats-server", "/usr/sbin/nats-server"} {
		if b, err := exec.LookPath(p); err == nil {
			return b, nil
		}
	}
	return "", errors.New("nats-server not found (apt-get install -y nats-server)")
}

// startNats starts nats-server with JetStream in a fresh directory under
// m.dir and its MQTT listener, pinned as the other servers.
func (m *matrix) startNats() (*natsServer, error) {
	bin, err := natsBinary()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp(m.dir, "nats")
	if err != nil {
		return nil, err
	}
	s := &natsServer{nats: freeAddr(), mqtt: freeAddr(), log: filepath.Join(dir, "nats.log")}
	_, np, _ := strings.Cut(s.nats, ":")
	_, mp, _ := strings.Cut(s.mqtt, ":")
	cfg := fmt.Sprintf("server_name: bench\nlisten: 127.0.0.1:%s\nmax_payload: 1MB\nlog_file: %q\njetstream {\n  store_dir: %q\n}\nmqtt {\n  listen: 127.0.0.1:%s\n}\n",
		np, s.log, filepath.Join(dir, "js"), mp)
	conf := filepath.Join(dir, "nats.conf")
	if err := os.WriteFile(conf, []byte(cfg), 0o644); err != nil {
		return nil, err
	}
	if s.cmd, err = m.start(bin, "-c", conf); err != nil {
		return nil, err
	}
	if err := waitFor(func() bool { return dialable(s.nats) && dialable(s.mqtt) }); err != nil {
		stop(s.cmd)
		return nil, fmt.Errorf("nats-server did not start: %w", err)
	}
	return s, nil
}

// stop stops the server and prints to stderr how many errors and
// warnings it logged, with the first of each kind (client closes, slow
// consumers: what explains a low rate).
func (s *natsServer) stop() {
	stop(s.cmd)
	b, err := os.ReadFile(s.log)
	if err != nil {
		return
	}
	kinds := map[string]int{}
	var order []string
	for _, line := range strings.Split(string(b), "\n") {
		i := strings.Index(line, "[ERR]")
		if i < 0 {
			i = strings.Index(line, "[WRN]")
		}
		if i < 0 {
			continue
		}
		// The kind: the message without the client's address, IDs and
		// figures.
		k := line[i:]
		if j := strings.LastIndex(k, " - "); j >= 0 {
			k = k[:5] + k[j:]
		}
		k = strings.Map(func(r rune) rune {
			if r >= '0' && r <= '9' {
				return '#'
			}
			return r
		}, k)
		if q := strings.IndexByte(k, '"'); q >= 0 {
			k = k[:q] + "..."
		}
		if kinds[k] == 0 {
			order = append(order, k)
		}
		kinds[k]++
	}
	for _, k := range order {
		fmt.Fprintf(os.Stderr, "nats-server logged %d x %s\n", kinds[k], k)
	}
}

// natsSub is a minimal core NATS subscriber (the text protocol: INFO,
// CONNECT, SUB, then MSG/HMSG and PING) that counts the messages on a
// subject, optionally in a queue group, and with record remembers how
// often each payload came. It is the cheapest consumer: what it measures
// is the broker's share.
type natsSub struct {
	c        net.Conn
	received atomic.Int64
	done     chan struct{}

	mu       sync.Mutex
	seen     map[uint64]int32
	dupCount int64
}

func subscribeNats(addr, subject, queue string, record bool) (*natsSub, error) {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, err
	}
	r := bufio.NewReaderSize(c, 1<<16)
	if line, err := r.ReadString('\n'); err != nil || !strings.HasPrefix(line, "INFO ") {
		c.Close()
		return nil, fmt.Errorf("nats INFO: %q %v", line, err)
	}
	sub := "SUB " + subject + " 1\r\n"
	if queue != "" {
		sub = "SUB " + subject + " " + queue + " 1\r\n"
	}
	if _, err := io.WriteString(c, `CONNECT {"verbose":false,"pedantic":false,"headers":true,"protocol":1}`+"\r\n"+sub+"PING\r\n"); err != nil {
		c.Close()
		return nil, err
	}
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("nats subscribe: %w", err)
		}
		if strings.HasPrefix(line, "PONG") {
			break
		}
		if strings.HasPrefix(line, "-ERR") {
			c.Close()
			return nil, fmt.Errorf("nats subscribe: %s", strings.TrimSpace(line))
		}
	}
	s := &natsSub{c: c, done: make(chan struct{})}
	if record {
		s.seen = map[uint64]int32{}
	}
	go func() {
		defer close(s.done)
		s.read(r)
	}()
	return s, nil
}

// read handles MSG <subject> <sid> [reply] <size>, HMSG <subject> <sid>
// [reply] <hdr size> <total size> and PING until the connection ends.
func (s *natsSub) read(r *bufio.Reader) {
	var buf []byte
	for {
		line, err := r.ReadSlice('\n')
		if err != nil {
			return
		}
		switch {
		case bytes.HasPrefix(line, []byte("PING")):
			if _, err := io.WriteString(s.c, "PONG\r\n"); err != nil {
				return
			}
		case bytes.HasPrefix(line, []byte("MSG ")), bytes.HasPrefix(line, []byte("HMSG ")):
			hdr, total, err := msgSizes(string(line))
			if err != nil {
				return
			}
			if cap(buf) < total+2 {
				buf = make([]byte, total+2)
			}
			buf = buf[:total+2]
			if _, err := io.ReadFull(r, buf); err != nil {
				return
			}
			s.received.Add(1)
			if s.seen != nil {
				h := fnv.New64a()
				h.Write(buf[hdr:total])
				k := h.Sum64()
				s.mu.Lock()
				if s.seen[k]++; s.seen[k] > 1 {
					s.dupCount++
				}
				s.mu.Unlock()
			}
		}
	}
}

// msgSizes parses the sizes of a MSG or HMSG line: the header size (0
// for MSG) and the total size of what follows.
func msgSizes(line string) (hdr, total int, err error) {
	f := strings.Fields(line)
	want := 4 // MSG <subject> <sid> <size>
	if len(f) > 0 && f[0] == "HMSG" {
		want = 5
	}
	if len(f) < want || len(f) > want+1 {
		return 0, 0, fmt.Errorf("malformed %q", line)
	}
	if total, err = strconv.Atoi(f[len(f)-1]); err != nil || total < 0 || total > 64<<20 {
		return 0, 0, fmt.Errorf("bad size in %q", line)
	}
	if want == 5 {
		if hdr, err = strconv.Atoi(f[len(f)-2]); err != nil || hdr < 0 || hdr > total {
			return 0, 0, fmt.Errorf("bad header size in %q", line)
		}
	}
	return hdr, total, nil
}

// kill drops the connection (a consumer process dying).
func (s *natsSub) kill() {
	s.c.Close()
	<-s.done
}

// natsRequest sends body to subject on the NATS server at addr and
// returns the first reply (JetStream's API is requests on $JS.API.>).
func natsRequest(addr, subject string, body []byte) ([]byte, error) {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(c)
	if _, err := r.ReadString('\n'); err != nil {
		return nil, err
	}
	req := fmt.Sprintf("CONNECT {\"verbose\":false}\r\nSUB _INBOX.bench 1\r\nPUB %s _INBOX.bench %d\r\n%s\r\n", subject, len(body), body)
	if _, err := io.WriteString(c, req); err != nil {
		return nil, err
	}
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return nil, fmt.Errorf("request %s: %w", subject, err)
		}
		switch {
		case strings.HasPrefix(line, "PING"):
			io.WriteString(c, "PONG\r\n")
		case strings.HasPrefix(line, "-ERR"):
			return nil, fmt.Errorf("request %s: %s", subject, strings.TrimSpace(line))
		case strings.HasPrefix(line, "MSG "):
			f := strings.Fields(line)
			n, err := strconv.Atoi(f[len(f)-1])
			if err != nil {
				return nil, err
			}
			b := make([]byte, n+2)
			if _, err := io.ReadFull(r, b); err != nil {
				return nil, err
			}
			return b[:n], nil
		}
	}
}

// createStream creates a file-backed JetStream stream (one replica,
// limits retention) named name on subjects.
func createStream(addr, name, subjects string) error {
	cfg := fmt.Sprintf(`{"name":%q,"subjects":[%q],"storage":"file","retention":"limits","num_replicas":1}`, name, subjects)
	b, err := natsRequest(addr, "$JS.API.STREAM.CREATE."+name, []byte(cfg))
	if err != nil {
		return err
	}
	if bytes.Contains(b, []byte(`"error"`)) {
		return fmt.Errorf("create stream %s: %s", name, b)
	}
	return nil
}

// streamMessages returns how many messages the stream holds, or -1.
func streamMessages(addr, name string) int64 {
	b, err := natsRequest(addr, "$JS.API.STREAM.INFO."+name, nil)
	if err != nil {
		return -1
	}
	var info struct {
		State struct {
			Messages int64 `json:"messages"`
		} `json:"state"`
	}
	if json.Unmarshal(b, &info) != nil {
		return -1
	}
	return info.State.Messages
}
