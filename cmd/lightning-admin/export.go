package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
)

const exportExamples = `  lightning-admin export --match '{db="telegraf"}' > telegraf.jsonl
  lightning-admin export --match 'cpu_usage_idle' --start 2026-12-01T00:00:00Z --format lp --output cpu.lp
`

// multiFlag is a flag that may be given several times.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func exportCmd(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("export", "export [--match SELECTOR]... [--start T] [--end T] [--format json|lp] [--output FILE]\n\n"+
		"Streams the stored samples of a running server: JSON lines as /api/v1/export writes them (typed values,\n"+
		"nanosecond timestamps; lightning-admin import reads them back exactly), or line protocol\n"+
		"(measurement = metric name, the other labels as tags, one field \"value\"; NaN, infinities and\n"+
		"staleness markers have no line protocol form and are skipped, counted on stderr).", exportExamples, stdout, stderr)
	c := addClientFlags(fs)
	var match multiFlag
	fs.Var(&match, "match", "series selector (repeatable; default: every series)")
	start := fs.String("start", "", "start time (RFC 3339 or Unix seconds)")
	end := fs.String("end", "", "end time (RFC 3339 or Unix seconds)")
	format := fs.String("format", "json", "json (JSON lines) or lp (line protocol)")
	output := fs.String("output", "-", "output file (- for stdout)")
	allowPartial := fs.Bool("allow-partial", false, "against a query node: export without the data of storage nodes that fail\n"+
		"(each failure printed on stderr) instead of failing")
	if code, ok := parse(fs, args, stdout); !ok {
		return code
	}
	if fs.NArg() > 0 || (*format != "json" && *format != "lp") {
		return usageError(fs, "--format is json or lp, and there are no arguments")
	}
	q := url.Values{"match[]": match}
	for k, v := range map[string]string{"start": *start, "end": *end} {
		if v != "" {
			q.Set(k, v)
		}
	}
	// A query node answers without a failed peer's data, with a warning
	// in a header, unless told not to; a single node ignores the parameter.
	q.Set("partial_response", strconv.FormatBool(*allowPartial))
	resp, err := c.get("/api/v1/export", q)
	if err != nil {
		return fail(stderr, "export", err)
	}
	defer resp.Body.Close()
	for _, w := range resp.Header.Values("Warning") {
		fmt.Fprintf(stderr, "export: warning: %s\n", w)
	}
	w := stdout
	if *output != "-" {
		f, err := os.Create(*output)
		if err != nil {
			return fail(stderr, "export", err)
		}
		defer f.Close()
		w = f
	}
	bw := bufio.NewWriterSize(w, 256<<10)
	if *format == "json" {
		_, err = io.Copy(bw, resp.Body)
	} else {
		err = jsonToLineProtocol(bw, resp.Body, stderr)
	}
	if err = errors.Join(err, bw.Flush()); err != nil {
		return fail(stderr, "export", err)
	}
	return 0
}

// get sends a GET and returns the response of a 200.
func (c *snapshotClient) get(path string, q url.Values) (*http.Response, error) {
	req, err := http.NewRequest(http.MethodGet, strings.TrimRight(c.url, "/")+path+"?"+q.Encode(), nil)
	if err != nil {
		return nil, err
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := (&http.Client{}).Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		resp.Body.Close()
		return nil, fmt.Errorf("%s: HTTP %d: %s", path, resp.StatusCode, strings.TrimSpace(string(b)))
	}
	return resp, nil
}

// exportLine is one line of /api/v1/export.
type exportLine struct {
	Metric     map[string]string `json:"metric"`
	Type       string            `json:"type"`
	Values     []json.RawMessage `json:"values"`
	Timestamps []int64           `json:"timestamps"`
}

// jsonToLineProtocol converts export lines to line protocol.
func jsonToLineProtocol(w *bufio.Writer, r io.Reader, stderr io.Writer) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<30)
	skipped := 0
	for sc.Scan() {
		var l exportLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			return fmt.Errorf("export line: %w", err)
		}
		key := lineKey(l.Metric)
		for i, raw := range l.Values {
			field, ok := lpValue(l.Type, raw)
			if !ok || i >= len(l.Timestamps) {
				skipped++
				continue
			}
			fmt.Fprintf(w, "%s value=%s %d\n", key, field, l.Timestamps[i])
		}
	}
	if skipped > 0 {
		fmt.Fprintf(stderr, "export: skipped %d NaN, infinite or stale values (no line protocol form)\n", skipped)
	}
	return sc.Err()
}

// lineKey returns "measurement,tag=value,..." of a metric.
func lineKey(m map[string]string) string {
	var b strings.Builder
	b.WriteString(lpEscape(m["__name__"], ", "))
	names := make([]string, 0, len(m))
	for k := range m {
		if k != "__name__" {
			names = append(names, k)
		}
	}
	slices.Sort(names)
	for _, k := range names {
		b.WriteString("," + lpEscape(k, ",= ") + "=" + lpEscape(m[k], ",= "))
	}
	return b.String()
}

// lpEscape backslash-escapes the characters of special in s.
func lpEscape(s, special string) string {
	if !strings.ContainsAny(s, special+`\`) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(special, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// lpValue returns the line protocol field value of an export value.
func lpValue(typ string, raw json.RawMessage) (string, bool) {
	s := string(raw)
	switch typ {
	case "integer":
		return s + "i", true
	case "unsigned":
		return s + "u", true
	case "boolean":
		return s, true
	case "string":
		var v string
		if json.Unmarshal(raw, &v) != nil {
			return "", false
		}
		return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(v) + `"`, true
	}
	if _, err := strconv.ParseFloat(s, 64); err != nil {
		return "", false // null, "NaN", "+Inf", "-Inf"
	}
	return s, true
}
