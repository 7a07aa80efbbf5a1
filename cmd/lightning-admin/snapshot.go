package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

const snapshotExamples = `  lightning-admin snapshot create --url http://127.0.0.1:8086
  lightning-admin snapshot list
  lightning-admin snapshot delete 20261207T063233Z-18eee50eb84e8f4d
  LIGHTNINGDB_TOKEN=s3cret lightning-admin snapshot delete --all
`

// snapshotClient talks to a running server's snapshot endpoints
// (VictoriaMetrics' /snapshot/*).
type snapshotClient struct {
	url, token string
	http       *http.Client
}

// addClientFlags adds --url and --token to fs.
func addClientFlags(fs *flag.FlagSet) *snapshotClient {
	c := &snapshotClient{http: &http.Client{Timeout: 10 * time.Minute}}
	fs.StringVar(&c.url, "url", envOr("LIGHTNINGDB_URL", "http://127.0.0.1:8086"), "server URL (env LIGHTNINGDB_URL)")
	fs.StringVar(&c.token, "token", envOr("LIGHTNINGDB_TOKEN", ""), "bearer token when the server has --auth-tokens (env LIGHTNINGDB_TOKEN)")
	return c
}

// call sends path?q and decodes VictoriaMetrics' answer into out.
func (c *snapshotClient) call(path string, q url.Values, out any) error {
	req, err := http.NewRequest(http.MethodPost, strings.TrimRight(c.url, "/")+path+"?"+q.Encode(), nil)
	if err != nil {
		return err
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct{ Msg, Error string }
		if json.Unmarshal(b, &e) == nil && e.Msg+e.Error != "" {
			return fmt.Errorf("%s: %s (HTTP %d)", path, e.Msg+e.Error, resp.StatusCode)
		}
		return fmt.Errorf("%s: HTTP %d: %s", path, resp.StatusCode, strings.TrimSpace(string(b)))
	}
	return json.Unmarshal(b, out)
}

func (c *snapshotClient) create() (string, error) {
	var r struct{ Snapshot string }
	if err := c.call("/snapshot/create", nil, &r); err != nil {
		return "", err
	}
	if r.Snapshot == "" {
		return "", errors.New("/snapshot/create: the answer names no snapshot")
	}
	return r.Snapshot, nil
}

func (c *snapshotClient) delete(name string) error {
	return c.call("/snapshot/delete", url.Values{"snapshot": {name}}, &struct{}{})
}

func snapshotCmd(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("snapshot", "snapshot create|list|delete [NAME] [--all] [--url URL] [--token TOKEN]\n\n"+
		"Creates, lists or deletes snapshots of a running server (DATA_DIR/snapshots/NAME, a data directory\n"+
		"each: a consistent point-in-time copy made without stopping writes).", snapshotExamples, stdout, stderr)
	c := addClientFlags(fs)
	all := fs.Bool("all", false, "delete: every snapshot")
	if len(args) == 0 {
		return usageError(fs, "create, list or delete is required")
	}
	sub, rest := args[0], args[1:]
	if strings.HasPrefix(sub, "-") {
		sub, rest = "", args
	}
	if code, ok := parse(fs, rest, stdout); !ok {
		return code
	}
	switch {
	case sub == "create" && fs.NArg() == 0:
		name, err := c.create()
		if err != nil {
			return fail(stderr, "snapshot create", err)
		}
		fmt.Fprintln(stdout, name)
	case sub == "list" && fs.NArg() == 0:
		var r struct{ Snapshots []string }
		if err := c.call("/snapshot/list", nil, &r); err != nil {
			return fail(stderr, "snapshot list", err)
		}
		for _, n := range r.Snapshots {
			fmt.Fprintln(stdout, n)
		}
	case sub == "delete" && *all && fs.NArg() == 0:
		if err := c.call("/snapshot/delete_all", nil, &struct{}{}); err != nil {
			return fail(stderr, "snapshot delete", err)
		}
	case sub == "delete" && !*all && fs.NArg() == 1:
		if err := c.delete(fs.Arg(0)); err != nil {
			return fail(stderr, "snapshot delete", err)
		}
	default:
		return usageError(fs, "want create, list, delete NAME or delete --all")
	}
	return 0
}
