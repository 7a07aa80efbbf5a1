package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// maxResponseBytes bounds one answer read from the server, so that a
// runaway query cannot take all of the shell's memory.
const maxResponseBytes = 256 << 20

// client speaks to one Lightning DB server over its HTTP APIs: the
// Prometheus API (/api/v1/...) and InfluxQL (/query). It is safe for
// concurrent use (the completer runs beside a query).
type client struct {
	base  *url.URL // scheme://host[:port][/prefix], no trailing slash
	token string   // sent as `Authorization: Bearer`; "" sends none
	hc    *http.Client
}

// serverError is an error answer from the server: its HTTP status and,
// where the body carried them, the API's error type and message.
type serverError struct {
	Status int
	Type   string // Prometheus API errorType ("bad_data", ...); "" for InfluxQL
	Msg    string
}

func (e *serverError) Error() string {
	if e.Type != "" {
		return fmt.Sprintf("%s: %s (HTTP %d)", e.Type, e.Msg, e.Status)
	}
	return fmt.Sprintf("%s (HTTP %d)", e.Msg, e.Status)
}

// newClient checks rawURL and returns a client for it.
func newClient(rawURL, token string) (*client, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("--url %q: %w", rawURL, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("--url %q: scheme must be http or https", rawURL)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("--url %q: no host", rawURL)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.RawQuery, u.Fragment = "", ""
	return &client{base: u, token: token, hc: &http.Client{}}, nil
}

// post sends form to path and returns the body of a 2xx answer. Other
// answers become a *serverError with the message the body carried.
func (c *client) post(ctx context.Context, path string, form url.Values) ([]byte, error) {
	u := c.base.String() + path
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return c.do(req)
}

// get sends a GET for path with query q.
func (c *client) get(ctx context.Context, path string, q url.Values) ([]byte, error) {
	u := c.base.String() + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	return c.do(req)
}

func (c *client) do(req *http.Request) ([]byte, error) {
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		switch {
		case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
			return nil, ctxErr(err)
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			return nil, fmt.Errorf("cannot reach %s: %w", c.base.Redacted(), ue.Err)
		}
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read answer of %s: %w", req.URL.Path, err)
	}
	if len(body) > maxResponseBytes {
		return nil, fmt.Errorf("answer of %s is larger than %d MiB", req.URL.Path, maxResponseBytes>>20)
	}
	if resp.StatusCode/100 != 2 {
		return nil, errorFromBody(resp.StatusCode, body)
	}
	return body, nil
}

// errorFromBody reads the error message of a Prometheus API answer
// ({"errorType","error"}) or an InfluxDB one ({"error"}); other bodies are
// quoted as they are, cut to one line.
func errorFromBody(status int, body []byte) *serverError {
	var e struct {
		ErrorType string `json:"errorType"`
		Error     string `json:"error"`
		Message   string `json:"message"`
	}
	if json.Unmarshal(body, &e) == nil && (e.Error != "" || e.Message != "") {
		msg := e.Error
		if msg == "" {
			msg = e.Message
		}
		return &serverError{Status: status, Type: e.ErrorType, Msg: msg}
	}
	msg := strings.TrimSpace(string(body))
	if i := strings.IndexByte(msg, '\n'); i >= 0 {
		msg = msg[:i]
	}
	if len(msg) > 300 {
		msg = msg[:300] + "..."
	}
	if msg == "" {
		msg = http.StatusText(status)
	}
	return &serverError{Status: status, Msg: msg}
}

// promQuery runs an instant PromQL query at ts (the server's now if zero).
func (c *client) promQuery(ctx context.Context, q string, ts time.Time) ([]byte, error) {
	form := url.Values{"query": {q}}
	if !ts.IsZero() {
		form.Set("time", formatAPITime(ts))
	}
	return c.post(ctx, "/api/v1/query", form)
}

// promQueryRange runs a PromQL range query over [start, end] every step.
func (c *client) promQueryRange(ctx context.Context, q string, start, end time.Time, step time.Duration) ([]byte, error) {
	form := url.Values{
		"query": {q},
		"start": {formatAPITime(start)},
		"end":   {formatAPITime(end)},
		"step":  {fmt.Sprintf("%gs", step.Seconds())},
	}
	return c.post(ctx, "/api/v1/query_range", form)
}

// influxQuery runs InfluxQL statements against db ("" for none).
func (c *client) influxQuery(ctx context.Context, q, db string) ([]byte, error) {
	form := url.Values{"q": {q}}
	if db != "" {
		form.Set("db", db)
	}
	return c.post(ctx, "/query", form)
}

// names fetches a Prometheus API list of strings: label names
// (/api/v1/labels) or one label's values (/api/v1/label/NAME/values),
// restricted to the series of match when it is not "".
func (c *client) names(ctx context.Context, path, match string) ([]string, error) {
	q := url.Values{}
	if match != "" {
		q.Set("match[]", match)
	}
	body, err := c.get(ctx, path, q)
	if err != nil {
		return nil, err
	}
	var r struct {
		Status string   `json:"status"`
		Data   []string `json:"data"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("decode answer of %s: %w", path, err)
	}
	return r.Data, nil
}

func formatAPITime(t time.Time) string {
	return fmt.Sprintf("%.3f", float64(t.UnixMilli())/1e3)
}

// ctxErr is the context error err carries (the client's own wraps it).
func ctxErr(err error) error {
	if errors.Is(err, context.Canceled) {
		return context.Canceled
	}
	return context.DeadlineExceeded
}
