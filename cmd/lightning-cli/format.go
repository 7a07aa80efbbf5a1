package main

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode/utf8"
)

// Output formats (--format, \format).
const (
	formatTable = "table"
	formatCSV   = "csv"
	formatJSON  = "json"
)

func validFormat(f string) bool {
	return f == formatTable || f == formatCSV || f == formatJSON
}

// writeResult prints res in format to w.
func writeResult(w io.Writer, format string, res *result) error {
	switch format {
	case formatCSV:
		return writeCSV(w, res.Tables)
	case formatJSON:
		return writeJSON(w, res.Raw)
	default:
		return writeTables(w, res.Tables)
	}
}

// writeTables prints each table with aligned columns: a header, a rule of
// dashes, the rows, and InfluxQL's name and tags above. A result without
// any row says so.
func writeTables(w io.Writer, ts []table) error {
	rows := 0
	for _, t := range ts {
		rows += len(t.Rows)
	}
	if rows == 0 {
		_, err := fmt.Fprintln(w, "(no data)")
		return err
	}
	var buf bytes.Buffer
	for i, t := range ts {
		if i > 0 {
			buf.WriteByte('\n')
		}
		if t.Name != "" {
			fmt.Fprintf(&buf, "name: %s\n", t.Name)
		}
		if t.Tags != "" {
			fmt.Fprintf(&buf, "tags: %s\n", t.Tags)
		}
		alignTable(&buf, t)
	}
	_, err := w.Write(buf.Bytes())
	return err
}

// alignTable writes t's header, rule and rows padded to each column's
// widest cell (counted in runes); the last column is not padded.
func alignTable(buf *bytes.Buffer, t table) {
	width := make([]int, len(t.Columns))
	for i, c := range t.Columns {
		width[i] = utf8.RuneCountInString(c)
	}
	for _, r := range t.Rows {
		for i, c := range r {
			if i < len(width) {
				width[i] = max(width[i], utf8.RuneCountInString(cleanCell(c)))
			}
		}
	}
	line := func(cells []string) {
		for i := range width {
			c := ""
			if i < len(cells) {
				c = cleanCell(cells[i])
			}
			buf.WriteString(c)
			if i < len(width)-1 {
				buf.WriteString(strings.Repeat(" ", width[i]-utf8.RuneCountInString(c)+2))
			}
		}
		buf.WriteByte('\n')
	}
	line(t.Columns)
	rule := make([]string, len(width))
	for i, n := range width {
		rule[i] = strings.Repeat("-", n)
	}
	line(rule)
	for _, r := range t.Rows {
		line(r)
	}
}

// cleanCell keeps a cell on one line of the table: control characters
// (newlines, tabs, escapes) are shown as Go escapes.
func cleanCell(s string) string {
	if !strings.ContainsFunc(s, isControl) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if isControl(r) {
			q := fmt.Sprintf("%q", string(r))
			b.WriteString(q[1 : len(q)-1])
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) }

// writeCSV prints the tables as one CSV document with one header. Tables
// of InfluxQL series get name and tags as their first columns, as the
// influx CLI prints them; a header is repeated when the columns change.
func writeCSV(w io.Writer, ts []table) error {
	cw := csv.NewWriter(w)
	influx := false
	for _, t := range ts {
		influx = influx || t.Name != ""
	}
	var last []string
	for _, t := range ts {
		cols := t.Columns
		if influx {
			cols = append([]string{"name", "tags"}, cols...)
		}
		if !slices.Equal(cols, last) {
			if err := cw.Write(cols); err != nil {
				return err
			}
			last = cols
		}
		for _, r := range t.Rows {
			if influx {
				r = append([]string{t.Name, t.Tags}, r...)
			}
			if err := cw.Write(r); err != nil {
				return err
			}
		}
	}
	cw.Flush()
	return cw.Error()
}

// writeJSON prints the server's answer as it came, compacted to one line
// (for jq and scripts).
func writeJSON(w io.Writer, raw []byte) error {
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return fmt.Errorf("%w: %v", errBadAnswer, err)
	}
	buf.WriteByte('\n')
	_, err := w.Write(buf.Bytes())
	return err
}
