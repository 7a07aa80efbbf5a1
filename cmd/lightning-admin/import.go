package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
)

const importExamples = `  lightning-admin import telegraf.jsonl                     # lightning-admin export output
  curl -s 'http://vm:8428/api/v1/export' | lightning-admin import -     # VictoriaMetrics' export
  influx_inspect export -datadir /var/lib/influxdb/data -waldir /var/lib/influxdb/wal -out /tmp/x.lp
  lightning-admin import --format lp /tmp/x.lp              # databases from its CONTEXT-DATABASE lines
  lightning-admin import --format lp --db home sensors.lp
`

// Sizes of import's requests: a JSON line past importSplitValues values
// is split into lines of that many; a request carries about
// importRequestBytes.
const (
	importSplitValues  = 50000
	importRequestBytes = 4 << 20
)

func importCmd(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("import", "import [--format auto|json|lp] [--db DB] [--rp RP] FILE...|-\n\n"+
		"Streams samples into a running server. json: JSON lines as /api/v1/export writes them, ours\n"+
		"(typed, nanoseconds) or VictoriaMetrics' (floats, milliseconds), sent to /api/v1/import.\n"+
		"lp: line protocol with nanosecond timestamps, such as influx_inspect export output: its\n"+
		"CONTEXT-DATABASE and CONTEXT-RETENTION-POLICY comments choose the database (else --db) and its\n"+
		"DDL statements are skipped; sent to /write. auto: json when a file begins with '{'.",
		importExamples, stdout, stderr)
	c := addClientFlags(fs)
	format := fs.String("format", "auto", "auto, json or lp")
	db := fs.String("db", "", "lp: database when the input names none")
	rp := fs.String("rp", "", "lp: retention policy when the input names none")
	if code, ok := parse(fs, args, stdout); !ok {
		return code
	}
	if fs.NArg() == 0 || (*format != "auto" && *format != "json" && *format != "lp") {
		return usageError(fs, "name the input files (- for stdin); --format is auto, json or lp")
	}
	im := &importer{c: c, db: *db, rp: *rp}
	for _, name := range fs.Args() {
		if err := im.file(name, *format); err != nil {
			return fail(stderr, "import", fmt.Errorf("%s: %w", name, err))
		}
	}
	fmt.Fprintf(stdout, "imported %d lines in %d requests\n", im.lines, im.requests)
	return 0
}

// importer sends inputs to a server in requests of about
// importRequestBytes.
type importer struct {
	c               *snapshotClient
	db, rp          string
	buf             bytes.Buffer
	lines, requests int
}

func (im *importer) file(name, format string) error {
	var r io.Reader = os.Stdin
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return err
		}
		defer f.Close()
		r = f
	}
	br := bufio.NewReaderSize(r, 1<<20)
	if format == "auto" {
		format = "lp"
		if b, err := br.Peek(1); err == nil && b[0] == '{' {
			format = "json"
		}
	}
	sc := bufio.NewScanner(br)
	sc.Buffer(nil, 1<<30)
	if format == "json" {
		return im.json(sc)
	}
	return im.lineProtocol(sc)
}

// json sends export lines to /api/v1/import, splitting long ones.
func (im *importer) json(sc *bufio.Scanner) error {
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		if err := im.jsonLine(line); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	return im.send("/api/v1/import", nil)
}

func (im *importer) jsonLine(line []byte) error {
	if len(line) < importRequestBytes/4 {
		return im.add("/api/v1/import", nil, line)
	}
	var l exportLine
	if err := json.Unmarshal(line, &l); err != nil {
		return fmt.Errorf("line %d: %w", im.lines+1, err)
	}
	for i := 0; i < len(l.Values); i += importSplitValues {
		j := min(i+importSplitValues, len(l.Values), len(l.Timestamps))
		part := exportLine{Metric: l.Metric, Type: l.Type, Values: l.Values[i:j], Timestamps: l.Timestamps[i:j]}
		b, err := json.Marshal(part)
		if err != nil {
			return err
		}
		if err := im.add("/api/v1/import", nil, b); err != nil {
			return err
		}
	}
	return nil
}

// lineProtocol sends line protocol to /write, following influx_inspect's
// context comments.
func (im *importer) lineProtocol(sc *bufio.Scanner) error {
	q := func() url.Values {
		v := url.Values{"precision": {"ns"}}
		if im.db != "" {
			v.Set("db", im.db)
		}
		if im.rp != "" {
			v.Set("rp", im.rp)
		}
		return v
	}
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		s := string(line)
		switch {
		case len(line) == 0 || strings.HasPrefix(s, "CREATE ") || strings.HasPrefix(s, "# DDL") || strings.HasPrefix(s, "# DML"):
			continue
		case strings.HasPrefix(s, "# CONTEXT-DATABASE:"), strings.HasPrefix(s, "# CONTEXT-RETENTION-POLICY:"):
			if err := im.send("/write", q()); err != nil {
				return err
			}
			v := strings.TrimSpace(s[strings.IndexByte(s, ':')+1:])
			if strings.HasPrefix(s, "# CONTEXT-DATABASE:") {
				im.db = v
			} else {
				im.rp = v
			}
			continue
		case line[0] == '#':
			continue
		}
		if im.db == "" {
			return fmt.Errorf("line %d: no database: give --db or a # CONTEXT-DATABASE: line", im.lines+1)
		}
		if err := im.add("/write", q(), line); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	return im.send("/write", q())
}

// add queues one line, sending the queue when it is full.
func (im *importer) add(path string, q url.Values, line []byte) error {
	im.buf.Write(line)
	im.buf.WriteByte('\n')
	im.lines++
	if im.buf.Len() < importRequestBytes {
		return nil
	}
	return im.send(path, q)
}

// send posts the queued lines.
func (im *importer) send(path string, q url.Values) error {
	if im.buf.Len() == 0 {
		return nil
	}
	req, err := http.NewRequest(http.MethodPost, strings.TrimRight(im.c.url, "/")+path+"?"+q.Encode(), bytes.NewReader(im.buf.Bytes()))
	if err != nil {
		return err
	}
	if im.c.token != "" {
		req.Header.Set("Authorization", "Bearer "+im.c.token)
	}
	resp, err := im.c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	if resp.StatusCode != http.StatusNoContent && resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: HTTP %d: %s", path, resp.StatusCode, strings.TrimSpace(string(b)))
	}
	im.buf.Reset()
	im.requests++
	return nil
}
