package main

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/lightningdb/lightningdb/remote"
)

// limitsServer serves h behind httpLimits with the given timeouts, as run
// wires it.
func limitsServer(t *testing.T, cfg HTTPConfig, h http.HandlerFunc) *httptest.Server {
	t.Helper()
	s := &server{cfg: Config{HTTP: cfg}, log: slog.New(slog.DiscardHandler)}
	require.NoError(t, s.setupHTTP(prometheus.NewRegistry()))
	srv := httptest.NewUnstartedServer(nil)
	*srv.Config = *s.newHTTPServer(s.httpLimits(h))
	srv.Listener = trackingListener{srv.Listener}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}

// TestLongHandlerNotCut: a handler that works for several read and write
// timeouts before it answers (a long query) keeps its context and gets
// its answer out: the read timeout covers the body only, the write
// timeout each write.
func TestLongHandlerNotCut(t *testing.T) {
	const timeout = 100 * time.Millisecond
	srv := limitsServer(t, HTTPConfig{ReadTimeout: timeout, WriteTimeout: timeout}, func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		select {
		case <-r.Context().Done():
			return // the bug: the request was cancelled under the handler
		case <-time.After(5 * timeout):
		}
		for i := range 5 { // then streams, slower in total than the write timeout
			fmt.Fprintf(w, "%s %d\n", body, i)
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
				return
			case <-time.After(timeout / 2):
			}
		}
	})
	resp, err := http.Post(srv.URL, "text/plain", strings.NewReader("q"))
	require.NoError(t, err)
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "q 0\nq 1\nq 2\nq 3\nq 4\n", string(got))
}

// TestBodyReadTimeout: a body that stops coming is answered 408 after the
// read timeout, and the connection closed.
func TestBodyReadTimeout(t *testing.T) {
	srv := limitsServer(t, HTTPConfig{ReadTimeout: 100 * time.Millisecond}, func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.ReadAll(r.Body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	c, err := net.Dial("tcp", srv.Listener.Addr().String())
	require.NoError(t, err)
	defer c.Close()
	fmt.Fprint(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789")
	require.NoError(t, c.SetReadDeadline(time.Now().Add(10*time.Second)))
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	require.NoError(t, err)
	msg, _ := io.ReadAll(resp.Body)
	require.Equal(t, http.StatusRequestTimeout, resp.StatusCode)
	require.Contains(t, string(msg), errReadTimeout.Error())
	_, err = br.ReadByte()
	require.ErrorIs(t, err, io.EOF)
}

// TestHandlerOwnWriteDeadline: a handler that sets its own write deadline
// (remote read does, per frame) is not overridden by the write timeout.
func TestHandlerOwnWriteDeadline(t *testing.T) {
	srv := limitsServer(t, HTTPConfig{WriteTimeout: time.Hour}, func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		require.NoError(t, rc.SetWriteDeadline(time.Now().Add(-time.Second))) // already past
		_, err := w.Write(make([]byte, 1<<20))
		if err == nil {
			err = rc.Flush()
		}
		if err == nil {
			t.Error("a write past the handler's own deadline succeeded: the write timeout overrode it")
		}
	})
	resp, err := http.Get(srv.URL)
	if err == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}

// TestBodyBudgetReservesForSmall: requests over 64 KiB leave the last
// eighth of the budget to small ones; a budget that cannot hold the
// largest request allowed is refused at start-up.
func TestBodyBudgetReservesForSmall(t *testing.T) {
	cfg := defaultConfig()
	cfg.HTTP.MaxInflightBodyBytes = 800 << 20
	b, err := newBodyBudget(cfg)
	require.NoError(t, err)
	b.rejected = prometheus.NewCounter(prometheus.CounterOpts{Name: "x"})
	require.True(t, b.TryAcquire(0, 700<<20))
	require.False(t, b.TryAcquire(0, 1<<20), "a large request took the small requests' reserve")
	require.True(t, b.TryAcquire(0, 4<<10))
	require.True(t, b.TryAcquire(4<<10, 60<<10))
	b.Release(700 << 20)
	require.True(t, b.TryAcquire(0, 1<<20))

	cfg.HTTP.MaxInflightBodyBytes = 64 << 20
	_, err = newBodyBudget(cfg)
	require.ErrorContains(t, err, "http.max_inflight_body_bytes")
	cfg.HTTP.MaxInflightBodyBytes = -1
	b, err = newBodyBudget(cfg)
	require.NoError(t, err)
	require.Nil(t, b)
}

// TestExampleHTTPDefaults: the http: and remote: values the deploy example
// documents are the defaults the code applies.
func TestExampleHTTPDefaults(t *testing.T) {
	cfg, err := loadConfig([]string{"--config", "../../deploy/lightning-db.example.yaml"})
	require.NoError(t, err)
	require.Equal(t, HTTPConfig{}.withDefaults(), cfg.HTTP)
	ro := remote.DefaultOptions()
	rc := cfg.Remote
	require.Equal(t, []any{ro.MaxBodyBytes, ro.MaxDecodedBytes, ro.ReadMaxSeries, ro.ReadMaxBytes, ro.ReadMaxBytesInFrame, ro.ReadConcurrency, ro.ReadQueueTimeout, ro.ReadWriteTimeout},
		[]any{rc.MaxBodyBytes, rc.MaxDecodedBytes, rc.ReadMaxSeries, rc.ReadMaxBytes, rc.ReadMaxBytesInFrame, rc.ReadConcurrency, rc.ReadQueueTimeout, rc.ReadWriteTimeout})
	require.Equal(t, ro.ReadSamplesMaxBytes, rc.ReadSamplesMaxBytes)
	b, err := newBodyBudget(cfg)
	require.NoError(t, err)
	require.EqualValues(t, defaultMaxInflightBodyBytes, b.limit)
}
