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

// TestCommitterGroupsOnBusyProcessor submits from many goroutines on one
// processor with an appender that never blocks (as a fast fsync looks):
// the messages of the goroutines that are ready together must share an
// Append. Without the committer's yield, each Append held one message.
func TestCommitterGroupsOnBusyProcessor(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	app := newMemAppender()
	c := newCommitter(app, 0, 1<<16, 2)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { c.run(ctx); close(done) }()

	const conns, perConn = 200, 20
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
	batches := app.batches
	app.mu.Unlock()
	t.Logf("%d messages in %d appends", conns*perConn, batches)
	require.Less(t, batches, conns*perConn/10, "messages per Append: %.1f", float64(conns*perConn)/float64(batches))
}
