package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"time"
)

// healthcheckUsage documents `lightning-db healthcheck`.
const healthcheckUsage = `usage: lightning-db healthcheck [--url URL] [--timeout D] [--insecure]

Probes a running server and exits 0 when it answers 200, 1 otherwise (the
answer's status or the error on stderr), 2 on a usage error. It is the
container image's HEALTHCHECK: the image holds no curl or shell.

  lightning-db healthcheck                                   # http://127.0.0.1:8086/health
  lightning-db healthcheck --url http://127.0.0.1:8086/ready # readiness: 503 until WAL recovery finished
  lightning-db healthcheck --url https://127.0.0.1:8086/health --insecure

--url defaults to $LIGHTNINGDB_HEALTH_URL, else http://127.0.0.1:8086/health.
`

// healthcheck is the `lightning-db healthcheck` subcommand; it returns the
// exit code.
func healthcheck(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("healthcheck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, healthcheckUsage) }
	def := os.Getenv("LIGHTNINGDB_HEALTH_URL")
	if def == "" {
		def = "http://127.0.0.1:8086/health"
	}
	rawURL := fs.String("url", def, "URL to GET; 200 means healthy")
	timeout := fs.Duration("timeout", 3*time.Second, "give up after this long")
	insecure := fs.Bool("insecure", false, "with https: do not verify the server's certificate (a probe of the local server)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "healthcheck: unexpected arguments %v\n", fs.Args())
		return 2
	}
	u, err := url.Parse(*rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		fmt.Fprintf(stderr, "healthcheck: --url %q: want http://HOST:PORT/PATH or https://...\n", *rawURL)
		return 2
	}
	if *timeout <= 0 {
		fmt.Fprintf(stderr, "healthcheck: --timeout %v: want a positive duration\n", *timeout)
		return 2
	}
	if err := probe(u.String(), *timeout, *insecure); err != nil {
		fmt.Fprintln(stderr, "healthcheck:", err)
		return 1
	}
	fmt.Fprintln(stdout, "ok")
	return 0
}

// probe GETs url once and returns nil when it answers 200.
func probe(rawURL string, timeout time.Duration, insecure bool) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return err
	}
	tr := &http.Transport{Proxy: nil, TLSClientConfig: &tls.Config{InsecureSkipVerify: insecure}}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s answered %s: %s", rawURL, resp.Status, body)
	}
	return nil
}
