package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// screen drives a program in a private tmux server (its own socket, so
// the test touches no other tmux session) as a person at a 200x50
// terminal would.
type screen struct {
	t    *testing.T
	sock string
}

func newScreen(t *testing.T, command string) *screen {
	t.Helper()
	needTmux(t)
	s := &screen{t: t, sock: fmt.Sprintf("lcli-test-%d-%d", os.Getpid(), time.Now().UnixNano())}
	t.Cleanup(func() { exec.Command("tmux", "-L", s.sock, "-f", "/dev/null", "kill-server").Run() })
	s.tmux("new-session", "-d", "-x", "200", "-y", "50", command)
	return s
}

func (s *screen) tmux(args ...string) string {
	s.t.Helper()
	cmd := exec.Command("tmux", append([]string{"-L", s.sock, "-f", "/dev/null"}, args...)...) // no user config
	cmd.Env = append(os.Environ(), "TERM=xterm-256color")
	out, err := cmd.CombinedOutput()
	if err != nil {
		s.t.Fatalf("tmux %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// typ types text literally, as keystrokes.
func (s *screen) typ(text string) { s.t.Helper(); s.tmux("send-keys", "-l", text) }

// press sends named keys: Tab, Enter, Up, C-c, C-d.
func (s *screen) press(keys ...string) {
	s.t.Helper()
	s.tmux(append([]string{"send-keys"}, keys...)...)
}

func (s *screen) text() string { s.t.Helper(); return s.tmux("capture-pane", "-p") }

// waitFor polls the screen until ok holds, for at most 10 s, and returns
// the screen; the test fails naming what it waited for.
func (s *screen) waitFor(what string, ok func(screen string) bool) string {
	s.t.Helper()
	var last string
	poll(s.t, 10*time.Second, func() string {
		last = s.text()
		if ok(last) {
			return ""
		}
		return fmt.Sprintf("waited for %s; the screen:\n%s", what, last)
	})
	return last
}

// waitText waits until the screen shows text.
func (s *screen) waitText(text string) string {
	s.t.Helper()
	return s.waitFor(fmt.Sprintf("%q", text), func(sc string) bool { return strings.Contains(sc, text) })
}

// waitCount waits until text is on the screen n times.
func (s *screen) waitCount(text string, n int) string {
	s.t.Helper()
	return s.waitFor(fmt.Sprintf("%q %d times", text, n), func(sc string) bool { return strings.Count(sc, text) >= n })
}

// lastLine is the last line of the screen with text on it (the prompt).
func lastLine(sc string) string {
	lines := strings.Split(strings.TrimRight(sc, "\n "), "\n")
	return lines[len(lines)-1]
}

// slowProxy passes requests to the server, but holds a PromQL query that
// mentions sleepy until the client goes away, reporting both events.
func slowProxy(t *testing.T, base string) (u string, held, released chan struct{}) {
	target, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(target)
	held, released = make(chan struct{}, 1), make(chan struct{}, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body)) // for the proxy
		form, _ := url.ParseQuery(string(body))
		if r.URL.Path == "/api/v1/query" && strings.Contains(form.Get("query"), "sleepy") {
			held <- struct{}{}
			select {
			case <-r.Context().Done():
				released <- struct{}{}
			case <-time.After(30 * time.Second):
				http.Error(w, "not cancelled", http.StatusGatewayTimeout)
			}
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL, held, released
}

// needTmux skips the test when tmux is absent, except under CI=true
// (where .ci/run installs it), where it fails.
func needTmux(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("tmux"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("tmux is not installed; .ci/run's APT_PACKAGES should have installed it")
		}
		t.Skip("tmux is not installed (apt-get install tmux); the interactive shell test needs it")
	}
}

// TestInteractive types into the shell in a terminal: a metric name
// completed with Tab and run, a label name and value completed, history
// with Up, Ctrl-C at the prompt and during a query, InfluxQL with SHOW
// MEASUREMENTS and a completed measurement, Ctrl-D to exit; the history
// is in ~/.lightning_cli_history afterwards.
func TestInteractive(t *testing.T) {
	needTmux(t)
	proxy, held, released := slowProxy(t, startServer(t))
	home := t.TempDir()
	s := newScreen(t, fmt.Sprintf("HOME=%s %s --url %s --token %s; echo \"[exit $?]\"; sleep 60", home, cliBinary, proxy, testToken))
	s.waitFor("the prompt", func(sc string) bool { return lastLine(sc) == "promql>" }) // capture-pane drops trailing blanks

	// A metric name: type part of it, Tab completes it, Enter runs it.
	s.typ("cpu_us")
	s.press("Tab")
	s.waitFor("the completed metric name", func(sc string) bool { return lastLine(sc) == "promql> cpu_usage_value" })
	s.press("Enter")
	sc := s.waitText("cpu_usage_value  demo  beta   us")
	if !strings.Contains(sc, "__name__         db    host   region  time                      value") ||
		!strings.Contains(sc, "cpu_usage_value  demo  alpha  eu      ") || !strings.Contains(sc, "  42.5\n") {
		t.Fatalf("table of the first query:\n%s", sc)
	}

	// Label name after {, label value after =".
	s.typ("cpu_usage_value{ho")
	s.press("Tab")
	s.waitFor("the label name", func(sc string) bool { return lastLine(sc) == "promql> cpu_usage_value{host" })
	s.typ(`="al`)
	s.press("Tab")
	s.waitFor("the label value", func(sc string) bool { return lastLine(sc) == `promql> cpu_usage_value{host="alpha"` })
	s.typ("}")
	s.press("Enter")
	s.waitCount("  42.5\n", 2)

	// Up recalls the history, newest first; Enter runs the recalled line.
	s.press("Up")
	s.waitFor("the last query recalled", func(sc string) bool { return lastLine(sc) == `promql> cpu_usage_value{host="alpha"}` })
	s.press("Up")
	s.waitFor("the first query recalled", func(sc string) bool { return lastLine(sc) == "promql> cpu_usage_value" })
	s.press("Enter")
	s.waitCount("cpu_usage_value  demo  beta   us", 2)

	// Ctrl-C at the prompt drops the line; during a query it cancels it.
	s.typ("half typed")
	s.press("C-c")
	s.waitFor("a fresh prompt after ^C", func(sc string) bool { return lastLine(sc) == "promql>" })
	s.typ("sleepy_metric")
	s.press("Enter")
	select {
	case <-held:
	case <-time.After(10 * time.Second):
		t.Fatalf("the slow query never reached the server; screen:\n%s", s.text())
	}
	s.press("C-c")
	select {
	case <-released:
	case <-time.After(10 * time.Second):
		t.Fatalf("Ctrl-C did not cancel the request; screen:\n%s", s.text())
	}
	s.waitText("query cancelled\npromql>")

	// InfluxQL: SHOW MEASUREMENTS, then a measurement completed after FROM.
	s.typ(`\influxql`)
	s.press("Enter")
	s.waitFor("the InfluxQL prompt", func(sc string) bool { return lastLine(sc) == "influxql>" })
	s.typ(`\db demo`)
	s.press("Enter")
	s.waitFor("the prompt with the database", func(sc string) bool { return lastLine(sc) == "influxql:demo>" })
	s.typ("SHOW MEASUREMENTS")
	s.press("Enter")
	sc = s.waitText("name: measurements\nname\n---------\ncpu_usage\nmem_free\n")
	s.typ("SELECT value FROM mem")
	s.press("Tab")
	s.waitFor("the measurement", func(sc string) bool { return lastLine(sc) == "influxql:demo> SELECT value FROM mem_free" })
	s.press("Enter")
	s.waitText("name: mem_free\n")
	s.waitText("  1024\n")

	// Ctrl-D on an empty line exits with 0.
	s.press("C-d")
	s.waitText("[exit 0]")

	histPath := filepath.Join(home, ".lightning_cli_history")
	hist, err := os.ReadFile(histPath)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(histPath); err != nil {
		t.Error(err)
	} else if fi.Mode().Perm() != 0o600 {
		t.Errorf("history file mode %v, want 0600", fi.Mode())
	}
	want := "cpu_usage_value\ncpu_usage_value{host=\"alpha\"}\ncpu_usage_value\nsleepy_metric\n\\influxql\n\\db demo\nSHOW MEASUREMENTS\nSELECT value FROM mem_free\n"
	if string(hist) != want {
		t.Fatalf("history file:\n%s\nwant:\n%s", hist, want)
	}
}
