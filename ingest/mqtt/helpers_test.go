package mqtt

import (
	"context"
	"fmt"
	"net"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/lightningdb/lightningdb/series"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// paho and mochi leave short-lived goroutines behind after Close.
		goleak.IgnoreTopFunction("github.com/eclipse/paho.mqtt.golang.(*router).matchAndDispatch.func1"),
		goleak.IgnoreTopFunction("time.Sleep"),
		goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"),
	)
}

// memAppender stores samples as "series@ts" -> value text, keeping each
// series' first type like the engine. gate, when set, holds every Append
// until it is closed.
type memAppender struct {
	mu      sync.Mutex
	types   map[string]series.ValueType
	data    map[string]string
	writes  map[string]int // how often each series@ts was written
	batches int
	err     error
	gate    chan struct{}
}

func newMemAppender() *memAppender {
	return &memAppender{types: map[string]series.ValueType{}, data: map[string]string{}, writes: map[string]int{}}
}

func (a *memAppender) Append(ctx context.Context, b *series.Batch) (series.AppendResult, error) {
	a.mu.Lock()
	gate := a.gate
	a.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return series.AppendResult{}, ctx.Err()
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.batches++
	if a.err != nil {
		return series.AppendResult{}, a.err
	}
	var res series.AppendResult
	for i := 0; i < b.Len(); i++ {
		canon, typ, ts, vals := b.Series(i)
		ls, err := series.UnmarshalLabels(nil, canon)
		if err != nil {
			return res, err
		}
		key := ls.String()
		if t, ok := a.types[key]; ok && t != typ {
			res.Rejected = append(res.Rejected, series.Rejection{Index: i, Err: fmt.Errorf("%w: %s is %s", series.ErrTypeConflict, key, t)})
			continue
		}
		a.types[key] = typ
		for j, t := range ts {
			var v string
			if typ == series.TypeString {
				v = fmt.Sprintf("%q", b.Str(vals[j]))
			} else {
				v = fmt.Sprintf("%v:%v", typ, series.AsFloat64(typ, vals[j]))
			}
			k := fmt.Sprintf("%s@%d", key, t)
			a.data[k] = v
			a.writes[k]++
			res.Accepted++
		}
	}
	return res, nil
}

// keys returns the stored series@ts keys, sorted, without timestamps when
// dropTS is set.
func (a *memAppender) dump(dropTS bool) []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []string
	for k, v := range a.data {
		if dropTS {
			k = k[:strings.LastIndex(k, "@")]
		}
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

func (a *memAppender) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.data)
}

// waitFor polls cond for up to d: for a state the code under test exposes
// no event for (a socket queue, a map of the broker's), checked every few
// milliseconds until the deadline.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	if !eventually(d, cond) {
		t.Fatalf("timed out after %v waiting for %s", d, what)
	}
}

// eventually polls cond for up to d and reports whether it held.
func eventually(d time.Duration, cond func() bool) bool {
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline.C:
			return cond()
		}
	}
	return true
}

func freePort(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
