package main

import (
	"fmt"
	"os/exec"
	"time"
)

// runIdle measures the memory an idle connection costs each server:
// mosquitto (no persistence), the embedded broker over a real engine
// (mqttbench -serve) and nats-server's MQTT listener (JetStream on). For
// each, it starts the server pinned to -server-cpus, reads its RSS, opens
// n MQTT 3.1.1 connections (clean session, keep-alive 0, nothing
// published), waits until the RSS stops growing and prints the growth
// divided by n.
func runIdle(n int, serverCPUs string) error {
	m, cleanup, err := newMatrix(matrixOptions{serverCPUs: serverCPUs})
	if err != nil {
		return err
	}
	defer cleanup()
	fmt.Printf("servers pinned: %v; %d idle MQTT 3.1.1 connections (clean session, keep-alive 0)\n\n", m.pin != nil, n)
	fmt.Println("| server | RSS before | RSS with the connections | peak RSS | per connection | connect time |")
	fmt.Println("|---|---|---|---|---|---|")
	type server struct {
		name  string
		start func() (*exec.Cmd, string, error)
	}
	servers := []server{
		{"mosquitto", m.startMosquitto},
		{"embedded (Lightning DB), mochi's listener", func() (*exec.Cmd, string, error) { return m.startEmbedded() }},
		{"embedded (Lightning DB), publish front end", func() (*exec.Cmd, string, error) { return m.startEmbedded("-front") }},
		{"nats-server MQTT", func() (*exec.Cmd, string, error) {
			s, err := m.startNats()
			if err != nil {
				return nil, "", err
			}
			return s.cmd, s.mqtt, nil
		}},
	}
	for _, s := range servers {
		cmd, addr, err := s.start()
		if err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		row, err := idleRow(cmd, addr, n)
		stop(cmd)
		if err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		fmt.Printf("| %s | %s |\n", s.name, row)
	}
	return nil
}

func idleRow(cmd *exec.Cmd, addr string, n int) (string, error) {
	pid := cmd.Process.Pid
	before := settledRSS(pid)
	t0 := time.Now()
	conns, err := dialAll("raw", addr, n)
	if err != nil {
		return "", err
	}
	took := time.Since(t0)
	after := settledRSS(pid)
	peak := procStatus(pid, "VmHWM")
	for _, c := range conns {
		c.close()
	}
	return fmt.Sprintf("%s | %s | %s | %.1f KiB | %.1f s", mib(before), mib(after), mib(peak),
		float64(after-before)/float64(n)/1024, took.Seconds()), nil
}

// settledRSS waits until the RSS of pid changes by less than 1 % over
// one second (at most 20 s) and returns it.
func settledRSS(pid int) int64 {
	prev := procStatus(pid, "VmRSS")
	for range 20 {
		time.Sleep(time.Second)
		cur := procStatus(pid, "VmRSS")
		if d := cur - prev; d < prev/100 && -d < prev/100 {
			return cur
		}
		prev = cur
	}
	return prev
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

// startEmbedded starts mqttbench -serve (the embedded broker over a real
// engine) and waits for its /stats.
func (m *matrix) startEmbedded(extra ...string) (*exec.Cmd, string, error) {
	return m.startEmbeddedOf(m.self, extra...)
}

// startEmbeddedOf starts bin -serve (another mqttbench binary).
func (m *matrix) startEmbeddedOf(bin string, extra ...string) (*exec.Cmd, string, error) {
	addr, stats := freeAddr(), freeAddr()
	if fakeFsync > 0 {
		extra = append(extra, "-fake-fsync", fakeFsync.String())
	}
	srv, err := m.start(bin, append([]string{"-serve", addr, "-pprof", stats}, extra...)...)
	if err != nil {
		return nil, "", err
	}
	if err := waitFor(func() bool { return dialable(addr) && dialable(stats) }); err != nil {
		stop(srv)
		return nil, "", fmt.Errorf("embedded broker did not start: %w", err)
	}
	m.lastStats = stats
	return srv, addr, nil
}
