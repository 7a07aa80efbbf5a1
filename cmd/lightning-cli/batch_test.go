package main

import (
	"bytes"
	"errors"
	"os/exec"
	"strings"
	"testing"
)

// runCLI runs the built shell with args and stdin (nil: none) and returns
// its stdout, stderr and exit code.
func runCLI(t *testing.T, stdin string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(cliBinary, args...)
	cmd.Stdin = strings.NewReader(stdin)
	cmd.Env = []string{"HOME=" + t.TempDir()}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	return stdout.String(), stderr.String(), cmd.ProcessState.ExitCode()
}

// TestBatch runs queries with -e and from stdin against a real server:
// tables, CSV and JSON of the seeded points, InfluxQL, and the exit codes
// of a query error, a refused token and bad usage.
func TestBatch(t *testing.T) {
	base := startServer(t)
	auth := []string{"--url", base, "--token", testToken}
	for _, c := range []struct {
		name, stdin string
		args        []string
		code        int
		out, errOut []string // substrings of stdout and stderr
	}{
		{"instant table", "", []string{"-e", `cpu_usage_value{host="alpha"}`}, 0,
			[]string{"__name__         db    host   region  time", "cpu_usage_value  demo  alpha  eu      "}, nil},
		{"csv", "", []string{"--format", "csv", "-e", "sort(cpu_usage_value)"}, 0,
			[]string{"__name__,db,host,region,time,value\n", "cpu_usage_value,demo,beta,us,", ",7\n"}, nil},
		{"json", "", []string{"--format", "json", "-e", "sum(cpu_usage_value)"}, 0,
			[]string{`{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[`, `"49.5"]}]}}` + "\n"}, nil},
		{"range", "", []string{"--range", "10m", "--step", "1m", "-e", `mem_free_value`}, 0,
			[]string{"mem_free_value  demo  alpha  ", "  1024\n"}, nil},
		{"stdin, one bad query", "1+1\nrate(\n\\format csv\nmem_free_value\n", nil, 1,
			[]string{"time                      value", "  2\n", "mem_free_value,demo,alpha,"},
			[]string{`error: bad_data: invalid parameter "query": 1:6: parse error`, "(HTTP 400)"}},
		{"influxql", "", []string{"--lang", "influxql", "--db", "demo", "-e", "SHOW MEASUREMENTS", "-e", "SELECT value FROM mem_free"}, 0,
			[]string{"name: measurements\nname\n---------\ncpu_usage\nmem_free\n", "name: mem_free\ntime", "  1024\n"}, nil},
		{"influxql USE from stdin", "\\influxql\nUSE demo\nSELECT value FROM cpu_usage WHERE host = 'beta'\n", nil, 0,
			[]string{"name: cpu_usage", "  7\n"}, []string{"influxql, db demo"}},
		{"influxql error", "", []string{"--lang", "influxql", "--db", "demo", "-e", "SELEKT 1"}, 1,
			nil, []string{"error: error parsing query: found SELEKT"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			out, errOut, code := runCLI(t, c.stdin, append(auth, c.args...)...)
			if code != c.code {
				t.Fatalf("exit %d, want %d; stdout:\n%s\nstderr:\n%s", code, c.code, out, errOut)
			}
			for _, w := range c.out {
				if !strings.Contains(out, w) {
					t.Errorf("stdout lacks %q:\n%s", w, out)
				}
			}
			for _, w := range c.errOut {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr lacks %q:\n%s", w, errOut)
				}
			}
		})
	}

	t.Run("no token", func(t *testing.T) {
		_, errOut, code := runCLI(t, "", "--url", base, "-e", "up")
		if code != 1 || !strings.Contains(errOut, "(HTTP 401)") {
			t.Fatalf("exit %d, stderr %q; want 1 and HTTP 401", code, errOut)
		}
	})
	t.Run("server down", func(t *testing.T) {
		_, errOut, code := runCLI(t, "", "--url", "http://127.0.0.1:1", "-e", "up")
		if code != 1 || !strings.Contains(errOut, "error: cannot reach http://127.0.0.1:1: ") {
			t.Fatalf("exit %d, stderr %q", code, errOut)
		}
	})
}

// TestUsage: --help prints examples on stdout and exits 0; bad flags exit
// 2 naming what is wrong.
func TestUsage(t *testing.T) {
	out, _, code := runCLI(t, "", "--help")
	if code != 0 || !strings.Contains(out, "Examples:") || !strings.Contains(out, "Exit codes:") {
		t.Fatalf("--help: exit %d\n%s", code, out)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--lang", "sql"}, `--lang "sql": want promql or influxql`},
		{[]string{"--format", "xml"}, `--format "xml": want table, csv or json`},
		{[]string{"--url", "ftp://x"}, `--url "ftp://x": scheme must be http or https`},
		{[]string{"--range", "soon"}, `range "soon": want a positive duration`},
		{[]string{"--step", "1m"}, "--step needs --range"},
		{[]string{"--range", "30d", "--step", "1s"}, "the API allows 11000"},
		{[]string{"up"}, `unexpected argument "up" (a query goes after -e)`},
		{[]string{"--bogus"}, "flag provided but not defined: -bogus"},
	} {
		_, errOut, code := runCLI(t, "", c.args...)
		if code != 2 || !strings.Contains(errOut, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", c.args, code, errOut, c.want)
		}
	}
}
