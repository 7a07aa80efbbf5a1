package main

import (
	"bufio"
	"bytes"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/require"
)

// syscallSet expands a systemd system call group (@name) into its calls,
// nested groups included, as systemd-analyze syscall-filter lists them.
func syscallSet(t *testing.T, analyze, group string, into map[string]bool) {
	t.Helper()
	out, err := exec.Command(analyze, "syscall-filter", group).Output()
	require.NoError(t, err, "systemd-analyze syscall-filter %s", group)
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Scan() // the group's own name
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		switch {
		case l == "" || strings.HasPrefix(l, "#"):
		case strings.HasPrefix(l, "@"):
			syscallSet(t, analyze, l, into)
		default:
			into[l] = true
		}
	}
	require.NotEmpty(t, into, "no system calls in %s", group)
}

// TestSystemdSyscallFilter runs the real server under strace through a
// workload that touches every subsystem (line protocol writes, flushes,
// PromQL, MQTT QoS 1, a snapshot, SIGHUP, SIGTERM) and requires every
// system call it made to pass the unit's SystemCallFilter
// (@system-service without @privileged) and every socket its
// RestrictAddressFamilies (IPv4, IPv6): systemd does not run here, so
// this is how the filter is known not to break the server.
func TestSystemdSyscallFilter(t *testing.T) {
	analyze := needTool(t, "systemd-analyze", "systemd")
	strace := needTool(t, "strace", "strace")
	unit, err := os.ReadFile("../../deploy/systemd/lightning-db.service")
	require.NoError(t, err)
	require.Contains(t, string(unit), "SystemCallFilter=@system-service\nSystemCallFilter=~@privileged\n",
		"the filter changed: change this test with it")
	allowed, denied := map[string]bool{}, map[string]bool{}
	syscallSet(t, analyze, "@system-service", allowed)
	syscallSet(t, analyze, "@privileged", denied)

	dir := t.TempDir()
	trace := filepath.Join(dir, "strace.out")
	cfg := filepath.Join(dir, "ldb.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte("engine:\n  memtable_flush_bytes: 4096\n"), 0o644))
	addrs := freeAddrs(t, 2)
	log := &lockedLog{}
	cmd := exec.Command(strace, "-f", "-qq", "-o", trace, binary, "--config", cfg,
		"--data-dir", filepath.Join(dir, "data"), "--http-addr", addrs[0], "--mqtt-addr", addrs[1])
	cmd.Stdout, cmd.Stderr = log, log
	require.NoError(t, cmd.Start())
	exited := false
	var server *os.Process // strace's child
	t.Cleanup(func() {
		if !exited {
			if server != nil { // a killed strace leaves its tracee running
				server.Kill()
			}
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	base := "http://" + addrs[0]
	poll(t, 30*time.Second, 50*time.Millisecond, func() string {
		if readyAt(base + "/ready") {
			return ""
		}
		return "server under strace not ready; log:\n" + log.String()
	})
	// Signals go to the server, strace's child (strace itself would
	// detach on SIGTERM and leave the server running).
	kids, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", cmd.Process.Pid, cmd.Process.Pid))
	require.NoError(t, err)
	var pid int
	_, err = fmt.Sscan(string(kids), &pid)
	require.NoError(t, err, "strace's children: %q", kids)
	server, err = os.FindProcess(pid)
	require.NoError(t, err)

	mc := paho.NewClient(paho.NewClientOptions().AddBroker("tcp://" + addrs[1]).SetClientID("sys").SetAutoReconnect(false))
	tok := mc.Connect()
	require.True(t, tok.WaitTimeout(10*time.Second))
	require.NoError(t, tok.Error())
	for i := range 20 {
		var lp strings.Builder
		for s := range 50 {
			fmt.Fprintf(&lp, "sys,host=h%d v=%d,f=%d.5\n", s, i, i)
		}
		writeLP(t, base, "sys", []byte(lp.String()))
		pub := mc.Publish("plant/x", 1, false, fmt.Sprintf("m,device=d v=%d", i))
		require.True(t, pub.WaitTimeout(10*time.Second))
		require.NoError(t, pub.Error())
	}
	mc.Disconnect(100)
	resp, err := http.Get(base + "/api/v1/query?query=sum(sys_v)")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
	resp, err = http.Post(base+"/api/v1/admin/tsdb/snapshot", "", nil)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
	require.NoError(t, server.Signal(syscall.SIGHUP))
	poll(t, 10*time.Second, 20*time.Millisecond, func() string {
		if strings.Contains(log.String(), "SIGHUP") {
			return ""
		}
		return "no SIGHUP in the log:\n" + log.String()
	})
	require.NoError(t, server.Signal(syscall.SIGTERM))
	require.NoError(t, cmd.Wait(), "log:\n%s", log)
	exited = true

	data, err := os.ReadFile(trace)
	require.NoError(t, err)
	call := regexp.MustCompile(`^\d+\s+([a-z0-9_]+)\(([A-Z0-9_]*)`)
	used, families := map[string]int{}, map[string]bool{}
	for _, l := range strings.Split(string(data), "\n") {
		if m := call.FindStringSubmatch(l); m != nil {
			used[m[1]]++
			if m[1] == "socket" {
				families[m[2]] = true
			}
		}
	}
	// RestrictAddressFamilies=AF_INET AF_INET6.
	for f := range families {
		require.Contains(t, []string{"AF_INET", "AF_INET6"}, f, "a socket of a family the unit refuses")
	}
	require.Contains(t, used, "fsync", "no fsync traced: strace did not follow the server")
	var refused []string
	for name, n := range used {
		if !allowed[name] || denied[name] {
			refused = append(refused, fmt.Sprintf("%s (%d calls)", name, n))
		}
	}
	sort.Strings(refused)
	t.Logf("%d distinct system calls, all in @system-service without @privileged", len(used))
	require.Empty(t, refused, "system calls the unit's SystemCallFilter refuses (EPERM)")
}
