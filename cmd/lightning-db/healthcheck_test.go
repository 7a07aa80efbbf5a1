package main

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// runHealthcheck runs `lightning-db healthcheck args...` (the real binary)
// and returns its exit code and output.
func runHealthcheck(t *testing.T, env []string, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(binary, append([]string{"healthcheck"}, args...)...)
	cmd.Env = append(cmd.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), string(out)
	}
	require.NoError(t, err)
	return 0, string(out)
}

// TestHealthcheckCommand proves the probe the container image's
// HEALTHCHECK runs: 0 against a live server's /health and /ready, 1 when
// the server answers anything but 200 or is not there, 2 on bad usage.
func TestHealthcheckCommand(t *testing.T) {
	p := startServer(t, t.TempDir())
	for _, tc := range []struct {
		name string
		env  []string
		args []string
		code int
		out  string
	}{
		{"health", nil, []string{"--url", p.url("/health")}, 0, "ok"},
		{"ready", nil, []string{"--url", p.url("/ready")}, 0, "ok"},
		{"env url", []string{"LIGHTNINGDB_HEALTH_URL=" + p.url("/ready")}, nil, 0, "ok"},
		{"flag wins over env", []string{"LIGHTNINGDB_HEALTH_URL=" + p.url("/ready")}, []string{"--url", p.url("/no-such-route")}, 1, "404"},
		{"not 200", nil, []string{"--url", p.url("/no-such-route")}, 1, "answered 404"},
		{"nobody listening", nil, []string{"--url", "http://" + freeAddr(t) + "/health"}, 1, "connection refused"},
		{"bad url", nil, []string{"--url", "127.0.0.1:8086/health"}, 2, "want http://"},
		{"bad timeout", nil, []string{"--url", p.url("/health"), "--timeout", "0s"}, 2, "--timeout"},
		{"extra argument", nil, []string{"--url", p.url("/health"), "extra"}, 2, "unexpected arguments"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out := runHealthcheck(t, tc.env, tc.args...)
			require.Equal(t, tc.code, code, out)
			require.True(t, strings.Contains(out, tc.out), "output %q lacks %q", out, tc.out)
		})
	}
}
