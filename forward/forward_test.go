package forward

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lightningdb/lightningdb/engine"
	"github.com/lightningdb/lightningdb/series"
)

// memSink records what it acknowledges; while down it answers 503.
type memSink struct {
	mu     sync.Mutex
	down   bool
	reject bool
	got    map[string]int // "labels@t" -> times received
	most   int            // samples of the largest batch
	sent   chan struct{}
}

func newMemSink() *memSink { return &memSink{got: map[string]int{}, sent: make(chan struct{}, 1)} }

func (s *memSink) Send(_ context.Context, b *Batch) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case s.sent <- struct{}{}:
	default:
	}
	if s.down {
		return &StatusError{Code: 503, Body: "down"}
	}
	if s.reject {
		return &StatusError{Code: 400, Body: "bad"}
	}
	s.most = max(s.most, b.Samples)
	for _, ser := range b.Series {
		for _, t := range ser.T {
			s.got[fmt.Sprintf("%q@%d", ser.Labels, t)]++
		}
	}
	return nil
}

func (s *memSink) set(down, reject bool) {
	s.mu.Lock()
	s.down, s.reject = down, reject
	s.mu.Unlock()
}

func (s *memSink) distinct() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.got)
}

type env struct {
	t    *testing.T
	dir  string
	db   *engine.DB
	f    *Forwarder
	reg  *prometheus.Registry
	stop func()
}

func start(t *testing.T, dir string, sink Sink, maxWAL int64) *env {
	t.Helper()
	reg := prometheus.NewRegistry()
	f, err := New(sink, Options{CursorPath: CursorPath(dir), MaxWALBytes: maxWAL, MinBackoff: time.Millisecond,
		MaxBackoff: 10 * time.Millisecond, PollInterval: 5 * time.Millisecond, Registerer: reg, BatchSamples: 500})
	if err != nil {
		t.Fatal(err)
	}
	db, err := engine.Open(dir, engine.Options{WALSegmentSize: 64 << 10, SyncMode: engine.SyncNone, WALRetain: f.Retain})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { f.Run(ctx, db); close(done) }()
	return &env{t: t, dir: dir, db: db, f: f, reg: reg, stop: func() { cancel(); <-done; db.Close() }}
}

func (e *env) write(from, n int) {
	e.t.Helper()
	for i := from; i < from+n; i += 700 {
		var b series.Batch
		for k := range 7 {
			b.AddSeries(series.FromStrings("__name__", "m", "k", fmt.Sprint(k)), series.TypeFloat)
			for j := i + k; j < min(i+700, from+n); j += 7 {
				b.AppendFloat(int64(j+1)*1e6, float64(j))
			}
		}
		if _, err := e.db.Append(context.Background(), &b); err != nil {
			e.t.Fatal(err)
		}
	}
}

// val returns the sum of the values of the metric name.
func (e *env) val(name string) float64 {
	mfs, err := e.reg.Gather()
	if err != nil {
		e.t.Fatal(err)
	}
	var v float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			v += m.GetGauge().GetValue() + m.GetCounter().GetValue()
		}
	}
	return v
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// TestForwardOutageAndRestart: samples written while the sink is down are
// sent once it is back; a restart resumes from the saved cursor (none
// lost); the held WAL survives flushes until forwarded.
func TestForwardOutageAndRestart(t *testing.T) {
	dir := t.TempDir()
	sink := newMemSink()
	e := start(t, dir, sink, 0)
	e.write(0, 2000)
	waitFor(t, "first 2000", func() bool { return sink.distinct() == 2000 })
	sink.set(true, false)
	e.write(2000, 20000)
	if err := e.db.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "lag", func() bool { return e.val("forward_lag_bytes") > 64<<10 })
	segs, _ := e.db.WALSegments()
	if segs[0].Seq > e.f.Retain() {
		t.Fatalf("flush deleted WAL the cursor needs: first segment %d, cursor %d", segs[0].Seq, e.f.Retain())
	}
	waitFor(t, "retries", func() bool { return e.val("forward_retries_total") > 0 })
	e.stop() // a restart while the sink is down
	e = start(t, dir, sink, 0)
	e.write(22000, 1000)
	sink.set(false, false)
	waitFor(t, "all 23000", func() bool { return sink.distinct() == 23000 })
	waitFor(t, "lag 0", func() bool { return e.val("forward_lag_bytes") == 0 })
	if sink.most > 500+700 { // BatchSamples + one record
		t.Fatalf("a batch of %d samples, BatchSamples 500", sink.most)
	}
	e.stop()
	pos, err := LoadCursor(engine.OSFS{}, CursorPath(dir))
	if err != nil || pos.Seq == 0 {
		t.Fatalf("cursor %+v, %v", pos, err)
	}
}

// TestForwardBound: past MaxWALBytes the oldest segments are given up,
// counted, and the engine deletes them; a 4xx batch is skipped.
func TestForwardBound(t *testing.T) {
	dir := t.TempDir()
	sink := newMemSink()
	sink.set(true, false)
	e := start(t, dir, sink, 256<<10)
	defer func() { e.stop() }()
	e.write(0, 60000)
	waitFor(t, "drop", func() bool { return e.val("forward_dropped_bytes_total") > 0 })
	if err := e.db.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	segs, _ := e.db.WALSegments()
	var total int64
	for _, s := range segs {
		total += s.Size
	}
	if total > 256<<10+2*64<<10 {
		t.Fatalf("WAL holds %d bytes, bound 256 KiB: %+v", total, segs)
	}
	sink.set(false, true)
	waitFor(t, "rejected skipped", func() bool {
		return e.val("forward_skipped_samples_total") > 0 && e.val("forward_lag_bytes") == 0
	})
}

func TestCursorRoundTrip(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, CursorFile)
	if pos, err := LoadCursor(engine.OSFS{}, name); err != nil || pos != (engine.WALPosition{}) {
		t.Fatalf("missing cursor: %+v, %v", pos, err)
	}
	want := engine.WALPosition{Seq: 42, Offset: 123456}
	if err := SaveCursor(engine.OSFS{}, name, want); err != nil {
		t.Fatal(err)
	}
	if got, err := LoadCursor(engine.OSFS{}, name); err != nil || got != want {
		t.Fatalf("got %+v, %v", got, err)
	}
	b := AppendCursor(nil, want)
	b[len(b)-5] ^= 1
	if _, err := UnmarshalCursor(b); err == nil {
		t.Fatal("damaged cursor accepted")
	}
}

func FuzzUnmarshalCursor(f *testing.F) {
	f.Add(AppendCursor(nil, engine.WALPosition{Seq: 3, Offset: 99}))
	f.Add([]byte("LDBFWD\x01"))
	f.Fuzz(func(t *testing.T, b []byte) {
		pos, err := UnmarshalCursor(b)
		if err != nil {
			return
		}
		if got, err := UnmarshalCursor(AppendCursor(nil, pos)); err != nil || got != pos {
			t.Fatalf("round trip %+v: %+v, %v", pos, got, err)
		}
	})
}
