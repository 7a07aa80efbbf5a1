package bench

import (
	"strconv"
	"time"
)

// ChurnRSSOptions shape the churn-RSS run (--churn-rss): Series series are
// created over time, Live of them live at once, each for Lifetime steps of
// Interval, and the server's memory is sampled as the all-time series count
// grows. Zero fields take the defaults below.
type ChurnRSSOptions struct {
	// Series is how many distinct series the run creates (default 2 M).
	Series int64
	// Live is how many series receive samples at any step (default 20,000).
	Live int
	// Lifetime is how many steps a series lives before its slot moves to a
	// new series (default 10); slots are staggered, so Live/Lifetime series
	// are born at every step.
	Lifetime int
	// Interval is the time between steps: every live series gets one
	// sample per Interval, so the offered rate is Live/Interval samples/s
	// (default 1 s: 20,000 samples/s, 2,000 new series/s).
	Interval time.Duration
	// BatchLines is the lines per request (default 5,000); Conns the HTTP
	// connections (default 2).
	BatchLines, Conns int
	// Every is the sampling period (default 1 s).
	Every time.Duration
	// Retention, Partition and CheckInterval configure Lightning DB
	// (defaults 1 min, 1 min, 1 s): the shortest it allows, so a series
	// leaves (when the server forgets expired series) about two minutes
	// after its last sample.
	Retention, Partition, CheckInterval time.Duration
	// VMRetention is VictoriaMetrics' -retentionPeriod (default 1d, its
	// minimum).
	VMRetention string
	// MaxDuration bounds one server's run (default 30 min).
	MaxDuration time.Duration
	// Progress receives a line every few samples (nil: none).
	Progress func(string) `json:"-"`
}

// ChurnDefaults returns o with its zero fields set to the defaults.
func ChurnDefaults(o ChurnRSSOptions) ChurnRSSOptions {
	o.defaults()
	return o
}

func (o *ChurnRSSOptions) defaults() {
	if o.Series <= 0 {
		o.Series = 2_000_000
	}
	if o.Live <= 0 {
		o.Live = 20_000
	}
	if o.Lifetime <= 0 {
		o.Lifetime = 10
	}
	if o.Interval <= 0 {
		o.Interval = time.Second
	}
	if o.BatchLines <= 0 {
		o.BatchLines = 5000
	}
	if o.Conns <= 0 {
		o.Conns = 2
	}
	if o.Every <= 0 {
		o.Every = time.Second
	}
	if o.Retention <= 0 {
		o.Retention = time.Minute
	}
	if o.Partition <= 0 {
		o.Partition = time.Minute
	}
	if o.CheckInterval <= 0 {
		o.CheckInterval = time.Second
	}
	if o.VMRetention == "" {
		o.VMRetention = "1d"
	}
	if o.MaxDuration <= 0 {
		o.MaxDuration = 30 * time.Minute
	}
}

// churnFleet names the churn-RSS series: slot s holds generation
// gen(s, step) = (step + offset(s)) / lifetime, offsets spread evenly over
// [0, lifetime) so the same number of slots turn over at every step. The
// series of slot s, generation g is churn_value{id="s-g", slot="s", ...}.
type churnFleet struct {
	live, lifetime int
}

func (f churnFleet) offset(slot int) int { return slot * f.lifetime / f.live }

func (f churnFleet) gen(slot, step int) int { return (step + f.offset(slot)) / f.lifetime }

// born reports whether slot's series at step is new: the first step, or
// the step its generation begins.
func (f churnFleet) born(slot, step int) bool {
	return step == 0 || (step+f.offset(slot))%f.lifetime == 0
}

// births is the number of series born at step.
func (f churnFleet) births(step int) int {
	if step == 0 {
		return f.live
	}
	n := 0
	for s := range f.live {
		if f.born(s, step) {
			n++
		}
	}
	return n
}

// steps is the number of steps after which at least n series exist (at
// least one step).
func (f churnFleet) steps(n int64) int {
	var created int64
	for step := 0; ; step++ {
		created += int64(f.births(step))
		if created >= n {
			return step + 1
		}
	}
}

// point fills p with slot's sample at step, timestamp ts (Unix ns).
func (f churnFleet) point(p *Point, slot, step int, ts int64) {
	g := f.gen(slot, step)
	p.Measurement = "churn"
	p.Tags = append(p.Tags[:0],
		Tag{"host", "node-" + strconv.Itoa(slot%100)},
		Tag{"id", strconv.Itoa(slot) + "-" + strconv.Itoa(g)},
		Tag{"slot", strconv.Itoa(slot)},
	)
	p.Fields = append(p.Fields[:0], Field{Name: "value", Value: float64((step*7+slot)%1000) / 10})
	p.T = ts
	p.Shard = -1
}

// body encodes slots [lo, hi) at step with timestamp ts as line protocol;
// Body.Series is the number of series born in it.
func (f churnFleet) body(lo, hi, step int, ts int64, p *Point) Body {
	b := Body{Shard: -1}
	for s := lo; s < hi; s++ {
		f.point(p, s, step, ts)
		b.Data = AppendLine(b.Data, p)
		if f.born(s, step) {
			b.Series++
		}
	}
	b.Samples = hi - lo
	return b
}
