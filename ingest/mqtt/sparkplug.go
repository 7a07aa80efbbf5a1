package mqtt

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/lightningdb/lightningdb/series"
)

// FormatSparkplug is the payload format of Sparkplug B (Eclipse Tahu
// protobuf payloads on spBv1.0/... topics); see sparkplugDecoder.
const FormatSparkplug = "sparkplug"

// SparkplugNamespace is the first topic level of every Sparkplug B topic.
const SparkplugNamespace = "spBv1.0"

// Limits on the state a sparkplugDecoder keeps, so that a client making
// up edge node or device names cannot grow it without bound.
const (
	maxSparkplugNodes   = 1 << 16 // edge nodes per rule
	maxSparkplugDevices = 1 << 12 // devices per edge node
	maxSparkplugDepth   = 8       // nested templates
)

// Series the sparkplug format writes besides the metrics (docs/mqtt.md).
const (
	spNodeOnline   = "sparkplug_node_online"
	spDeviceOnline = "sparkplug_device_online"
	spHostOnline   = "sparkplug_host_online"
)

// Label names as bytes, for series.Builder.
var (
	lblMetricName = []byte(series.MetricName)
	lblGroup      = []byte("group")
	lblEdgeNode   = []byte("edge_node")
	lblDevice     = []byte("device")
	lblRow        = []byte("row")
)

// Reasons a Sparkplug metric is not stored (the reason label of
// lightningdb_mqtt_sparkplug_metrics_skipped_total).
const (
	spSkipUnknownAlias = "unknown alias"
	spSkipUnsupported  = "unsupported type"
	spSkipNull         = "null"
	spSkipTransient    = "transient"
	spSkipBadValue     = "bad value"
)

// sparkplugDecoder maps Sparkplug B messages to series (docs/mqtt.md,
// "Sparkplug B"). Unlike the other formats it keeps state, per rule:
// each edge node's metric aliases and datatypes from its NBIRTH, each
// device's from its DBIRTH, the last sequence number and the bdSeq of the
// NBIRTH. A message's state changes and its samples are made under its
// edge node's lock, so messages of one edge node are decoded one at a time
// and in the order decode is called; the callers keep the order of one
// connection (mochi's hook and the publish loop read a connection's
// packets in order; the Subscriber decodes in arrival order).
type sparkplugDecoder struct {
	r       *rule
	dbLabel string
	dbName  []byte                  // r.DB
	hooks   atomic.Pointer[spHooks] // nil: no metrics or logs (tests)

	mu    sync.Mutex
	nodes map[string]*spNode // mu; key group + "\x00" + edge node

	scratch sync.Pool // *spScratch

	// Counters for tests and Stats-like reads.
	gaps, skipped, staleDeaths atomic.Int64
}

// spHooks are the Ingestor's metrics and log for one source.
type spHooks struct {
	source       string
	gaps         prometheus.Counter
	staleDeaths  prometheus.Counter
	skipped      *prometheus.CounterVec // reason
	log          *slog.Logger
	firstWarning func(key string) bool
}

func newSparkplugDecoder(r *rule, o *Options) (*sparkplugDecoder, error) {
	if r.tmpl != nil {
		return nil, fmt.Errorf("format sparkplug takes its names from the Sparkplug topic; remove the template")
	}
	d := &sparkplugDecoder{r: r, dbLabel: o.Lines.DBLabel, dbName: []byte(r.DB), nodes: map[string]*spNode{}}
	d.scratch.New = func() any { return new(spScratch) }
	return d, nil
}

// attach connects the decoder to the Ingestor's metrics and log.
func (d *sparkplugDecoder) attach(in *Ingestor, source string) {
	d.hooks.Store(&spHooks{source: source,
		gaps:         in.m.spSeqGaps.WithLabelValues(source),
		staleDeaths:  in.m.spStaleDeaths.WithLabelValues(source),
		skipped:      in.m.spSkipped.MustCurryWith(prometheus.Labels{"source": source}),
		log:          in.log.With("component", "sparkplug", "source", source),
		firstWarning: in.errLog.first,
	})
}

// spNode is the state of one edge node. mu protects it and its devices.
type spNode struct {
	mu          sync.Mutex
	defs        spDefs
	devices     map[string]*spDevice
	lastSeq     uint64
	hasSeq      bool
	bdSeq       uint64
	hasBdSeq    bool
	online      bool
	group, name string
}

// spDevice is the state of one device of an edge node.
type spDevice struct {
	defs   spDefs
	online bool
}

// spDefs are the metric definitions of a BIRTH: by alias and by name.
type spDefs struct {
	byAlias map[uint64]spDef
	byName  map[string]uint32 // datatype
}

type spDef struct {
	name     []byte
	datatype uint32
}

func (s *spDefs) reset() { s.byAlias, s.byName = nil, nil }

func (s *spDefs) define(m *spMetric) {
	if !m.hasName {
		return
	}
	if s.byName == nil {
		s.byAlias, s.byName = map[uint64]spDef{}, map[string]uint32{}
	}
	name := string(m.name)
	s.byName[name] = m.datatype
	if m.hasAlias {
		s.byAlias[m.alias] = spDef{name: []byte(name), datatype: m.datatype}
	}
}

// spScratch is the per-message working memory.
type spScratch struct {
	p                           spPayload
	b                           series.Builder
	name, row                   []byte
	group, node, device, dbName []byte // the message's label values
	dbLabel                     []byte
}

// spTopic is a parsed Sparkplug topic.
type spTopic struct {
	group, kind, node, device, host string
}

// parseSparkplugTopic splits spBv1.0/<group>/<type>/<edge node>[/<device>]
// and spBv1.0/STATE/<host id>.
func parseSparkplugTopic(topic string) (spTopic, error) {
	parts := strings.Split(topic, "/")
	if parts[0] != SparkplugNamespace {
		return spTopic{}, fmt.Errorf("%w: topic %q is not in the Sparkplug B namespace (%s/...)", ErrTopic, topic, SparkplugNamespace)
	}
	if len(parts) == 3 && parts[1] == "STATE" {
		if parts[2] == "" {
			return spTopic{}, fmt.Errorf("%w: sparkplug STATE topic %q has an empty host id", ErrTopic, topic)
		}
		return spTopic{kind: "STATE", host: parts[2]}, nil
	}
	if len(parts) < 4 {
		return spTopic{}, fmt.Errorf("%w: sparkplug topic %q: want %s/<group>/<message type>/<edge node>[/<device>]", ErrTopic, topic, SparkplugNamespace)
	}
	t := spTopic{group: parts[1], kind: parts[2], node: parts[3]}
	want := 4
	switch t.kind {
	case "NBIRTH", "NDATA", "NDEATH", "NCMD":
	case "DBIRTH", "DDATA", "DDEATH", "DCMD":
		want = 5
	default:
		return spTopic{}, fmt.Errorf("%w: sparkplug topic %q: message type %q: want NBIRTH, NDATA, NDEATH, NCMD, DBIRTH, DDATA, DDEATH or DCMD", ErrTopic, topic, t.kind)
	}
	if len(parts) != want {
		return spTopic{}, fmt.Errorf("%w: sparkplug %s topic %q has %d levels, want %d", ErrTopic, t.kind, topic, len(parts), want)
	}
	if want == 5 {
		t.device = parts[4]
	}
	for _, p := range parts[1:] {
		if p == "" {
			return spTopic{}, fmt.Errorf("%w: sparkplug topic %q has an empty level", ErrTopic, topic)
		}
	}
	return t, nil
}

func (d *sparkplugDecoder) decode(dst *series.Batch, topic string, payload []byte, now int64) error {
	t, err := parseSparkplugTopic(topic)
	if err != nil {
		return err
	}
	switch t.kind {
	case "STATE":
		return d.decodeState(dst, t, payload, now)
	case "NCMD", "DCMD": // commands to the edge node: not measurements
		return nil
	}
	sc := d.scratch.Get().(*spScratch)
	defer d.scratch.Put(sc)
	if err := unmarshalPayload(&sc.p, payload); err != nil {
		return fmt.Errorf("%w: sparkplug %s: %v", ErrSyntax, t.kind, err)
	}
	n, err := d.node(t.group, t.node)
	if err != nil {
		return err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	sc.group = append(sc.group[:0], t.group...)
	sc.node = append(sc.node[:0], t.node...)
	sc.device = append(sc.device[:0], t.device...)
	sc.dbLabel = append(sc.dbLabel[:0], d.dbLabel...)
	e := spEmitter{d: d, dst: dst, sc: sc, t: &t, now: now}
	switch t.kind {
	case "NBIRTH":
		return d.nbirth(&e, n)
	case "NDATA":
		d.checkSeq(n, &t, &sc.p)
		return e.metrics(&n.defs, false)
	case "NDEATH":
		return d.ndeath(&e, n)
	}
	d.checkSeq(n, &t, &sc.p)
	dev := n.devices[t.device]
	if dev == nil {
		if len(n.devices) >= maxSparkplugDevices {
			return fmt.Errorf("%w: sparkplug edge node %s/%s has %d devices, at most %d are tracked", ErrMapping, t.group, t.node, len(n.devices), maxSparkplugDevices)
		}
		dev = &spDevice{}
		n.devices[t.device] = dev
	}
	switch t.kind {
	case "DBIRTH":
		dev.defs.reset()
		for i := range sc.p.metrics {
			dev.defs.define(&sc.p.metrics[i])
		}
		dev.online = true
		err1 := e.presence(spDeviceOnline, 1)
		return joinFirst(err1, e.metrics(&dev.defs, true))
	case "DDATA":
		return e.metrics(&dev.defs, false)
	default: // DDEATH
		dev.defs.reset()
		dev.online = false
		return e.presence(spDeviceOnline, 0)
	}
}

// node returns the state of an edge node, creating it.
func (d *sparkplugDecoder) node(group, name string) (*spNode, error) {
	key := group + "\x00" + name
	d.mu.Lock()
	defer d.mu.Unlock()
	n := d.nodes[key]
	if n == nil {
		if len(d.nodes) >= maxSparkplugNodes {
			return nil, fmt.Errorf("%w: %d sparkplug edge nodes are tracked, at most %d", ErrMapping, len(d.nodes), maxSparkplugNodes)
		}
		n = &spNode{devices: map[string]*spDevice{}, group: group, name: name}
		d.nodes[key] = n
	}
	return n, nil
}

// nbirth resets the edge node: new aliases, devices to be born again,
// the sequence restarts at the NBIRTH's seq.
func (d *sparkplugDecoder) nbirth(e *spEmitter, n *spNode) error {
	p := &e.sc.p
	n.defs.reset()
	for _, dev := range n.devices {
		dev.defs.reset()
	}
	for i := range p.metrics {
		n.defs.define(&p.metrics[i])
	}
	n.lastSeq, n.hasSeq = p.seq%256, p.hasSeq
	n.bdSeq, n.hasBdSeq = bdSeqOf(p)
	n.online = true
	err := e.presence(spNodeOnline, 1)
	return joinFirst(err, e.metrics(&n.defs, true))
}

// ndeath marks the edge node and its devices offline, unless its bdSeq
// says it is the will of an earlier session (the node already reconnected
// and sent a new NBIRTH).
func (d *sparkplugDecoder) ndeath(e *spEmitter, n *spNode) error {
	if bd, ok := bdSeqOf(&e.sc.p); ok && n.hasBdSeq && bd != n.bdSeq {
		d.staleDeaths.Add(1)
		if h := d.hooks.Load(); h != nil {
			h.staleDeaths.Inc()
			h.log.Info("sparkplug NDEATH of an earlier session ignored", "group", n.group, "edge_node", n.name,
				"bdseq", bd, "birth_bdseq", n.bdSeq)
		}
		return nil
	}
	n.defs.reset()
	n.hasSeq, n.online = false, false
	err := e.presence(spNodeOnline, 0)
	for name, dev := range n.devices {
		dev.defs.reset()
		if dev.online {
			dev.online = false
			t := *e.t
			t.device = name
			e2 := *e
			e2.t = &t
			e.sc.device = append(e.sc.device[:0], name...)
			err = joinFirst(err, e2.presence(spDeviceOnline, 0))
		}
	}
	return err
}

// bdSeqOf returns the value of the payload's bdSeq metric.
func bdSeqOf(p *spPayload) (uint64, bool) {
	for i := range p.metrics {
		m := &p.metrics[i]
		if m.hasName && string(m.name) == "bdSeq" && (m.val.field == 10 || m.val.field == 11) {
			return m.val.bits, true
		}
	}
	return 0, false
}

// spRedeliveryWindow is how far behind the last seq a message may be and
// count as a redelivery rather than a gap.
const spRedeliveryWindow = 64

// checkSeq compares the payload's seq with the edge node's last one.
// Each message of an edge node after its NBIRTH carries the next number
// (0..255, wrapping). A number up to spRedeliveryWindow behind the last
// one (the last included) is a redelivery: a broker sending again what was
// not acknowledged, or a publisher resending after the publish loop closed
// its connection on overload; it is neither a gap nor does it move the
// count. Any other number is a gap, and the count goes on from it.
func (d *sparkplugDecoder) checkSeq(n *spNode, t *spTopic, p *spPayload) {
	if !p.hasSeq {
		return
	}
	seq := p.seq % 256
	if !n.hasSeq {
		n.lastSeq, n.hasSeq = seq, true
		return
	}
	if (n.lastSeq-seq)%256 < spRedeliveryWindow {
		return
	}
	if next := (n.lastSeq + 1) % 256; seq != next {
		d.gaps.Add(1)
		if h := d.hooks.Load(); h != nil {
			h.gaps.Inc()
			level := slog.LevelDebug
			if h.firstWarning("sparkplug seq\x00" + h.source + "\x00" + n.group + "\x00" + n.name) {
				level = slog.LevelWarn
			}
			h.log.Log(context.Background(), level, "sparkplug sequence gap: messages of the edge node were lost (further gaps of this node are logged at debug level)",
				"group", n.group, "edge_node", n.name, "message", t.kind, "expected", next, "got", seq)
		}
	}
	n.lastSeq = seq
}

// skip counts a metric that is not stored.
func (d *sparkplugDecoder) skip(reason string) {
	d.skipped.Add(1)
	if h := d.hooks.Load(); h != nil {
		h.skipped.WithLabelValues(reason).Inc()
	}
}

// decodeState stores a primary host application's STATE: the Sparkplug 3
// JSON {"online":true,"timestamp":...}, or the text ONLINE/OFFLINE of
// Sparkplug 2.2.
func (d *sparkplugDecoder) decodeState(dst *series.Batch, t spTopic, payload []byte, now int64) error {
	var online bool
	switch s := strings.TrimSpace(string(payload)); s {
	case "ONLINE":
		online = true
	case "OFFLINE":
	default:
		var st struct {
			Online *bool `json:"online"`
		}
		if err := json.Unmarshal(payload, &st); err != nil {
			return fmt.Errorf("%w: sparkplug STATE: %v", ErrSyntax, err)
		}
		if st.Online == nil {
			return fmt.Errorf("%w: sparkplug STATE: no \"online\" key", ErrMapping)
		}
		online = *st.Online
	}
	var b series.Builder
	b.Add([]byte(series.MetricName), []byte(spHostOnline))
	b.Add([]byte("host_id"), []byte(t.host))
	if d.r.DB != "" {
		b.Add([]byte(d.dbLabel), []byte(d.r.DB))
	}
	if err := openBuilt(dst, &b, series.TypeFloat); err != nil {
		return err
	}
	dst.AppendFloat(now, b2f(online))
	return nil
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// openBuilt opens the series of b in dst.
func openBuilt(dst *series.Batch, b *series.Builder, typ series.ValueType) error {
	start := len(dst.LabelBuf())
	buf, err := b.AppendCanonical(dst.LabelBuf())
	if err != nil {
		return fmt.Errorf("%w: %v", ErrLabels, strings.TrimPrefix(err.Error(), "invalid labels: "))
	}
	dst.SetLabelBuf(buf)
	dst.AddBuilt(start, typ)
	return nil
}

// joinFirst returns the first non-nil error.
func joinFirst(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// spEmitter writes the samples of one message.
type spEmitter struct {
	d   *sparkplugDecoder
	dst *series.Batch
	sc  *spScratch
	t   *spTopic
	now int64
	err error // the first problem
	bad int   // metrics not stored for an error
}

// fail records a metric not stored for err.
func (e *spEmitter) fail(reason string, err error) {
	if reason != "" {
		e.d.skip(reason)
	}
	e.bad++
	if e.err == nil {
		e.err = err
	}
}

// presence writes the online series of the topic's edge node or device
// at the receive time.
func (e *spEmitter) presence(name string, v float64) error {
	b := &e.sc.b
	b.Reset()
	b.Add(lblMetricName, []byte(name))
	e.addLabels(b)
	if err := openBuilt(e.dst, b, series.TypeFloat); err != nil {
		return err
	}
	e.dst.AppendFloat(e.now, v)
	return nil
}

// addLabels adds group, edge_node, device and db.
func (e *spEmitter) addLabels(b *series.Builder) {
	sc := e.sc
	b.Add(lblGroup, sc.group)
	b.Add(lblEdgeNode, sc.node)
	b.Add(lblDevice, sc.device) // skipped when empty
	b.Add(sc.dbLabel, e.d.dbName)
}

// metrics writes the payload's metrics; birth says the definitions come
// from this message.
func (e *spEmitter) metrics(defs *spDefs, birth bool) error {
	p := &e.sc.p
	for i := range p.metrics {
		m := &p.metrics[i]
		name, dt, ok := e.resolve(defs, m, birth)
		if !ok {
			continue
		}
		ts, err := e.timestamp(m.hasTime, m.timestamp, p.hasTime, p.timestamp)
		if err != nil {
			e.fail("", err)
			continue
		}
		e.metric(name, dt, m, ts, 0)
	}
	if e.err != nil {
		return fmt.Errorf("%w (sparkplug %s: %d of %d metrics not stored)", e.err, e.t.kind, e.bad, len(p.metrics))
	}
	return nil
}

// resolve finds the name and datatype of m: its own, or its alias's and
// name's from the BIRTH. A datatype known from neither is inferred from
// the value field.
func (e *spEmitter) resolve(defs *spDefs, m *spMetric, birth bool) ([]byte, uint32, bool) {
	name, dt, hasType := m.name, m.datatype, m.hasType
	switch {
	case m.hasName:
		if !hasType && !birth {
			dt, hasType = defs.byName[string(m.name)]
		}
	case m.hasAlias:
		def, ok := defs.byAlias[m.alias]
		if !ok {
			e.fail(spSkipUnknownAlias, fmt.Errorf("%w: sparkplug %s from %s/%s%s: metric alias %d is not defined by a BIRTH since this server started or since the last rebirth",
				ErrMapping, e.t.kind, e.t.group, e.t.node, devSuffix(e.t.device), m.alias))
			return nil, 0, false
		}
		name = def.name
		if !hasType {
			dt, hasType = def.datatype, true
		}
	default:
		e.fail(spSkipBadValue, fmt.Errorf("%w: sparkplug %s: a metric has neither name nor alias", ErrMapping, e.t.kind))
		return nil, 0, false
	}
	if !hasType || dt == spUnknown {
		dt = inferType(m.val.field)
	}
	return name, dt, true
}

func devSuffix(dev string) string {
	if dev == "" {
		return ""
	}
	return "/" + dev
}

// inferType maps a value field to a datatype, for metrics whose datatype
// is known from nowhere (a DATA of a node born before this server started).
func inferType(f protowire.Number) uint32 {
	switch f {
	case 10:
		return spInt32
	case 11:
		return spInt64
	case 12:
		return spFloat
	case 13:
		return spDouble
	case 14:
		return spBoolean
	case 15:
		return spString
	case 16:
		return spBytes
	case 17:
		return spDataSet
	case 18:
		return spTemplate
	}
	return spUnknown
}

// timestamp picks the metric's timestamp, else the payload's, else the
// receive time, in ns.
func (e *spEmitter) timestamp(hasM bool, m uint64, hasP bool, p uint64) (int64, error) {
	ms, ok := m, hasM
	if !ok {
		ms, ok = p, hasP
	}
	if !ok {
		return e.now, nil
	}
	if ms > uint64(series.MaxTimeMs) {
		return 0, fmt.Errorf("%w: sparkplug %s: timestamp %d ms is after %d ms", ErrTimestamp, e.t.kind, ms, series.MaxTimeMs)
	}
	return int64(ms) * 1e6, nil
}

// metric writes one metric (a DataSet as one series per column, a
// Template as one per member) named name.
func (e *spEmitter) metric(name []byte, dt uint32, m *spMetric, ts int64, depth int) {
	switch {
	case m.isNull:
		e.d.skip(spSkipNull)
		return
	case m.transient:
		e.d.skip(spSkipTransient)
		return
	case dt == spDataSet:
		e.dataSet(name, m, ts)
		return
	case dt == spTemplate:
		e.template(name, m, ts, depth)
		return
	}
	typ, raw, str, reason, err := spSample(dt, m.val)
	if reason != "" {
		if err != nil {
			e.fail(reason, fmt.Errorf("%w: sparkplug %s: metric %q: %v", ErrMapping, e.t.kind, cut(string(name)), err))
		} else {
			e.d.skip(reason)
		}
		return
	}
	e.sample(name, nil, typ, ts, raw, str)
}

// sample opens the series name{group,edge_node,device,db[,row]} and adds
// one value.
func (e *spEmitter) sample(name, row []byte, typ series.ValueType, ts int64, raw uint64, str []byte) {
	sc := e.sc
	sc.name = appendSanitized(sc.name[:0], name)
	b := &sc.b
	b.Reset()
	b.Add(lblMetricName, sc.name)
	e.addLabels(b)
	if row != nil {
		b.Add(lblRow, row)
	}
	if err := openBuilt(e.dst, b, typ); err != nil {
		e.fail("", fmt.Errorf("sparkplug metric %q: %w", cut(string(name)), err))
		return
	}
	if typ == series.TypeString {
		e.dst.AppendString(ts, str)
	} else {
		e.dst.AppendRaw(ts, raw)
	}
}

// dataSet writes a DataSet: column c of row r is a sample of the series
// <name>_<column c>{row="r"}.
func (e *spEmitter) dataSet(name []byte, m *spMetric, ts int64) {
	if m.val.field != 17 {
		e.fail(spSkipBadValue, fmt.Errorf("%w: sparkplug %s: DataSet metric %q has no dataset_value", ErrMapping, e.t.kind, cut(string(name))))
		return
	}
	ds, err := unmarshalDataSet(m.val.bytes)
	if err != nil {
		e.fail(spSkipBadValue, fmt.Errorf("%w: sparkplug %s: DataSet metric %q: %v", ErrSyntax, e.t.kind, cut(string(name)), err))
		return
	}
	col := make([]byte, 0, len(name)+16)
	for r, row := range ds.rows {
		rowLabel := strconv.AppendInt(e.sc.row[:0], int64(r), 10)
		for c, v := range row {
			if c >= len(ds.columns) {
				break
			}
			typ, raw, str, reason, err := spSample(ds.types[c], v)
			if reason != "" {
				if err != nil {
					e.fail(reason, fmt.Errorf("%w: sparkplug %s: DataSet %q column %q row %d: %v", ErrMapping, e.t.kind, cut(string(name)), cut(string(ds.columns[c])), r, err))
				} else {
					e.d.skip(reason)
				}
				continue
			}
			col = append(append(append(col[:0], name...), '_'), ds.columns[c]...)
			e.sample(col, rowLabel, typ, ts, raw, str)
		}
	}
}

// template writes a Template instance: member x of metric m is the
// series m_x (nested templates: m_x_y). Definitions (in a BIRTH) hold no
// values and are skipped.
func (e *spEmitter) template(name []byte, m *spMetric, ts int64, depth int) {
	if m.val.field != 18 {
		e.fail(spSkipBadValue, fmt.Errorf("%w: sparkplug %s: Template metric %q has no template_value", ErrMapping, e.t.kind, cut(string(name))))
		return
	}
	if depth >= maxSparkplugDepth {
		e.fail(spSkipBadValue, fmt.Errorf("%w: sparkplug %s: Template metric %q nests more than %d levels", ErrMapping, e.t.kind, cut(string(name)), maxSparkplugDepth))
		return
	}
	t, err := unmarshalTemplate(m.val.bytes)
	if err != nil {
		e.fail(spSkipBadValue, fmt.Errorf("%w: sparkplug %s: Template metric %q: %v", ErrSyntax, e.t.kind, cut(string(name)), err))
		return
	}
	if t.isDefinition {
		return
	}
	for i := range t.metrics {
		mm := &t.metrics[i]
		if !mm.hasName {
			e.fail(spSkipBadValue, fmt.Errorf("%w: sparkplug %s: member %d of Template %q has no name", ErrMapping, e.t.kind, i, cut(string(name))))
			continue
		}
		mts := ts
		if mm.hasTime {
			if mts, err = e.timestamp(true, mm.timestamp, false, 0); err != nil {
				e.fail("", err)
				continue
			}
		}
		dt := mm.datatype
		if !mm.hasType || dt == spUnknown {
			dt = inferType(mm.val.field)
		}
		member := append(append(append(make([]byte, 0, len(name)+1+len(mm.name)), name...), '/'), mm.name...)
		e.metric(member, dt, mm, mts, depth+1)
	}
}

// spSample converts a value of datatype dt. A non-empty reason means it
// is not stored; err says why when that is the sender's fault.
func spSample(dt uint32, v spValue) (typ series.ValueType, raw uint64, str []byte, reason string, err error) {
	isInt := v.field == 10 || v.field == 11
	switch dt {
	case spInt8, spInt16, spInt32, spInt64, spUInt8, spUInt16, spUInt32, spDateTime:
		if !isInt {
			break
		}
		var i int64
		switch dt {
		case spInt8:
			i = int64(int8(v.bits))
		case spInt16:
			i = int64(int16(v.bits))
		case spInt32:
			i = int64(int32(v.bits))
		case spUInt8:
			i = int64(uint8(v.bits))
		case spUInt16:
			i = int64(uint16(v.bits))
		case spUInt32:
			i = int64(uint32(v.bits))
		default: // Int64, DateTime (ms)
			i = int64(v.bits)
		}
		return series.TypeInt, uint64(i), nil, "", nil
	case spUInt64:
		if isInt {
			return series.TypeUint, v.bits, nil, "", nil
		}
	case spFloat, spDouble:
		switch v.field {
		case 12:
			return series.TypeFloat, math.Float64bits(float64(math.Float32frombits(uint32(v.bits)))), nil, "", nil
		case 13:
			return series.TypeFloat, v.bits, nil, "", nil
		}
	case spBoolean:
		if v.field == 14 {
			return series.TypeBool, series.BoolBits(v.bits != 0), nil, "", nil
		}
	case spString, spText, spUUID:
		if v.field == 15 {
			if !utf8.Valid(v.bytes) {
				return 0, 0, nil, spSkipBadValue, fmt.Errorf("string value is not UTF-8")
			}
			return series.TypeString, 0, v.bytes, "", nil
		}
	default: // Bytes, File, PropertySet(List), arrays, Unknown
		return 0, 0, nil, spSkipUnsupported, nil
	}
	if v.field == 0 {
		return 0, 0, nil, spSkipBadValue, fmt.Errorf("datatype %d but no value", dt)
	}
	return 0, 0, nil, spSkipBadValue, fmt.Errorf("datatype %d but value field %d", dt, v.field)
}

// appendSanitized appends name with every character other than ASCII
// letters, digits, '_' and ':' replaced by one '_' (a leading digit gets a
// '_' before it), so that Sparkplug names such as "Inputs/Temperature" or
// "Node Control/Rebirth" are PromQL identifiers.
func appendSanitized(dst, name []byte) []byte {
	if len(name) > 0 && name[0] >= '0' && name[0] <= '9' {
		dst = append(dst, '_')
	}
	for i := 0; i < len(name); {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_', c == ':':
			dst = append(dst, c)
			i++
		case c < utf8.RuneSelf:
			dst = append(dst, '_')
			i++
		default:
			_, n := utf8.DecodeRune(name[i:])
			dst = append(dst, '_')
			i += n
		}
	}
	return dst
}
