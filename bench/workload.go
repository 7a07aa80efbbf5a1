package bench

import (
	"fmt"
	"math/rand/v2"
	"time"
)

// Tag is one tag (label) of a point.
type Tag struct {
	Key, Value string
}

// Field is one numeric field of a point. Int marks a field written as an
// integer in line protocol (TSBS cpu-only writes integer fields).
type Field struct {
	Name  string
	Value float64
	Int   bool
}

// Point is one line of line protocol: a measurement, tags sorted by key,
// one or more fields and a timestamp in nanoseconds. Each field is one
// sample; its series name in the Prometheus view is measurement_field.
type Point struct {
	Measurement string
	Tags        []Tag
	Fields      []Field
	T           int64 // ns since the epoch
	// Shard says which connection must carry the point so that samples of
	// one series stay in order (Prometheus rejects out-of-order samples);
	// -1 means any connection.
	Shard int
}

// Generator yields points in send order. Next fills p (reusing its slices)
// and reports false when the workload is exhausted. A Generator is not safe
// for concurrent use.
type Generator interface {
	Next(p *Point) bool
	// Samples is the total number of samples (fields) the generator yields.
	Samples() int64
}

// cpuFields are the ten fields of the TSBS cpu measurement.
var cpuFields = []string{
	"usage_user", "usage_system", "usage_idle", "usage_nice", "usage_iowait",
	"usage_irq", "usage_softirq", "usage_steal", "usage_guest", "usage_guest_nice",
}

// DevopsOptions shape the TSBS devops cpu-only workload.
type DevopsOptions struct {
	Seed     uint64
	Hosts    int           // number of hosts; each host is 10 series
	Start    time.Time     // first timestamp
	Interval time.Duration // between a host's points; 10 s in TSBS
	Steps    int           // points per host
	// GroupHosts and GroupSteps set the send order: windows of GroupSteps
	// steps, and within a window groups of GroupHosts hosts, each group
	// sending all its steps before the next group. 0 means all hosts, 1
	// step (plain time order). A remote-write request of 500 series x 10
	// samples is GroupHosts=50, GroupSteps=10. Each group is one shard.
	GroupHosts int
	GroupSteps int
}

// Devops is the TSBS devops cpu-only shape: per host ten tags and ten
// integer fields in [0,100] doing a bounded random walk, at a fixed interval.
type Devops struct {
	o     DevopsOptions
	tags  [][]Tag
	state [][]float64 // per host, per field
	rng   *rand.Rand
	// position: window start step, group, step within window, host in group
	win, group, step, host int
	done                   bool
}

// NewDevops returns the generator for o.
func NewDevops(o DevopsOptions) *Devops {
	if o.GroupHosts <= 0 || o.GroupHosts > o.Hosts {
		o.GroupHosts = o.Hosts
	}
	if o.GroupSteps <= 0 {
		o.GroupSteps = 1
	}
	if o.Interval <= 0 {
		o.Interval = 10 * time.Second
	}
	d := &Devops{o: o, rng: rand.New(rand.NewPCG(o.Seed, 0x6465766f7073))}
	d.tags = make([][]Tag, o.Hosts)
	d.state = make([][]float64, o.Hosts)
	for h := range o.Hosts {
		d.tags[h] = hostTags(d.rng, h)
		d.state[h] = make([]float64, len(cpuFields))
		for f := range d.state[h] {
			d.state[h][f] = float64(d.rng.IntN(101))
		}
	}
	d.done = o.Hosts <= 0 || o.Steps <= 0
	return d
}

var (
	regions   = []string{"us-east-1", "us-west-1", "us-west-2", "eu-west-1", "eu-central-1", "ap-southeast-1", "ap-southeast-2", "ap-northeast-1", "sa-east-1"}
	oses      = []string{"Ubuntu16.10", "Ubuntu16.04LTS", "Ubuntu15.10"}
	arches    = []string{"x64", "x86"}
	envs      = []string{"production", "staging", "test"}
	teamNames = []string{"SF", "NYC", "LON", "CHI"}
)

// hostTags returns the ten TSBS tags of host h, sorted by key.
func hostTags(r *rand.Rand, h int) []Tag {
	region := regions[r.IntN(len(regions))]
	return []Tag{
		{"arch", arches[r.IntN(len(arches))]},
		{"datacenter", fmt.Sprintf("%sa", region)},
		{"hostname", fmt.Sprintf("host_%d", h)},
		{"os", oses[r.IntN(len(oses))]},
		{"rack", fmt.Sprint(r.IntN(100))},
		{"region", region},
		{"service", fmt.Sprint(r.IntN(20))},
		{"service_environment", envs[r.IntN(len(envs))]},
		{"service_version", fmt.Sprint(r.IntN(2))},
		{"team", teamNames[r.IntN(len(teamNames))]},
	}
}

// Samples implements Generator.
func (d *Devops) Samples() int64 {
	return int64(d.o.Hosts) * int64(d.o.Steps) * int64(len(cpuFields))
}

// Next implements Generator.
func (d *Devops) Next(p *Point) bool {
	if d.done {
		return false
	}
	h := d.group*d.o.GroupHosts + d.host
	s := d.win + d.step
	p.Measurement = "cpu"
	p.Tags = append(p.Tags[:0], d.tags[h]...)
	p.Fields = p.Fields[:0]
	for f, name := range cpuFields {
		v := d.state[h][f] + float64(d.rng.IntN(3)-1)
		v = min(max(v, 0), 100)
		d.state[h][f] = v
		p.Fields = append(p.Fields, Field{Name: name, Value: v, Int: true})
	}
	p.T = d.o.Start.UnixNano() + int64(s)*int64(d.o.Interval)
	p.Shard = d.group
	d.advance()
	return true
}

func (d *Devops) advance() {
	groups := (d.o.Hosts + d.o.GroupHosts - 1) / d.o.GroupHosts
	d.host++
	if d.host < d.o.GroupHosts && d.group*d.o.GroupHosts+d.host < d.o.Hosts {
		return
	}
	d.host = 0
	d.step++
	if d.step < d.o.GroupSteps && d.win+d.step < d.o.Steps {
		return
	}
	d.step = 0
	d.group++
	if d.group < groups {
		return
	}
	d.group = 0
	d.win += d.o.GroupSteps
	d.done = d.win >= d.o.Steps
}
