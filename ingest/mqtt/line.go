package mqtt

import (
	"fmt"
	"strings"
	"sync"

	"github.com/lightningdb/lightningdb/ingest/lineproto"
	"github.com/lightningdb/lightningdb/series"
)

// lineDecoder parses payloads as InfluxDB line protocol, one or more lines
// per message, exactly as the HTTP /write endpoint does.
type lineDecoder struct {
	db      string
	prec    lineproto.Precision
	parsers sync.Pool // *lineproto.Parser; a Parser is not safe for concurrent use
}

func newLineDecoder(opts lineproto.Options, db string, prec lineproto.Precision) *lineDecoder {
	d := &lineDecoder{db: db, prec: prec}
	d.parsers.New = func() any { return lineproto.NewParser(opts) }
	return d
}

func (d *lineDecoder) decode(dst *series.Batch, _ string, payload []byte, now int64) error {
	p := d.parsers.Get().(*lineproto.Parser)
	defer d.parsers.Put(p)
	res := p.Parse(dst, payload, d.db, now, d.prec)
	if res.Rejected == 0 {
		if res.Lines == 0 {
			return fmt.Errorf("%w: no line protocol in payload", ErrSyntax)
		}
		return nil
	}
	first := p.Errors()[0]
	class := ErrSyntax
	switch {
	case strings.HasPrefix(first.Reason, "invalid labels"):
		class = ErrLabels
	case strings.Contains(first.Reason, "timestamp"):
		class = ErrTimestamp
	}
	return fmt.Errorf("%w: %d of %d lines rejected, first: %v", class, res.Rejected, res.Lines, first)
}
