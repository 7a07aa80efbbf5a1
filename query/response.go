package query

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
)

// errorType is a Prometheus API error type with its default status code
// (web/api/v1/api.go getDefaultErrorCode).
type errorType struct {
	name string
	code int
}

var (
	errorBadData   = errorType{"bad_data", http.StatusBadRequest}
	errorExec      = errorType{"execution", http.StatusUnprocessableEntity}
	errorCanceled  = errorType{"canceled", 499}
	errorTimeout   = errorType{"timeout", http.StatusServiceUnavailable}
	errorInternal  = errorType{"internal", http.StatusInternalServerError}
	errorNotFound  = errorType{"not_found", http.StatusNotFound}
	errorForbidden = errorType{"forbidden", http.StatusForbidden}
	// errorUnavailable is an overload: 503 with Retry-After.
	errorUnavailable = errorType{"unavailable", http.StatusServiceUnavailable}
)

type apiError struct {
	typ errorType
	err error
}

func (e *apiError) Error() string { return e.typ.name + ": " + e.err.Error() }

func badData(err error) *apiError { return &apiError{errorBadData, err} }

func invalidParam(name string, err error) *apiError {
	return badData(fmt.Errorf("invalid parameter %q: %w", name, err))
}

// apiErrorFor maps an evaluation error to its Prometheus error type: the
// one place where query errors become HTTP codes.
func apiErrorFor(err error) *apiError {
	var (
		eqc promql.ErrQueryCanceled
		eqt promql.ErrQueryTimeout
		es  promql.ErrStorage
		ets promql.ErrTooManySamples
	)
	switch {
	case errors.As(err, &eqc):
		return &apiError{errorCanceled, err}
	case errors.As(err, &eqt), errors.Is(err, context.DeadlineExceeded):
		return &apiError{errorTimeout, err}
	case errors.Is(err, ErrTooManySeries), errors.Is(err, ErrTooManySamples), errors.Is(err, ErrTooManyPoints), errors.As(err, &ets):
		return &apiError{errorExec, err}
	case errors.Is(err, ErrTooManyQueries):
		return &apiError{errorUnavailable, err}
	case errors.As(err, &es):
		return &apiError{errorInternal, err}
	case errors.Is(err, context.Canceled):
		return &apiError{errorCanceled, err}
	}
	var pe parser.ParseErrors
	var pe1 *parser.ParseErr
	if errors.As(err, &pe) || errors.As(err, &pe1) {
		return badData(err)
	}
	return &apiError{errorExec, err}
}

type response struct {
	Status    string   `json:"status"`
	Data      any      `json:"data,omitempty"`
	ErrorType string   `json:"errorType,omitempty"`
	Error     string   `json:"error,omitempty"`
	Warnings  []string `json:"warnings,omitempty"`
	Infos     []string `json:"infos,omitempty"`
}

func writeJSON(w http.ResponseWriter, log *slog.Logger, code int, resp *response) {
	writeJSONBuf(w, log, code, resp, nil)
}

// writeJSONBuf is writeJSON building the answer in buf (from its start);
// it returns the buffer for reuse.
func writeJSONBuf(w http.ResponseWriter, log *slog.Logger, code int, resp *response, buf []byte) []byte {
	b, ok, err := appendMatrixResponse(buf[:0], resp)
	if !ok && err == nil {
		b, err = json.Marshal(resp)
	}
	if err != nil {
		log.Error("marshal response", "err", err)
		code = http.StatusInternalServerError
		b, _ = json.Marshal(&response{Status: "error", ErrorType: errorInternal.name, Error: err.Error()})
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	w.Write(b)
	return b
}

func (api *API) respond(w http.ResponseWriter, data any, warnings, infos []string) {
	bp, _ := api.bufs.Get().(*[]byte)
	if bp == nil {
		bp = new([]byte)
	}
	*bp = writeJSONBuf(w, api.log, http.StatusOK, &response{Status: "success", Data: data, Warnings: warnings, Infos: infos}, *bp)
	if cap(*bp) <= maxPooledAnswer {
		api.bufs.Put(bp)
	}
}

// maxPooledAnswer is the largest answer buffer kept for the next answer
// (API.bufs): a large range answer (10^5 points) fits, a rare huge one is
// left to the garbage collector.
const maxPooledAnswer = 4 << 20

func (api *API) respondError(w http.ResponseWriter, e *apiError, data any) {
	api.countRejected(e.err)
	if e.typ == errorUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	writeJSON(w, api.log, e.typ.code, &response{Status: "error", ErrorType: e.typ.name, Error: e.err.Error(), Data: data})
}
