package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/chzyer/readline"
	"github.com/prometheus/common/model"
)

// session is the shell's state: the language, format and range mode the
// next query runs with, and where it prints.
type session struct {
	c      *client
	comp   *completer
	lang   string
	format string
	db     string
	span   time.Duration // range queries cover [now-span, now]; 0: instant queries
	step   time.Duration // the range queries' resolution
	// timeout bounds each query; 0 means none.
	timeout time.Duration
	out     io.Writer
	errOut  io.Writer
	now     func() time.Time
}

// errQuit is returned by handle for \quit.
var errQuit = errors.New("quit")

// handle runs one line: a backslash command or a query. A query's error
// is returned; a command's mistakes too (they are the user's).
func (s *session) handle(ctx context.Context, line string) error {
	line = strings.TrimSpace(line)
	switch {
	case line == "" || strings.HasPrefix(line, "--") || (s.lang == langPromQL && strings.HasPrefix(line, "#")):
		return nil
	case strings.HasPrefix(line, `\`):
		return s.command(line)
	case line == "exit" || line == "quit":
		return errQuit
	case line == "help":
		return s.command(`\help`)
	}
	if s.lang == langInfluxQL {
		if m := useStmt.FindStringSubmatch(line); m != nil {
			return s.command(`\db ` + m[1])
		}
	}
	return s.query(ctx, line)
}

var useStmt = regexp.MustCompile(`(?i)^use\s+"?([^"\s;]+)"?\s*;?$`)

// query sends q in the current language and prints the answer. Warnings
// go to errOut; a statement error of InfluxQL is returned after the
// other statements' results are printed.
func (s *session) query(ctx context.Context, q string) error {
	var (
		body []byte
		err  error
		res  *result
	)
	if s.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.timeout)
		defer cancel()
	}
	if s.lang == langInfluxQL {
		body, err = s.c.influxQuery(ctx, q, s.db)
	} else if s.span > 0 {
		end := s.now()
		body, err = s.c.promQueryRange(ctx, q, end.Add(-s.span), end, s.step)
	} else {
		body, err = s.c.promQuery(ctx, q, time.Time{})
	}
	if err != nil {
		return err
	}
	if s.lang == langInfluxQL {
		res, err = decodeInflux(body)
	} else {
		res, err = decodeProm(body)
	}
	if res == nil {
		return err
	}
	for _, w := range res.Warnings {
		fmt.Fprintf(s.errOut, "warning: %s\n", w)
	}
	if werr := writeResult(s.out, s.format, res); werr != nil {
		return errors.Join(err, werr)
	}
	return err
}

// command runs a backslash command.
func (s *session) command(line string) error {
	fields := strings.Fields(line)
	name, args := fields[0], fields[1:]
	switch name {
	case `\q`, `\quit`, `\exit`:
		return errQuit
	case `\h`, `\help`, `\?`:
		fmt.Fprint(s.out, shellHelp)
		fmt.Fprintf(s.out, "Now: %s\n", s.settings())
		return nil
	case `\promql`, `\influxql`:
		if len(args) > 0 {
			return fmt.Errorf("%s takes no argument", name)
		}
		s.setLang(name[1:])
	case `\format`:
		if len(args) != 1 || !validFormat(args[0]) {
			return fmt.Errorf(`\format wants one of table, csv, json`)
		}
		s.format = args[0]
	case `\db`, `\use`:
		if len(args) != 1 {
			return fmt.Errorf(`%s wants a database name`, name)
		}
		s.db = args[0]
		s.comp.db = s.db
	case `\instant`:
		s.span, s.step = 0, 0
	case `\range`:
		return s.setRange(args)
	default:
		return fmt.Errorf(`unknown command %s (\help lists them)`, name)
	}
	fmt.Fprintf(s.errOut, "%s\n", s.settings())
	return nil
}

func (s *session) setLang(lang string) {
	s.lang = lang
	s.comp.lang = lang
}

// setRange parses \range DURATION [STEP] and \range off.
func (s *session) setRange(args []string) error {
	if len(args) == 1 && (args[0] == "off" || args[0] == "0") {
		s.span, s.step = 0, 0
		fmt.Fprintf(s.errOut, "%s\n", s.settings())
		return nil
	}
	if len(args) < 1 || len(args) > 2 {
		return fmt.Errorf(`\range wants DURATION [STEP] (as in \range 1h 60s) or off`)
	}
	span, step, err := parseRange(args[0], strings.Join(args[1:], ""))
	if err != nil {
		return err
	}
	s.span, s.step = span, step
	fmt.Fprintf(s.errOut, "%s\n", s.settings())
	return nil
}

// parseRange checks a range query's span and step ("" for the default:
// the span over 250 points, at least 1s).
func parseRange(spanArg, stepArg string) (span, step time.Duration, err error) {
	span, err = parseDuration(spanArg)
	if err != nil || span <= 0 {
		return 0, 0, fmt.Errorf("range %q: want a positive duration such as 1h or 30m", spanArg)
	}
	if stepArg == "" {
		step = max(time.Second, (span / 250).Round(time.Second))
		return span, step, nil
	}
	step, err = parseDuration(stepArg)
	if err != nil || step <= 0 {
		return 0, 0, fmt.Errorf("step %q: want a positive duration such as 60s", stepArg)
	}
	if span/step > 11000 {
		return 0, 0, fmt.Errorf("range %s at step %s is %d points a series; the API allows 11000", spanArg, stepArg, span/step)
	}
	return span, step, nil
}

// parseDuration takes Go durations (90s, 1h30m) and PromQL's d, w, y.
func parseDuration(s string) (time.Duration, error) {
	if d, err := time.ParseDuration(s); err == nil {
		return d, nil
	}
	units := map[byte]time.Duration{'d': 24 * time.Hour, 'w': 7 * 24 * time.Hour, 'y': 365 * 24 * time.Hour}
	if len(s) < 2 || units[s[len(s)-1]] == 0 {
		return 0, fmt.Errorf("bad duration %q", s)
	}
	var n float64
	if _, err := fmt.Sscanf(s[:len(s)-1], "%g", &n); err != nil || n <= 0 || n > math.MaxInt64/float64(units[s[len(s)-1]]) {
		return 0, fmt.Errorf("bad duration %q", s)
	}
	return time.Duration(n * float64(units[s[len(s)-1]])), nil
}

// settings describes the mode the next query runs in.
func (s *session) settings() string {
	mode := "instant"
	if s.span > 0 {
		mode = fmt.Sprintf("range %s step %s", model.Duration(s.span), model.Duration(s.step))
	}
	if s.lang == langInfluxQL {
		db := s.db
		if db == "" {
			db = "(none)"
		}
		if s.span > 0 {
			return fmt.Sprintf("influxql, db %s, format %s (PromQL: %s)", db, s.format, mode)
		}
		return fmt.Sprintf("influxql, db %s, format %s", db, s.format)
	}
	return fmt.Sprintf("promql, %s, format %s", mode, s.format)
}

func (s *session) prompt() string {
	if s.lang == langInfluxQL {
		if s.db != "" {
			return "influxql:" + s.db + "> "
		}
		return "influxql> "
	}
	if s.span > 0 {
		return "promql[" + model.Duration(s.span).String() + "]> "
	}
	return "promql> "
}

// runLines runs each line of r as with -e: a failed query is reported on
// errOut and the run goes on; it returns whether any failed.
func (s *session) runLines(ctx context.Context, r io.Reader) (failed bool) {
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		err := s.handle(ctx, sc.Text())
		if errors.Is(err, errQuit) {
			break
		}
		if err != nil {
			s.printErr(err)
			failed = true
		}
	}
	if err := sc.Err(); err != nil {
		s.printErr(fmt.Errorf("read stdin: %w", err))
		failed = true
	}
	return failed
}

func (s *session) printErr(err error) {
	if errors.Is(err, context.Canceled) {
		fmt.Fprintln(s.errOut, "query cancelled")
		return
	}
	if errors.Is(err, context.DeadlineExceeded) {
		fmt.Fprintf(s.errOut, "error: query timed out after %s (--timeout)\n", s.timeout)
		return
	}
	fmt.Fprintf(s.errOut, "error: %v\n", err)
}

// historyPath is ~/.lightning_cli_history ("" if there is no home).
func historyPath() string {
	home, err := os.UserHomeDir()
	if err != nil || home == "" {
		return ""
	}
	return filepath.Join(home, ".lightning_cli_history")
}

// interactive reads lines with editing, history and completion until
// Ctrl-D or \quit. Ctrl-C at the prompt clears the line; during a query
// it cancels the query.
func (s *session) interactive(stdin io.ReadCloser, stdout io.Writer) error {
	hist := historyPath()
	if hist != "" {
		// Queries may name what others should not read: the file is the
		// user's alone, as psql's is (readline would create it 0644).
		if f, err := os.OpenFile(hist, os.O_CREATE|os.O_RDONLY, 0o600); err == nil {
			f.Close()
		}
	}
	rl, err := readline.NewEx(&readline.Config{
		Prompt:            s.prompt(),
		HistoryFile:       hist,
		HistorySearchFold: true,
		AutoComplete:      s.comp,
		InterruptPrompt:   "^C",
		EOFPrompt:         "",
		Stdin:             stdin,
		Stdout:            stdout,
		Stderr:            s.errOut,
	})
	if err != nil {
		return err
	}
	defer rl.Close()
	var (
		mu     sync.Mutex // mu protects cancel
		cancel context.CancelFunc
	)
	sigc := make(chan os.Signal, 1)
	signal.Notify(sigc, os.Interrupt)
	defer signal.Stop(sigc)
	done := make(chan struct{})
	defer close(done)
	go func() {
		for {
			select {
			case <-sigc:
				mu.Lock()
				if cancel != nil {
					cancel()
				}
				mu.Unlock()
			case <-done:
				return
			}
		}
	}()
	fmt.Fprintf(s.errOut, "lightning-cli: %s (%s). \\help for commands, Ctrl-D to exit.\n", s.c.base, s.settings())
	for {
		rl.SetPrompt(s.prompt())
		line, err := rl.Readline()
		if errors.Is(err, readline.ErrInterrupt) {
			continue
		}
		if err != nil { // io.EOF: Ctrl-D on an empty line
			return nil
		}
		ctx, cf := context.WithCancel(context.Background())
		mu.Lock()
		cancel = cf
		mu.Unlock()
		err = s.handle(ctx, line)
		mu.Lock()
		cancel = nil
		mu.Unlock()
		cf()
		if errors.Is(err, errQuit) {
			return nil
		}
		if err != nil {
			s.printErr(err)
		}
	}
}

const shellHelp = `Type a query and press Enter. Tab completes metric names, label names
(after { or ,) and label values (after label="); in InfluxQL measurements
after FROM. Up and Down walk the history (~/.lightning_cli_history),
Ctrl-R searches it. Ctrl-C clears the line or cancels a running query;
Ctrl-D exits.

Commands:
  \promql               PromQL queries (the default)
  \influxql             InfluxQL queries (/query)
  \db NAME              InfluxQL database (also: USE NAME)
  \format table|csv|json
  \range DURATION [STEP]  PromQL range queries over the last DURATION
                        (as in \range 1h 60s; STEP defaults to DURATION/250)
  \instant              instant queries again (also: \range off)
  \help                 this text
  \quit                 exit (also: Ctrl-D)
`
