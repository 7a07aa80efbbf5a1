package bench

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"
)

// IoTOptions shape the IoT fleet workload.
type IoTOptions struct {
	Seed     uint64
	Devices  int
	Start    time.Time
	Interval time.Duration // nominal reporting interval; default 60 s
	Steps    int           // reports per device
	// Jitter is the largest offset of a report from its nominal time;
	// default Interval/20 (±3 s at 60 s). Offsets are uniform in
	// [-Jitter, +Jitter].
	Jitter time.Duration
	// LateShare of the devices (0..1) buffer their reports and send them
	// in one late batch every LateSteps steps (hours old by the time they
	// arrive); default 0.05 and 180 steps (3 h at 60 s).
	LateShare float64
	LateSteps int
}

var iotFields = []string{"temperature", "humidity", "battery"}

// iotDecimals are the decimals each field is reported with.
var iotDecimals = []int{2, 1, 3}
var iotModels = []string{"th-100", "th-200", "env-pro", "env-lite"}

// IoT is a fleet of devices, each reporting three fields at a jittered
// interval; a share of the devices sends its reports in batches hours late.
// Points go out in stream order: at each step every on-time device reports,
// and each late device reports nothing until its batch is due.
type IoT struct {
	o      IoTOptions
	rng    *rand.Rand
	late   []bool
	tags   [][]Tag
	vals   [][]float64
	step   int // stream step
	dev    int // device within the step
	k      int // next buffered step of a late device being flushed
	inLate bool
	done   bool
}

// NewIoT returns the generator for o.
func NewIoT(o IoTOptions) *IoT {
	if o.Interval <= 0 {
		o.Interval = time.Minute
	}
	if o.Jitter == 0 {
		o.Jitter = o.Interval / 20
	}
	if o.LateShare == 0 {
		o.LateShare = 0.05
	}
	if o.LateSteps <= 0 {
		o.LateSteps = 180
	}
	g := &IoT{o: o, rng: rand.New(rand.NewPCG(o.Seed, 0x696f74))}
	g.late = make([]bool, o.Devices)
	g.tags = make([][]Tag, o.Devices)
	g.vals = make([][]float64, o.Devices)
	for d := range o.Devices {
		g.late[d] = g.rng.Float64() < o.LateShare
		g.tags[d] = []Tag{
			{"device_id", fmt.Sprintf("dev-%06d", d)},
			{"firmware", fmt.Sprintf("1.%d", g.rng.IntN(5))},
			{"fleet", fmt.Sprintf("fleet-%d", d%10)},
			{"model", iotModels[g.rng.IntN(len(iotModels))]},
		}
		g.vals[d] = []float64{15 + 10*g.rng.Float64(), 30 + 40*g.rng.Float64(), 100}
	}
	g.done = o.Devices <= 0 || o.Steps <= 0
	return g
}

// Samples implements Generator.
func (g *IoT) Samples() int64 {
	return int64(g.o.Devices) * int64(g.o.Steps) * int64(len(iotFields))
}

// Late reports whether device d sends late batches.
func (g *IoT) Late(d int) bool { return g.late[d] }

// Next implements Generator.
func (g *IoT) Next(p *Point) bool {
	for !g.done {
		d := g.dev
		if !g.late[d] {
			g.emit(p, d, g.step)
			g.nextDevice()
			return true
		}
		// A late device flushes its buffer at the end of each LateSteps
		// window and at the end of the stream.
		due := (g.step+1)%g.o.LateSteps == 0 || g.step == g.o.Steps-1
		if !due {
			g.nextDevice()
			continue
		}
		if !g.inLate {
			g.inLate = true
			g.k = g.step - g.step%g.o.LateSteps
		}
		g.emit(p, d, g.k)
		g.k++
		if g.k > g.step {
			g.inLate = false
			g.nextDevice()
		}
		return true
	}
	return false
}

func (g *IoT) emit(p *Point, d, step int) {
	p.Measurement = "sensor"
	p.Tags = append(p.Tags[:0], g.tags[d]...)
	p.Fields = p.Fields[:0]
	v := g.vals[d]
	v[0] += g.rng.NormFloat64() * 0.1
	v[1] = min(max(v[1]+g.rng.NormFloat64()*0.5, 0), 100)
	v[2] = max(v[2]-g.rng.Float64()*0.01, 0)
	for i, name := range iotFields {
		p.Fields = append(p.Fields, Field{Name: name, Value: roundTo(v[i], iotDecimals[i])})
	}
	jitter := time.Duration(0)
	if g.o.Jitter > 0 {
		jitter = time.Duration(g.rng.Int64N(int64(2*g.o.Jitter)+1)) - g.o.Jitter
	}
	// Millisecond timestamps: every target stores at least milliseconds.
	t := g.o.Start.Add(time.Duration(step)*g.o.Interval + jitter).Truncate(time.Millisecond)
	p.T = t.UnixNano()
	p.Shard = d
}

func (g *IoT) nextDevice() {
	g.dev++
	if g.dev < g.o.Devices {
		return
	}
	g.dev = 0
	g.step++
	g.done = g.step >= g.o.Steps
}

// roundTo rounds v to k decimals.
func roundTo(v float64, k int) float64 {
	p := math.Pow10(k)
	return float64(int64(v*p+0.5*sign(v))) / p
}

func sign(v float64) float64 {
	if v < 0 {
		return -1
	}
	return 1
}
