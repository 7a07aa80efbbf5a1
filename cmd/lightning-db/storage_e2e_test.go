package main

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestCompactIoTStorageEndToEnd writes IoT lines (three fields sharing a
// jittered millisecond timestamp, values of 2, 1 and 3 decimals) over
// /write, stops the server (which flushes), checks that the data directory
// holds version 3 segments and series snapshot and takes well under the
// bytes a sample of storing each field's timestamps, restarts, and reads
// every sample back exactly.
func TestCompactIoTStorageEndToEnd(t *testing.T) {
	dir := t.TempDir()
	p := startServer(t, dir)
	const devices, reports = 20, 300
	base := time.Date(2026, 1, 1, 0, 0, 3, 0, time.UTC)
	rng := rand.New(rand.NewPCG(17, 17))
	type sample struct {
		ts      int64
		t, h, b float64
	}
	want := make([][]sample, devices)
	var body bytes.Buffer
	for r := range reports {
		for d := range devices {
			ts := base.Add(time.Duration(r)*time.Minute + time.Duration(rng.IntN(6001)-3000)*time.Millisecond)
			s := sample{ts: ts.UnixNano(), t: math.Round((15+rng.Float64()*10)*100) / 100,
				h: math.Round((30+rng.Float64()*40)*10) / 10, b: math.Round((100-float64(r)*0.01-rng.Float64()*0.01)*1000) / 1000}
			want[d] = append(want[d], s)
			fmt.Fprintf(&body, "sensor,device=d%02d temperature=%v,humidity=%v,battery=%v %d\n", d, s.t, s.h, s.b, ts.UnixMilli())
		}
	}
	resp := post(t, p.url("/write?db=iot&precision=ms"), "text/plain", body.Bytes(), nil)
	if resp.StatusCode != 204 {
		t.Fatalf("write: %d %s", resp.StatusCode, readBody(t, resp))
	}
	p.stop()

	segs, err := filepath.Glob(filepath.Join(dir, "segments", "*.seg"))
	if err != nil || len(segs) == 0 {
		t.Fatalf("no segments under %s", dir)
	}
	var segBytes int64
	for _, s := range segs {
		data, err := os.ReadFile(s)
		if err != nil {
			t.Fatal(err)
		}
		if string(data[:6]) != "LDBSEG" || data[6] != 3 {
			t.Fatalf("%s: header %q, want segment version 3", s, data[:8])
		}
		segBytes += int64(len(data))
	}
	snap, err := os.ReadFile(filepath.Join(dir, "series.snap"))
	if err != nil || len(snap) < 8 || string(snap[:6]) != "LDBSER" || snap[6] != 3 {
		t.Fatalf("series.snap: not a version 3 snapshot (%v)", err)
	}
	perSample := float64(segBytes) / (devices * reports * 3)
	t.Logf("%d segments, %d bytes, %.2f bytes a sample", len(segs), segBytes, perSample)
	// The values take ~22 bits a line and the shared timestamps ~14, with
	// block overheads ~1.8 bytes a sample; each field's own timestamps
	// would add ~1.2.
	if perSample > 2.2 {
		t.Fatalf("%.2f bytes a sample, want at most 2.2", perSample)
	}

	p = startServer(t, dir)
	defer p.stop()
	got := p.export(`{db="iot"}`)
	if len(got) != devices*3 {
		t.Fatalf("%d series, want %d", len(got), devices*3)
	}
	for d, ss := range want {
		for f, name := range []string{"temperature", "humidity", "battery"} {
			key := fmt.Sprintf("sensor_%s{db=iot,device=d%02d}", name, d)
			if n := len(got[key].Timestamps); n != reports {
				t.Fatalf("%s: %d samples, want %d", key, n, reports)
			}
			for _, s := range ss {
				wantVal(t, got, key, s.ts, fmt.Sprint([]float64{s.t, s.h, s.b}[f]))
			}
		}
	}
}
