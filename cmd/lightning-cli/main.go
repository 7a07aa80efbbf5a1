// Command lightning-cli is an interactive shell for Lightning DB: PromQL
// (the default) and InfluxQL queries against a running server's HTTP API,
// with line editing, history, Tab completion of names from the server and
// table, CSV or JSON output. With -e or a non-terminal stdin it runs
// queries without a prompt, for scripts.
//
// Exit codes: 0 success, 1 a query failed (or the server could not be
// reached), 2 bad usage.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/chzyer/readline"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

const usage = `Usage: lightning-cli [flags]

An interactive shell for Lightning DB: PromQL by default, InfluxQL with
--lang influxql or \influxql. Tab completes metric names, label names and
values (measurements in InfluxQL); history is kept in
~/.lightning_cli_history. \help in the shell lists its commands.

Without a terminal on stdin, each line of stdin is run as with -e.

Flags:
`

const examples = `
Examples:
  lightning-cli                                   # shell on http://127.0.0.1:8086
  lightning-cli --url https://db:8086 --token "$TOKEN"
  lightning-cli -e 'up'                           # one instant query, a table
  lightning-cli -e 'rate(http_requests_total[5m])' --range 1h --step 1m --format csv
  lightning-cli --lang influxql --db telegraf -e 'SHOW MEASUREMENTS'
  echo 'sum by (job) (up)' | lightning-cli --format json | jq .

Exit codes: 0 success, 1 a query failed or the server could not be
reached, 2 bad usage. The token may also come from $LIGHTNING_TOKEN.
`

// multiFlag collects a repeated flag (-e).
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, "; ") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

// options are the command line's settings.
type options struct {
	url, token, db, lang, format string
	span, step                   string
	timeout                      time.Duration
	exprs                        multiFlag
}

// parseFlags checks args. On --help it prints the usage to stdout and
// returns flag.ErrHelp.
func parseFlags(args []string, stdout io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("lightning-cli", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // run prints the error; --help goes to stdout
	fs.StringVar(&o.url, "url", "http://127.0.0.1:8086", "server `URL`")
	fs.StringVar(&o.token, "token", "", "API `token`, sent as Authorization: Bearer (default $LIGHTNING_TOKEN)")
	fs.StringVar(&o.db, "db", "", "InfluxQL `database`")
	fs.StringVar(&o.lang, "lang", langPromQL, "query `language`: promql or influxql")
	fs.StringVar(&o.format, "format", formatTable, "output `format`: table, csv or json")
	fs.StringVar(&o.span, "range", "", "run PromQL as range queries over the last `DURATION` (1h, 30m, 7d)")
	fs.StringVar(&o.step, "step", "", "range query `step` (default: the range over 250 points, at least 1s)")
	fs.DurationVar(&o.timeout, "timeout", 0, "give up on a query after this `duration` (0: no limit)")
	fs.Var(&o.exprs, "e", "run this `query` and exit (repeatable)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, usage)
			fs.SetOutput(stdout)
			fs.PrintDefaults()
			fmt.Fprint(stdout, examples)
		}
		return nil, err
	}
	if o.token == "" {
		o.token = os.Getenv("LIGHTNING_TOKEN")
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q (a query goes after -e)", fs.Arg(0))
	}
	if o.lang != langPromQL && o.lang != langInfluxQL {
		return nil, fmt.Errorf("--lang %q: want promql or influxql", o.lang)
	}
	if !validFormat(o.format) {
		return nil, fmt.Errorf("--format %q: want table, csv or json", o.format)
	}
	if o.step != "" && o.span == "" {
		return nil, errors.New("--step needs --range")
	}
	if o.timeout < 0 {
		return nil, fmt.Errorf("--timeout %s: want 0 or more", o.timeout)
	}
	return o, nil
}

// run is main without the process: it returns the exit code.
func run(args []string, stdin *os.File, stdout, stderr io.Writer) int {
	o, err := parseFlags(args, stdout)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "lightning-cli: %v (--help lists the flags)\n", err)
		return 2
	}
	s, err := newSession(o, stdout, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "lightning-cli: %v\n", err)
		return 2
	}
	ctx := context.Background()
	switch {
	case len(o.exprs) > 0:
		if s.runLines(ctx, strings.NewReader(strings.Join(o.exprs, "\n"))) {
			return 1
		}
	case !readline.IsTerminal(int(stdin.Fd())):
		if s.runLines(ctx, stdin) {
			return 1
		}
	default:
		if err := s.interactive(stdin, stdout); err != nil {
			fmt.Fprintf(stderr, "lightning-cli: %v\n", err)
			return 1
		}
	}
	return 0
}

func newSession(o *options, stdout, stderr io.Writer) (*session, error) {
	c, err := newClient(o.url, o.token)
	if err != nil {
		return nil, err
	}
	s := &session{c: c, lang: o.lang, format: o.format, db: o.db, out: stdout, errOut: stderr, now: time.Now, timeout: o.timeout}
	if o.span != "" {
		if s.span, s.step, err = parseRange(o.span, o.step); err != nil {
			return nil, fmt.Errorf("--range/--step: %w", err)
		}
	}
	s.comp = newCompleter(apiNames{c}, 30*time.Second)
	s.comp.lang, s.comp.db = s.lang, s.db
	return s, nil
}
