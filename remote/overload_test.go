package remote

import (
	"context"
	"fmt"
	"net/http"
	"testing"

	"github.com/prometheus/prometheus/prompb"
	"github.com/stretchr/testify/require"

	"github.com/lightningdb/lightningdb/engine"
	"github.com/lightningdb/lightningdb/series"
)

// failingAppender fails every Append with err.
type failingAppender struct{ err error }

func (a failingAppender) Append(context.Context, *series.Batch) (series.AppendResult, error) {
	return series.AppendResult{}, a.err
}

// TestWriteOverloadedRetryLater: with default options, an Append error
// that wraps series.ErrOverloaded (the engine's memtable over budget, or
// its engine.ErrDiskFull) is answered 503 with Retry-After, the text
// naming the cause; Prometheus retries it. Any other error is a 500.
func TestWriteOverloadedRetryLater(t *testing.T) {
	for _, tc := range []struct {
		err    error
		status int
		text   string
	}{
		{fmt.Errorf("memtable over budget: %w", series.ErrOverloaded), http.StatusServiceUnavailable, "retry later: memtable over budget"},
		{engine.ErrDiskFull, http.StatusServiceUnavailable, "retry later: no space left on device"},
		{fmt.Errorf("disk on fire"), http.StatusInternalServerError, "disk on fire"},
	} {
		t.Run(tc.err.Error(), func(t *testing.T) {
			db := openEngine(t, engine.SyncNone)
			h, err := NewHandler(failingAppender{tc.err}, engineStorage{db}, Options{})
			require.NoError(t, err)
			in := []prompb.TimeSeries{{Labels: lbls("__name__", "up"), Samples: samples(1, t0)}}
			w := post(mux(h), "/api/v1/write", "", v1Body(t, &prompb.WriteRequest{Timeseries: in}))
			require.Equal(t, tc.status, w.Code, w.Body.String())
			require.Contains(t, w.Body.String(), tc.text)
			if tc.status == http.StatusServiceUnavailable {
				require.Equal(t, "1", w.Header().Get("Retry-After"))
			}
		})
	}
}
