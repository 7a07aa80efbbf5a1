package bench

import (
	"math"
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		out := make([]time.Duration, len(v))
		for i, x := range v {
			out[i] = time.Duration(x) * time.Millisecond
		}
		return out
	}
	hundred := make([]time.Duration, 100)
	for i := range hundred {
		hundred[i] = time.Duration(i+1) * time.Millisecond
	}
	for _, tc := range []struct {
		d    []time.Duration
		p    float64
		want time.Duration
	}{
		{nil, 50, 0},
		{ms(7), 50, 7 * time.Millisecond},
		{ms(7), 99, 7 * time.Millisecond},
		{ms(1, 2, 3, 4), 50, 2 * time.Millisecond},
		{ms(1, 2, 3, 4), 51, 3 * time.Millisecond},
		{ms(1, 2, 3, 4), 100, 4 * time.Millisecond},
		{hundred, 50, 50 * time.Millisecond},
		{hundred, 90, 90 * time.Millisecond},
		{hundred, 99, 99 * time.Millisecond},
		{hundred, 99.5, 100 * time.Millisecond},
		{hundred, 0.1, 1 * time.Millisecond},
	} {
		if got := Percentile(tc.d, tc.p); got != tc.want {
			t.Errorf("Percentile(%d values, %v) = %v, want %v", len(tc.d), tc.p, got, tc.want)
		}
	}
}

func TestSummarizeSortsAndConverts(t *testing.T) {
	d := []time.Duration{5 * time.Millisecond, time.Millisecond, 3 * time.Millisecond, 2 * time.Millisecond, 4 * time.Millisecond}
	l := Summarize(d)
	if l.N != 5 || l.P50 != 3 || l.P90 != 5 || l.P99 != 5 || l.Max != 5 {
		t.Fatalf("%+v", l)
	}
}

func TestRatio(t *testing.T) {
	if r := Ratio(3, 2); r != 1.5 {
		t.Fatalf("Ratio(3,2) = %v", r)
	}
	for _, c := range [][2]float64{{0, 1}, {1, 0}, {-1, 1}, {math.NaN(), 1}, {1, math.NaN()}} {
		if r := Ratio(c[0], c[1]); !math.IsNaN(r) {
			t.Fatalf("Ratio(%v, %v) = %v, want NaN", c[0], c[1], r)
		}
	}
	if s := ratio(1, 0); s != "n/a" {
		t.Fatalf("ratio cell %q", s)
	}
	if s := ratio(2.5, 1); s != "2.50" {
		t.Fatalf("ratio cell %q", s)
	}
}

func TestParseProc(t *testing.T) {
	stat := []byte("1234 (my (odd) srv) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 8 0 100 1000000 500\n")
	cpu, err := parseStatCPU(stat)
	if err != nil || cpu != 3.25 {
		t.Fatalf("cpu %v %v, want 3.25", cpu, err)
	}
	status := []byte("Name:\tsrv\nVmPeak:\t  200 kB\nVmHWM:\t  1500 kB\nVmRSS:\t 1000 kB\n")
	rss, err := parseStatusKB(status, "VmHWM:")
	if err != nil || rss != 1500*1024 {
		t.Fatalf("rss %v %v", rss, err)
	}
	if _, err := parseStatusKB(status, "VmSwap:"); err == nil {
		t.Fatal("missing key parsed")
	}
}
