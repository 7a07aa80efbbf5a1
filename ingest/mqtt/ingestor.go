package mqtt

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lightningdb/lightningdb/ingest"
	"github.com/lightningdb/lightningdb/ingest/lineproto"
	"github.com/lightningdb/lightningdb/series"
)

// Options configures an Ingestor.
type Options struct {
	// DB is the db label of rules that set none. Default "mqtt".
	DB string
	// Lines holds the line protocol options (metric name separator, db
	// label name, line length); zero fields take lineproto's defaults.
	Lines lineproto.Options
	// Linger is how long the committer waits after the first message of
	// a batch for more to join it. Default 0: batches form while earlier
	// appends wait for their fsync, which already groups the messages of
	// many connections.
	Linger time.Duration
	// MaxBatchSamples ends the linger once a batch holds that many
	// samples. Default 65,536.
	MaxBatchSamples int
	// MaxInFlight is how many appends may wait for the WAL at once.
	// Default 2 (one fsyncing, one queued).
	MaxInFlight int
	// Registerer gets the metrics; nil means none.
	Registerer prometheus.Registerer
	// Logger gets one warning per new class of error; nil means none.
	Logger *slog.Logger
}

// DefaultOptions returns the defaults described on Options.
func DefaultOptions() Options {
	return Options{DB: "mqtt", Lines: lineproto.DefaultOptions(), MaxBatchSamples: 1 << 16, MaxInFlight: 2}
}

func (o *Options) fill() {
	def := DefaultOptions()
	if o.DB == "" {
		o.DB = def.DB
	}
	if o.Lines.Separator == "" {
		o.Lines.Separator = def.Lines.Separator
	}
	if o.Lines.DBLabel == "" {
		o.Lines.DBLabel = def.Lines.DBLabel
	}
	if o.MaxBatchSamples <= 0 {
		o.MaxBatchSamples = def.MaxBatchSamples
	}
	if o.MaxInFlight <= 0 {
		o.MaxInFlight = def.MaxInFlight
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Ingestor turns MQTT messages into durable samples for the embedded
// Broker and for Subscribers: it decodes each message by its topic's rule,
// stores it through a shared committer (one Append for the messages of
// many connections), and counts everything. It is safe for concurrent use.
// Run must be running while messages are handled.
type Ingestor struct {
	opts   Options
	c      *committer
	m      *metrics
	cnt    counters
	errLog errorLog
	log    *slog.Logger
	pool   sync.Pool // *series.Batch
}

// New returns an Ingestor that stores into app.
func New(app ingest.Appender, opts Options) (*Ingestor, error) {
	opts.fill()
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, fmt.Errorf("mqtt metrics: %w", err)
	}
	in := &Ingestor{opts: opts, m: m, log: slog.New(newSafeHandler(opts.Logger.Handler(), time.Now)),
		c: newCommitter(app, opts.Linger, opts.MaxBatchSamples, opts.MaxInFlight)}
	in.pool.New = func() any { return new(series.Batch) }
	return in, nil
}

// Run appends batches until ctx ends, then appends what is pending.
func (in *Ingestor) Run(ctx context.Context) { in.c.run(ctx) }

// Stats returns the counters summed over every source.
func (in *Ingestor) Stats() Stats { return in.cnt.stats() }

// source is one origin of messages with its rules: the broker or one
// subscription. It caches its metric series, so a message costs no label
// lookup; each is created on first use, so /metrics shows only the
// series that happened.
type source struct {
	name  string
	rules []*rule
	ack   [3]atomic.Pointer[prometheus.Observer] // by QoS
}

// ruleMetrics are the cached series of one rule of one source.
type ruleMetrics struct {
	messages, samples prometheus.Counter
}

func (in *Ingestor) ruleMetrics(src *source, r *rule) *ruleMetrics {
	if m := r.m.Load(); m != nil {
		return m
	}
	m := &ruleMetrics{messages: in.m.messages.WithLabelValues(src.name, r.Filter),
		samples: in.m.samples.WithLabelValues(src.name, r.Filter)}
	r.m.Store(m)
	return m
}

func (in *Ingestor) ackObserver(src *source, qos byte) prometheus.Observer {
	if qos > 2 {
		qos = 2
	}
	if o := src.ack[qos].Load(); o != nil {
		return *o
	}
	o := in.m.ackLatency.WithLabelValues(src.name, strconv.Itoa(int(qos)))
	src.ack[qos].Store(&o)
	return o
}

func (in *Ingestor) newSource(name string, rules []Rule) (*source, error) {
	rs, err := compileRules(rules, &in.opts)
	if err != nil {
		return nil, err
	}
	for _, r := range rs {
		if d, ok := r.dec.(*sparkplugDecoder); ok {
			d.attach(in, name)
		}
	}
	return &source{name: name, rules: rs}, nil
}

// outcome is what became of one message.
type outcome struct {
	stored   int   // samples stored
	parseErr error // the payload (or part of it) could not be mapped; ack anyway
	failErr  error // nothing stored because storage failed: do not ack
}

// handle decodes and stores one message and returns once the samples are
// durable (or could not be stored). now is the receive time, the timestamp
// of samples that carry none.
func (in *Ingestor) handle(ctx context.Context, src *source, topic string, payload []byte, now time.Time) outcome {
	return in.handleProps(ctx, src, topic, payload, now, nil)
}

// handleProps is handle for a message with MQTT 5 properties (nil: none).
func (in *Ingestor) handleProps(ctx context.Context, src *source, topic string, payload []byte, now time.Time, p *msgProps) outcome {
	m := in.decodeMessage(src, topic, payload, now, p)
	defer in.releaseMessage(&m)
	return in.storeMessage(ctx, src, topic, &m)
}

// decodedMsg is a message decoded by its rule, waiting for storeMessage.
// b is nil when no rule matched.
type decodedMsg struct {
	r        *rule
	rm       *ruleMetrics
	b        *series.Batch // from in.pool; releaseMessage returns it
	parseErr error
}

// decodeMessage decodes one message (p: its MQTT 5 properties, nil when
// none) into a batch of its own. Stateful formats (sparkplug) see
// messages in the order decodeMessage is called.
func (in *Ingestor) decodeMessage(src *source, topic string, payload []byte, now time.Time, p *msgProps) decodedMsg {
	in.cnt.messages.Add(1)
	r := matchRule(src.rules, topic)
	if r == nil {
		err := fmt.Errorf("%w %q", ErrNoRule, topic)
		in.parseError(src, "", topic, err)
		return decodedMsg{parseErr: err}
	}
	m := decodedMsg{r: r, rm: in.ruleMetrics(src, r), b: in.pool.Get().(*series.Batch)}
	m.rm.messages.Inc()
	if err := in.decode(r, m.b, topic, payload, now, p); err != nil {
		m.parseErr = err
		in.parseError(src, r.Filter, topic, err)
	}
	return m
}

// storeMessage stores a decoded message and returns once its samples are
// durable (or could not be stored). It may be called again after a
// failure: the batch is copied, not consumed.
func (in *Ingestor) storeMessage(ctx context.Context, src *source, topic string, m *decodedMsg) outcome {
	o := outcome{parseErr: m.parseErr}
	if m.b == nil || m.b.Len() == 0 {
		return o
	}
	res := in.c.submit(ctx, m.b)
	if res.err != nil {
		o.failErr = res.err
		in.failure(src, topic, res.err)
		return o
	}
	return in.settle(src, m.r, m.rm, topic, res, m.parseErr)
}

// releaseMessage returns the message's batch to the pool.
func (in *Ingestor) releaseMessage(m *decodedMsg) {
	if m.b != nil {
		m.b.Reset()
		in.pool.Put(m.b)
		m.b = nil
	}
}

// decode decodes a message by its rule into b: by the decoder its MQTT 5
// content type selects, with the user properties the rule takes as
// labels.
func (in *Ingestor) decode(r *rule, b *series.Batch, topic string, payload []byte, now time.Time, p *msgProps) error {
	if p == nil || r.v5 == nil {
		return r.dec.decode(b, topic, payload, now.UnixNano())
	}
	dec, err := r.v5.decoder(r, p, payload)
	if err != nil {
		return err
	}
	extra := r.v5.userLabels(p)
	if len(extra) == 0 {
		return dec.decode(b, topic, payload, now.UnixNano())
	}
	tmp := in.pool.Get().(*series.Batch)
	defer func() { tmp.Reset(); in.pool.Put(tmp) }()
	err = dec.decode(tmp, topic, payload, now.UnixNano())
	if lerr := addLabels(b, tmp, extra); err == nil {
		err = lerr
	}
	return err
}

// settle counts what storage did with a message's samples and returns its
// outcome: parseErr, or the refusal when storage refused some samples.
func (in *Ingestor) settle(src *source, r *rule, rm *ruleMetrics, topic string, res result, parseErr error) outcome {
	o := outcome{stored: res.accepted, parseErr: parseErr}
	in.cnt.samples.Add(int64(res.accepted))
	rm.samples.Add(float64(res.accepted))
	if res.rejected > 0 {
		in.cnt.rejected.Add(int64(res.rejected))
		err := fmt.Errorf("%w: %d samples: %w", ErrRejected, res.rejected, res.rejErr)
		if o.parseErr == nil {
			o.parseErr = err
		}
		in.parseError(src, r.Filter, topic, err)
	}
	return o
}

func (in *Ingestor) parseError(src *source, filter, topic string, err error) {
	in.cnt.parseErrors.Add(1)
	reason := reasonOf(err)
	in.m.parseErrors.WithLabelValues(src.name, filter, reason).Inc()
	level := slog.LevelDebug
	if in.errLog.first(src.name + "\x00" + filter + "\x00" + reason) {
		level = slog.LevelWarn
	}
	in.log.Log(context.Background(), level, "mqtt message not stored (acknowledged; further errors of this kind are logged at debug level)",
		"source", src.name, "filter", filter, "topic", topic, "reason", reason, "err", err)
}

func (in *Ingestor) failure(src *source, topic string, err error) {
	in.cnt.failed.Add(1)
	reason := "error"
	if errors.Is(err, series.ErrOverloaded) {
		reason = "overloaded"
	} else if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		reason = "shutdown"
	}
	in.m.failed.WithLabelValues(src.name, reason).Inc()
	level := slog.LevelDebug
	if in.errLog.first(src.name + "\x00fail\x00" + reason) {
		level = slog.LevelWarn
	}
	in.log.Log(context.Background(), level, "mqtt message not stored and not acknowledged; the client must send it again",
		"source", src.name, "topic", topic, "reason", reason, "err", err)
}

// observeAck records the time from receipt to acknowledgement.
func (in *Ingestor) observeAck(src *source, qos byte, since time.Time) {
	in.cnt.acked.Add(1)
	in.ackObserver(src, qos).Observe(time.Since(since).Seconds())
}
