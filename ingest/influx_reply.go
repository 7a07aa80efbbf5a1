package ingest

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"

	"github.com/lightningdb/lightningdb/ingest/lineproto"
	"github.com/lightningdb/lightningdb/series"
)

// Every error answer is JSON: Telegraf's v1 output retries a non-JSON 4xx
// forever (PROTOCOLS.md §10), and its v2 output reads code and message.

// v1Error is the InfluxDB 1.x error body.
type v1Error struct {
	Error string `json:"error"`
}

// v2Error is the InfluxDB 2.x error body.
type v2Error struct {
	Code      string `json:"code"`
	Message   string `json:"message"`
	Line      int    `json:"line,omitempty"`
	MaxLength int64  `json:"maxLength,omitempty"`
}

// maxReported bounds the lines named in a partial-write answer.
const maxReported = 100

func writeJSON(w http.ResponseWriter, status int, body any) {
	b, err := json.Marshal(body)
	if err != nil {
		b = []byte(`{"error":"internal error"}`)
		status = http.StatusInternalServerError
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// v2Code is the 2.x error code for a status.
func v2Code(status int) string {
	switch status {
	case http.StatusBadRequest:
		return "invalid"
	case http.StatusUnauthorized:
		return "unauthorized"
	case http.StatusNotFound:
		return "not found"
	case http.StatusMethodNotAllowed:
		return "method not allowed"
	case http.StatusRequestEntityTooLarge:
		return "request too large"
	case http.StatusUnsupportedMediaType:
		return "unsupported media type"
	case http.StatusUnprocessableEntity:
		return "unprocessable entity"
	case http.StatusServiceUnavailable:
		return "unavailable"
	}
	return "internal error"
}

func (h *InfluxHandler) writeError(w http.ResponseWriter, v api, status int, msg, code string) {
	if v == apiV1 {
		writeJSON(w, status, v1Error{Error: msg})
		return
	}
	if code == "" {
		code = v2Code(status)
	}
	writeJSON(w, status, v2Error{Code: code, Message: msg})
}

func (h *InfluxHandler) unauthorized(w http.ResponseWriter, v api) {
	if v == apiV1 {
		w.Header().Set("Www-Authenticate", `Basic realm="InfluxDB"`)
		writeJSON(w, http.StatusUnauthorized, v1Error{Error: "authorization failed"})
		return
	}
	writeJSON(w, http.StatusUnauthorized, v2Error{Code: "unauthorized", Message: "unauthorized access"})
}

func (h *InfluxHandler) bodyError(w http.ResponseWriter, v api, err error) {
	h.c.failed.Add(1)
	switch {
	case errors.Is(err, errBodyTooLarge):
		if v == apiV1 {
			writeJSON(w, http.StatusRequestEntityTooLarge, v1Error{Error: "Request Entity Too Large"})
			return
		}
		writeJSON(w, http.StatusRequestEntityTooLarge, v2Error{
			Code: "request too large", Message: "unable to read data: points batch is too large",
			MaxLength: h.opts.MaxBodyBytes,
		})
	case errors.Is(err, errUnsupportedEncoding):
		h.writeError(w, v, http.StatusUnsupportedMediaType, err.Error(), "")
	case errors.Is(err, ErrInflightLimit):
		h.retryLater(w, v, err.Error())
	default:
		h.writeError(w, v, http.StatusBadRequest, fmt.Sprintf("unable to read data: %v", err), "")
	}
}

// lineMsg is one rejected line of a partial write.
type lineMsg struct {
	line int
	msg  string
}

// partialWrite answers a write of which some lines were rejected: 400 with
// every reason on v1 (as InfluxDB 1.x); on v2, 400 when lines failed to
// parse and 422 when only the appender rejected series (as InfluxDB 2.x).
func (h *InfluxHandler) partialWrite(w http.ResponseWriter, v api, st *writeState, res lineproto.Result, ar series.AppendResult, rejectedLines int) {
	var msgs []lineMsg
	for _, e := range st.parser.Errors() {
		msgs = append(msgs, lineMsg{e.Line, e.Error()})
	}
	for _, rj := range ar.Rejected {
		if len(msgs) >= maxReported {
			break
		}
		canon, _, _, _ := st.batch.Series(rj.Index)
		line := st.parser.Line(rj.Index)
		msgs = append(msgs, lineMsg{line, fmt.Sprintf("line %d: series %s: %v", line, series.CanonicalName(canon), rj.Err)})
	}
	sort.SliceStable(msgs, func(i, j int) bool { return msgs[i].line < msgs[j].line })
	var b strings.Builder
	b.WriteString("partial write: ")
	for i, m := range msgs {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(m.msg)
	}
	if more := res.Rejected + len(ar.Rejected) - len(msgs); more > 0 {
		fmt.Fprintf(&b, "\n(%d more not shown)", more)
	}
	fmt.Fprintf(&b, " dropped=%d", rejectedLines)
	switch {
	case v == apiV1:
		writeJSON(w, http.StatusBadRequest, v1Error{Error: b.String()})
	case res.Rejected > 0:
		writeJSON(w, http.StatusBadRequest, v2Error{Code: "invalid", Message: b.String(), Line: firstLine(st.parser.Errors())})
	default:
		writeJSON(w, http.StatusUnprocessableEntity, v2Error{
			Code: "unprocessable entity", Message: "failure writing points to database: " + b.String(),
		})
	}
}

func firstLine(errs []*lineproto.LineError) int {
	if len(errs) == 0 {
		return 0
	}
	return errs[0].Line
}
