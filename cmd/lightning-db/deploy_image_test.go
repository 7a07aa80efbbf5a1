package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// podmanCmd runs podman with the OCI runtime this machine needs and
// returns its combined output.
func podmanCmd(runtime string, args ...string) (string, error) {
	if runtime != "" {
		args = append([]string{"--runtime", runtime}, args...)
	}
	out, err := exec.Command("podman", args...).CombinedOutput()
	return string(out), err
}

// podmanRuntime is the OCI runtime the test runs containers with:
// $LDB_PODMAN_RUNTIME, else runc when installed (Debian 12's crun refuses
// a machine with cgroups v1 and v2 mounted at once, as this one, a
// container itself, has), else podman's default.
func podmanRuntime() string {
	if r := os.Getenv("LDB_PODMAN_RUNTIME"); r != "" {
		return r
	}
	if _, err := exec.LookPath("runc"); err == nil {
		return "runc"
	}
	return ""
}

// TestContainerImage builds the Dockerfile with podman
// (deploy/container/build-offline.sh: no network, the build stage's image
// made from this machine's Go) and runs the image: it must run as the
// non-root user 65532 on a read-only root file system (as the Helm
// chart runs it) with its data in the VOLUME, store and answer a
// write, pass its own HEALTHCHECK, stop cleanly on SIGTERM and hold the
// write when started again on the same volume. It skips
// when podman is not installed (outside CI) or cannot work here.
func TestContainerImage(t *testing.T) {
	for bin, pkg := range map[string]string{"podman": "podman", "buildah": "buildah", "busybox": "busybox-static"} {
		needTool(t, bin, pkg)
	}
	rt := podmanRuntime()
	if out, err := podmanCmd(rt, "info"); err != nil {
		t.Skipf("podman is installed but does not work on this machine: %v\n%s", err, out)
	}
	root, err := filepath.Abs("../..")
	require.NoError(t, err)
	tag := fmt.Sprintf("localhost/lightning-db:test-%d", os.Getpid())
	build := exec.Command(filepath.Join(root, "deploy/container/build-offline.sh"), tag)
	start := time.Now()
	out, err := build.CombinedOutput()
	require.NoError(t, err, "build-offline.sh:\n%s", out)
	t.Logf("image built in %v", time.Since(start).Round(time.Millisecond))
	t.Cleanup(func() { podmanCmd("", "rmi", "-f", tag) })

	var img []struct {
		Size   int64
		Config struct {
			User       string
			Volumes    map[string]any
			Entrypoint []string
		}
		Healthcheck struct{ Test []string } // podman puts it beside Config
	}
	out, err = exec.Command("podman", "image", "inspect", tag).Output()
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal([]byte(out), &img))
	require.Len(t, img, 1)
	cfg := img[0].Config
	require.Equal(t, "65532:65532", cfg.User)
	require.Contains(t, cfg.Volumes, "/var/lib/lightning-db")
	require.Equal(t, []string{"CMD", "/usr/bin/lightning-db", "healthcheck"}, img[0].Healthcheck.Test)
	t.Logf("image size %d bytes", img[0].Size)

	// The data directory is a host directory any user may write: the files
	// the server creates in it show the user it runs as.
	vol := t.TempDir()
	require.NoError(t, os.Chmod(vol, 0o777))
	addr := freeAddr(t)
	name := fmt.Sprintf("ldb-test-%d", os.Getpid())
	// podman's default limits are above this machine's, and raising them
	// needs CAP_SYS_RESOURCE: ask for modest ones.
	out2, err := podmanCmd(rt, "run", "-d", "--name", name,
		"--ulimit", "nofile=4096:4096", "--ulimit", "nproc=4096:4096", "--read-only",
		"-p", addr+":8086", "-v", vol+":/var/lib/lightning-db", tag)
	require.NoError(t, err, out2)
	t.Cleanup(func() {
		if t.Failed() {
			logs, _ := podmanCmd(rt, "logs", name)
			t.Logf("container log:\n%s", logs)
		}
		podmanCmd(rt, "rm", "-f", name)
	})
	base := "http://" + addr
	poll(t, 30*time.Second, 50*time.Millisecond, func() string {
		if readyAt(base + "/ready") {
			return ""
		}
		logs, _ := podmanCmd(rt, "logs", name)
		return "container not ready; log:\n" + logs
	})
	writeLP(t, base, "img", []byte("room,site=a temp=21.5\n"))
	requireSeries(t, base, "room_temp", 1)

	// The image's own HEALTHCHECK, run by podman inside the container.
	hc, err := podmanCmd(rt, "healthcheck", "run", name)
	require.NoError(t, err, "healthcheck: %s", hc)
	st, err := podmanCmd(rt, "inspect", "--format", "{{.State.Health.Status}}", name)
	require.NoError(t, err)
	require.Equal(t, "healthy", lastLine(st))

	// Non-root: what the server wrote in the volume belongs to 65532.
	fi, err := os.Stat(filepath.Join(vol, "wal"))
	require.NoError(t, err)
	require.Equal(t, uint32(65532), fileUID(fi))

	// The tools are in the image: the query shell asks the server.
	out2, err = podmanCmd(rt, "exec", name, "/usr/bin/lightning-cli", "--url", "http://127.0.0.1:8086", "-e", "room_temp")
	require.NoError(t, err, out2)
	require.Contains(t, out2, "21.5")
	out2, err = podmanCmd(rt, "exec", name, "/usr/bin/lightning-admin", "snapshot", "list", "--url", "http://127.0.0.1:8086")
	require.NoError(t, err, out2)

	// SIGTERM: a clean exit, within the stop timeout.
	out2, err = podmanCmd(rt, "stop", "-t", "20", name)
	require.NoError(t, err, out2)
	code, err := podmanCmd(rt, "inspect", "--format", "{{.State.ExitCode}}", name)
	require.NoError(t, err)
	require.Equal(t, "0", lastLine(code))

	// Started again (its root file system is read-only, so the data can
	// only be in the volume), it answers the same.
	out2, err = podmanCmd(rt, "start", name)
	require.NoError(t, err, out2)
	poll(t, 30*time.Second, 50*time.Millisecond, func() string {
		if readyAt(base + "/ready") {
			return ""
		}
		logs, _ := podmanCmd(rt, "logs", name)
		return "restarted container not ready; log:\n" + logs
	})
	requireSeries(t, base, "room_temp", 1)
}

// requireSeries runs an instant PromQL query and requires n series.
func requireSeries(t *testing.T, base, query string, n int) {
	t.Helper()
	resp, err := http.Get(base + "/api/v1/query?query=" + query)
	require.NoError(t, err)
	defer resp.Body.Close()
	var q struct {
		Data struct{ Result []json.RawMessage } `json:"data"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&q))
	require.Len(t, q.Data.Result, n, "%s", query)
}

// lastLine is the last non-empty line of podman's output (it may log
// warnings before it).
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// fileUID is the owner of a file (Linux).
func fileUID(fi os.FileInfo) uint32 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Uid
	}
	return ^uint32(0)
}
