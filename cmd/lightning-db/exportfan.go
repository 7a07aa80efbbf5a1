package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/lightningdb/lightningdb/query"
	"github.com/lightningdb/lightningdb/query/fanout"
	"github.com/lightningdb/lightningdb/remote"
	"github.com/lightningdb/lightningdb/series"
)

// serveFanExport is /api/v1/export on a query node: the lines a single
// node holding the peers' data writes (serveExport), read from the peers
// as typed answers (fanout.SelectTypedSets: value types, raw values,
// nanosecond timestamps), merged, and written in label order. The
// parameters are serveExport's (match[], start, end) plus
// partial_response. Unlike the single node's stream, the answer is held
// here until every peer answered: at most fanMaxSamples samples
// (query.max_samples), and each peer's remote read limits apply. A failed
// peer becomes a "Warning: 199" header naming it (the body has no room
// for warnings), or with partial_response=false a 422.
func (s *server) serveFanExport(w http.ResponseWriter, r *http.Request) {
	minT, maxT, err := exportRange(r)
	if err != nil {
		exportError(w, http.StatusBadRequest, err)
		return
	}
	sets, err := s.fanExportSelectors(r.Form["match[]"])
	if err != nil {
		exportError(w, http.StatusBadRequest, fmt.Errorf("invalid parameter \"match[]\": %w", err))
		return
	}
	limit := fanMaxSamples(s.cfg.Query)
	list, ws, err := s.fanout.SelectTypedSets(r.Context(), minT, maxT, limit, sets)
	if err != nil {
		if errors.Is(err, fanout.ErrTooManySamples) {
			err = fmt.Errorf("the export reads more than %d samples from the peers (query.max_samples, query.max_samples_in_memory; narrow match[], start or end): %w", limit, err)
		}
		exportError(w, fanExportStatus(err), err)
		return
	}
	warnings, _ := ws.AsStrings("", 10, 10)
	for _, msg := range warnings {
		w.Header().Add("Warning", warningHeader(msg))
	}
	w.Header().Set("Content-Type", "application/stream+json")
	bw := bufio.NewWriterSize(w, 64<<10)
	defer bw.Flush()
	var scratch []byte
	for i := range list {
		ts := list[i]
		list[i] = remote.TypedSeries{} // released once written
		ls, err := series.UnmarshalLabels(nil, ts.Labels)
		if err != nil {
			s.log.Error("export: bad labels from a peer", "labels", ts.Labels, "err", err)
			continue
		}
		if scratch, err = writeTypedExportLine(bw, scratch, ls, &ts, minT, maxT); err != nil {
			return // client went away
		}
	}
}

// fanExportSelectors parses match[] as serveExport does (query.max_query_length,
// a matcher that does not match ""); none means every series.
func (s *server) fanExportSelectors(selectors []string) ([][]*labels.Matcher, error) {
	if len(selectors) == 0 {
		return exportSelectors(nil, nil)
	}
	n := s.cfg.Query.MaxQueryLength
	if n == 0 {
		n = query.DefaultOptions().MaxQueryLength
	}
	return query.ParseMatchSelectors(selectors, n)
}

// fanExportStatus is the status of a failed export on a query node.
func fanExportStatus(err error) int {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusServiceUnavailable
	case errors.Is(err, context.Canceled):
		return 499
	case errors.Is(err, fanout.ErrBadSelector):
		return http.StatusBadRequest
	}
	// A denied partial answer, a peer's refusal or a limit, as the
	// fan-out's API answers them.
	return http.StatusUnprocessableEntity
}

// warningHeader renders msg as an RFC 7234 Warning header value.
func warningHeader(msg string) string {
	msg = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, msg)
	return `199 lightning-db ` + strconv.QuoteToASCII(msg)
}

// writeTypedExportLine writes the samples of ts within [minT, maxT] (ns)
// as writeExportLine writes an engine series; nothing when there are
// none. buf is scratch space, returned for reuse.
func writeTypedExportLine(w io.Writer, buf []byte, ls series.Labels, ts *remote.TypedSeries, minT, maxT int64) ([]byte, error) {
	// The peers answer whole milliseconds: trim to the ns range.
	lo := sort.Search(len(ts.Ts), func(i int) bool { return ts.Ts[i] >= minT })
	hi := sort.Search(len(ts.Ts), func(i int) bool { return ts.Ts[i] > maxT })
	if lo >= hi {
		return buf, nil
	}
	b, err := appendExportHead(buf[:0], ls, ts.Type)
	if err != nil {
		return buf, err
	}
	for k := lo; k < hi; k++ {
		if k > lo {
			b = append(b, ',')
		}
		var str []byte
		if ts.Type == series.TypeString {
			str = ts.String(k)
		}
		if b, err = appendExportRaw(b, ts.Type, ts.Vals[k], str); err != nil {
			return b, err
		}
		if b, err = flushExport(w, b); err != nil {
			return b, err
		}
	}
	b = append(b, `],"timestamps":[`...)
	for k := lo; k < hi; k++ {
		if k > lo {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, ts.Ts[k], 10)
		if b, err = flushExport(w, b); err != nil {
			return b, err
		}
	}
	b = append(b, "]}\n"...)
	_, err = w.Write(b)
	return b, err
}
