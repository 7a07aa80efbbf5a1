package mqtt

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/lightningdb/lightningdb/series"
)

// TestCommitterGroupsOnBusyProcessor: the messages of the goroutines that
// are ready together must share an Append. Without the committer's yield,
// each Append held one message.
func TestCommitterGroupsOnBusyProcessor(t *testing.T) {
	batches := submitConcurrently(t, 1<<16, 200, 20)
	require.Less(t, batches, 200*20/10, "messages per Append: %.1f", float64(200*20)/float64(batches))
}

// TestCommitterGatherStopsAtMaxSamples: the yield ends once the group
// holds maxSamples: without that check, the goroutines that a group's
// commit wakes all join one group (20 appends here; 48 to 69 with it).
func TestCommitterGatherStopsAtMaxSamples(t *testing.T) {
	batches := submitConcurrently(t, 10, 200, 20)
	require.GreaterOrEqual(t, batches, 35, "messages per Append: %.1f", float64(200*20)/float64(batches))
}

// submitConcurrently submits perConn one-sample messages from each of
// conns goroutines on one processor, with an appender that never blocks
// (as a fast fsync looks), and returns how many Appends there were.
func submitConcurrently(t *testing.T, maxSamples, conns, perConn int) int {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	app := newMemAppender()
	c := newCommitter(app, 0, maxSamples, 2)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { c.run(ctx); close(done) }()

	var wg sync.WaitGroup
	for i := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var b series.Batch
			for j := range perConn {
				b.Reset()
				b.AddCanonical(series.FromStrings("__name__", "m", "conn", fmt.Sprint(i)).AppendCanonical(nil), series.TypeFloat)
				b.AppendRaw(int64(j), 0)
				r := c.submit(ctx, &b)
				if r.err != nil || r.accepted != 1 {
					t.Errorf("submit: %+v", r)
					return
				}
			}
		}()
	}
	wg.Wait()
	cancel()
	<-done
	require.Equal(t, conns*perConn, app.count())
	app.mu.Lock()
	defer app.mu.Unlock()
	t.Logf("%d messages in %d appends", conns*perConn, app.batches)
	return app.batches
}
