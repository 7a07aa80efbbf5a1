package bench

import (
	"fmt"
	"math/rand/v2"
	"time"
)

// ChurnOptions shape the high-churn workload.
type ChurnOptions struct {
	Seed              uint64
	Hosts             int
	ContainersPerHost int
	Start             time.Time
	Interval          time.Duration // default 10 s
	Steps             int
	// Lifetime is how many steps a container lives before it is replaced
	// by a new one with a new ID (new series); default 30 (5 min at 10 s).
	// Container slots are staggered so churn is spread over time.
	Lifetime int
}

// Churn is a container fleet whose containers live for Lifetime steps: at
// any time Hosts*ContainersPerHost*2 series are active, and over the run
// about Steps/Lifetime times as many series are created.
type Churn struct {
	o         ChurnOptions
	rng       *rand.Rand
	offset    []int // per slot, stagger of the container's birth
	cpu       []float64
	step, idx int
	done      bool
}

// NewChurn returns the generator for o.
func NewChurn(o ChurnOptions) *Churn {
	if o.Interval <= 0 {
		o.Interval = 10 * time.Second
	}
	if o.Lifetime <= 0 {
		o.Lifetime = 30
	}
	g := &Churn{o: o, rng: rand.New(rand.NewPCG(o.Seed, 0x636875726e))}
	n := o.Hosts * o.ContainersPerHost
	g.offset = make([]int, n)
	g.cpu = make([]float64, n)
	for i := range n {
		g.offset[i] = g.rng.IntN(o.Lifetime)
		g.cpu[i] = g.rng.Float64() * 2
	}
	g.done = n <= 0 || o.Steps <= 0
	return g
}

// Samples implements Generator.
func (g *Churn) Samples() int64 {
	return int64(g.o.Hosts) * int64(g.o.ContainersPerHost) * int64(g.o.Steps) * 2
}

// SeriesTotal is the number of distinct series the run creates.
func (g *Churn) SeriesTotal() int64 {
	var n int64
	for _, off := range g.offset {
		first := off / g.o.Lifetime
		last := (g.o.Steps - 1 + off) / g.o.Lifetime
		n += int64(last - first + 1)
	}
	return n * 2
}

// Next implements Generator.
func (g *Churn) Next(p *Point) bool {
	if g.done {
		return false
	}
	i := g.idx
	host := i / g.o.ContainersPerHost
	gen := (g.step + g.offset[i]) / g.o.Lifetime
	g.cpu[i] = max(g.cpu[i]+g.rng.NormFloat64()*0.05, 0)
	p.Measurement = "container"
	p.Tags = append(p.Tags[:0],
		Tag{"container_id", fmt.Sprintf("c%d-%d", i, gen)},
		Tag{"host", fmt.Sprintf("node-%d", host)},
		Tag{"image", fmt.Sprintf("app-%d:v%d", i%7, gen%3)},
	)
	p.Fields = append(p.Fields[:0],
		Field{Name: "cpu_seconds", Value: roundTo(g.cpu[i], 2)},
		Field{Name: "memory_bytes", Value: float64(1 << 20 * (64 + g.rng.IntN(512))), Int: true},
	)
	p.T = g.o.Start.UnixNano() + int64(g.step)*int64(g.o.Interval)
	p.Shard = host
	g.idx++
	if g.idx == len(g.offset) {
		g.idx = 0
		g.step++
		g.done = g.step >= g.o.Steps
	}
	return true
}
