package fanout

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/prometheus/util/annotations"
)

// peerError is the failure of one peer's part of a request.
type peerError struct {
	peer Peer
	err  error
}

func (e *peerError) Error() string { return fmt.Sprintf("%s: %v", peerName(e.peer), e.err) }

// peerName names p in messages: "node URL", or "node name (URL)".
func peerName(p Peer) string {
	if p.Name == p.URL {
		return "node " + p.URL
	}
	return fmt.Sprintf("node %s (%s)", p.Name, p.URL)
}

func (e *peerError) Unwrap() error { return e.err }

// result is one peer's answer or failure.
type result[T any] struct {
	peer Peer
	val  T
	err  error
}

// gather calls fn for every peer at once, each within timeout, and returns
// the results in peers' order.
func gather[T any](ctx context.Context, peers []Peer, timeout time.Duration, fn func(context.Context, Peer) (T, error)) []result[T] {
	out := make([]result[T], len(peers))
	var wg sync.WaitGroup
	for i, p := range peers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			v, err := fn(pctx, p)
			out[i] = result[T]{peer: p, val: v, err: err}
		}()
	}
	wg.Wait()
	return out
}

// verdict sums up a fan-out: the warnings to add (one per failed peer and
// per missing part), or the error that fails the request: a peer's
// refusal or a limit (whatever allowPartial says), the request's own end,
// or, with allowPartial false, ErrPartialResponse naming every failure.
func verdict[T any](ctx context.Context, rs []result[T], missing []string, allowPartial bool) (annotations.Annotations, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var problems []string
	for _, r := range rs {
		if r.err == nil {
			continue
		}
		if errors.Is(r.err, ErrPeerRejected) || errors.Is(r.err, ErrTooManySamples) {
			return nil, &peerError{r.peer, r.err}
		}
		problems = append(problems, (&peerError{r.peer, fmt.Errorf("unavailable, its data is missing from this answer: %w", r.err)}).Error())
	}
	for _, m := range missing {
		problems = append(problems, fmt.Sprintf("%s: no live owner, its data is missing from this answer", m))
	}
	if len(rs) == 0 && len(missing) == 0 {
		problems = append(problems, "no storage node to ask: the answer is empty")
	}
	if len(problems) == 0 {
		return nil, nil
	}
	if !allowPartial {
		return nil, fmt.Errorf("%w (partial_response=false): %s", ErrPartialResponse, strings.Join(problems, "; "))
	}
	var ws annotations.Annotations
	for _, p := range problems {
		ws.Add(errors.New("fanout: " + p))
	}
	return ws, nil
}

// judge is verdict with q's partial response choice for ctx, counted in
// q's metrics.
func judge[T any](ctx context.Context, q *Queryable, rs []result[T], missing []string) (annotations.Annotations, error) {
	ws, err := verdict(ctx, rs, missing, q.allowPartial(ctx))
	observe(q.m, rs, len(ws), err)
	return ws, err
}

// checkStatus turns a peer's non-2xx answer into an error: 4xx (but 429)
// is ErrPeerRejected, the rest an outage. It reads a little of the body
// for the message.
func checkStatus(resp *http.Response) error {
	if resp.StatusCode/100 == 2 {
		return nil
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	msg := strings.TrimSpace(string(b))
	if resp.StatusCode/100 == 4 && resp.StatusCode != http.StatusTooManyRequests {
		return fmt.Errorf("%w: %s: %s", ErrPeerRejected, resp.Status, msg)
	}
	return fmt.Errorf("%s: %s", resp.Status, msg)
}

// partialKey is the context key of a request's partial response choice.
type partialKey struct{}

// WithPartialResponse returns ctx carrying a request's choice: allow
// partial answers (with warnings) or refuse them. It overrides
// Options.PartialResponse for the selects and metadata requests made with
// ctx.
func WithPartialResponse(ctx context.Context, allow bool) context.Context {
	return context.WithValue(ctx, partialKey{}, allow)
}

func (q *Queryable) allowPartial(ctx context.Context) bool {
	if v, ok := ctx.Value(partialKey{}).(bool); ok {
		return v
	}
	return *q.opts.PartialResponse
}
