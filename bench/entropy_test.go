package bench

import (
	"math"
	"testing"
)

// TestDevopsEntropy computes the entropy of the lp-v1 data set (the
// devops generator at full scale: 100 hosts x 8640 steps x 10 fields), the
// floor its bytes a sample are measured against in
// bench/results/bytes-per-sample.md: the empirical entropy of the walks'
// steps (their entropy rate: every step is drawn alike), each series' first
// value at log2(101) bits, the fixed-interval timestamps at nothing.
func TestDevopsEntropy(t *testing.T) {
	const hosts, steps = 100, 8640
	// Points come host after host, step after step (GroupHosts: all).
	counts := map[float64]int64{}
	var p Point
	var n int64
	g := NewDevops(DevopsOptions{Seed: 1, Hosts: hosts, Start: t0, Steps: steps})
	last := make([][]float64, hosts)
	host := 0
	for g.Next(&p) {
		if last[host] != nil {
			for f, fl := range p.Fields {
				counts[fl.Value-last[host][f]]++
				n++
			}
		}
		last[host] = last[host][:0]
		for _, fl := range p.Fields {
			last[host] = append(last[host], fl.Value)
		}
		host = (host + 1) % hosts
	}
	series := float64(hosts * len(cpuFields))
	bits := series * math.Log2(101)
	for _, c := range counts {
		bits -= float64(c) * math.Log2(float64(c)/float64(n))
	}
	perSample := bits / 8 / (float64(n) + series)
	t.Logf("lp-v1 data: %d samples, entropy %.4f bytes a sample", n+int64(series), perSample)
	if perSample < 0.18 || perSample > 0.2 {
		t.Fatalf("entropy %.4f bytes a sample, want about log2(3)/8 = 0.198", perSample)
	}
}
