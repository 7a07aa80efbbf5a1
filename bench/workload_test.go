package bench

import (
	"bytes"
	"slices"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func drain(g Generator) []Point {
	var out []Point
	var p Point
	for g.Next(&p) {
		q := p
		q.Tags = slices.Clone(p.Tags)
		q.Fields = slices.Clone(p.Fields)
		out = append(out, q)
	}
	return out
}

func lines(ps []Point) []byte {
	var b []byte
	for i := range ps {
		b = AppendLine(b, &ps[i])
	}
	return b
}

func TestGeneratorsDeterministic(t *testing.T) {
	for _, tc := range []struct {
		name string
		gen  func(seed uint64) Generator
	}{
		{"devops", func(s uint64) Generator {
			return NewDevops(DevopsOptions{Seed: s, Hosts: 7, Start: t0, Steps: 13, GroupHosts: 3, GroupSteps: 4})
		}},
		{"iot", func(s uint64) Generator {
			return NewIoT(IoTOptions{Seed: s, Devices: 50, Start: t0, Steps: 30, LateShare: 0.2, LateSteps: 7})
		}},
		{"churn", func(s uint64) Generator {
			return NewChurn(ChurnOptions{Seed: s, Hosts: 3, ContainersPerHost: 4, Start: t0, Steps: 50, Lifetime: 6})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := lines(drain(tc.gen(42))), lines(drain(tc.gen(42)))
			if !bytes.Equal(a, b) {
				t.Fatal("same seed gave different data")
			}
			if c := lines(drain(tc.gen(43))); bytes.Equal(a, c) {
				t.Fatal("different seeds gave the same data")
			}
			g := tc.gen(42)
			var n int64
			for _, p := range drain(g) {
				n += int64(len(p.Fields))
			}
			if n != g.Samples() {
				t.Fatalf("yielded %d samples, Samples() says %d", n, g.Samples())
			}
		})
	}
}

func TestDevopsShape(t *testing.T) {
	o := DevopsOptions{Seed: 1, Hosts: 5, Start: t0, Interval: 10 * time.Second, Steps: 6, GroupHosts: 2, GroupSteps: 3}
	ps := drain(NewDevops(o))
	if len(ps) != 30 {
		t.Fatalf("got %d points, want 30", len(ps))
	}
	type key struct {
		host string
		t    int64
	}
	seen := map[key]bool{}
	last := map[string]int64{}
	for i, p := range ps {
		if len(p.Tags) != 10 || len(p.Fields) != 10 {
			t.Fatalf("point %d: %d tags, %d fields", i, len(p.Tags), len(p.Fields))
		}
		if !slices.IsSortedFunc(p.Tags, func(a, b Tag) int { return cmpString(a.Key, b.Key) }) {
			t.Fatalf("point %d: tags not sorted", i)
		}
		for _, f := range p.Fields {
			if f.Value < 0 || f.Value > 100 || !f.Int || f.Value != float64(int64(f.Value)) {
				t.Fatalf("point %d: field %s = %v", i, f.Name, f.Value)
			}
		}
		host := p.Tags[2].Value
		k := key{host, p.T}
		if seen[k] {
			t.Fatalf("duplicate point %v", k)
		}
		seen[k] = true
		if (p.T-t0.UnixNano())%int64(10*time.Second) != 0 {
			t.Fatalf("timestamp %d off the interval", p.T)
		}
		if p.T <= last[host] && last[host] != 0 {
			t.Fatalf("host %s out of order", host)
		}
		last[host] = p.T
	}
	// Order: window of 3 steps, group {0,1} all steps, then {2,3}, then {4}.
	want := []string{"host_0", "host_1", "host_0", "host_1", "host_0", "host_1", "host_2", "host_3"}
	for i, h := range want {
		if got := ps[i].Tags[2].Value; got != h {
			t.Fatalf("point %d from %s, want %s", i, got, h)
		}
	}
	if ps[0].Shard != 0 || ps[6].Shard != 1 || ps[12].Shard != 2 {
		t.Fatalf("shards %d %d %d, want 0 1 2", ps[0].Shard, ps[6].Shard, ps[12].Shard)
	}
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func TestIoTLateBatches(t *testing.T) {
	o := IoTOptions{Seed: 3, Devices: 200, Start: t0, Interval: time.Minute, Steps: 20, LateShare: 0.25, LateSteps: 5}
	g := NewIoT(o)
	ps := drain(g)
	if int64(len(ps))*3 != g.Samples() {
		t.Fatalf("%d points for %d samples", len(ps), g.Samples())
	}
	late := 0
	for d := range o.Devices {
		if g.Late(d) {
			late++
		}
	}
	if late < 25 || late > 75 {
		t.Fatalf("%d late devices of 200 at share 0.25", late)
	}
	// Stream time is the newest nominal time sent so far; a late device's
	// points arrive up to LateSteps-1 intervals behind it, on-time ones
	// within the jitter.
	var stream int64
	maxLag := time.Duration(0)
	perDevice := map[string]int{}
	for _, p := range ps {
		stream = max(stream, p.T)
		lag := time.Duration(stream - p.T)
		maxLag = max(maxLag, lag)
		perDevice[p.Tags[0].Value]++
		if d := time.Duration(p.T - t0.UnixNano()); d < -o.Interval/10 || d > time.Duration(o.Steps)*o.Interval {
			t.Fatalf("timestamp %v outside the run", d)
		}
	}
	if maxLag < 3*time.Minute {
		t.Fatalf("largest lag %v: late batches are not late", maxLag)
	}
	for dev, n := range perDevice {
		if n != o.Steps {
			t.Fatalf("device %s sent %d reports, want %d", dev, n, o.Steps)
		}
	}
}

func TestChurnSeries(t *testing.T) {
	g := NewChurn(ChurnOptions{Seed: 5, Hosts: 2, ContainersPerHost: 3, Start: t0, Steps: 40, Lifetime: 10})
	ps := drain(g)
	series := map[string]bool{}
	for _, p := range ps {
		for f := range p.Fields {
			series[seriesKey(&p, f)] = true
		}
	}
	if int64(len(series)) != g.SeriesTotal() {
		t.Fatalf("%d distinct series, SeriesTotal says %d", len(series), g.SeriesTotal())
	}
	// 6 slots x 2 fields live at once; 40 steps of lifetime 10 make 4 or 5
	// generations per slot.
	if len(series) < 6*2*4 || len(series) > 6*2*5 {
		t.Fatalf("%d series", len(series))
	}
}
