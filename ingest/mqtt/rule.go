package mqtt

import (
	"errors"
	"fmt"
	"strings"
	"sync/atomic"

	"github.com/lightningdb/lightningdb/ingest/lineproto"
	"github.com/lightningdb/lightningdb/series"
)

// Rule maps the messages published on matching topics to series. The
// YAML tags are the server's configuration keys (docs/mqtt.md).
type Rule struct {
	// Filter is the MQTT topic filter, with + and # wildcards. In
	// subscriber mode it is what is subscribed to ("$share/<group>/..."
	// for a shared subscription). Default "#", or the filter of Template.
	Filter string `yaml:"filter"`
	// QoS is the subscription's QoS in subscriber mode (0, 1 or 2); nil
	// means 1 (needed for ack after commit). The embedded broker ignores it.
	QoS *int `yaml:"qos"`
	// Format is the payload format: "line" (InfluxDB line protocol, the
	// default), "json", "value" (one plain value per message) or
	// "sparkplug" (Sparkplug B protobuf on spBv1.0/... topics).
	Format string `yaml:"format"`
	// DB is the value of the db label; default Options.DB. "-" means no
	// db label.
	DB string `yaml:"db"`
	// Template takes the series name and tags from the topic levels for
	// the json and value formats; see Template.
	Template string `yaml:"template"`
	// Name is the measurement when neither the template nor the payload
	// names it (json and value formats).
	Name string `yaml:"name"`
	// Type forces the type of plain values: float, integer, unsigned,
	// boolean or string. Default: typed as a line protocol field value
	// (1.5 float, 3i integer, 3u unsigned, true boolean), anything else a
	// string.
	Type string `yaml:"type"`
	// Precision of line protocol timestamps: ns (default), us, ms, s.
	Precision string `yaml:"precision"`
	// JSON maps JSON payloads (format json).
	JSON JSONMapping `yaml:"json"`
	// UserPropertyLabels names the MQTT 5 user properties that become
	// labels of the message's series, under the property's name; a label
	// the topic or payload sets wins (docs/mqtt.md, "MQTT 5").
	UserPropertyLabels []string `yaml:"user_property_labels"`
	// Presence makes the rule's topics status topics: each payload
	// (online/offline, 1/0, ...) sets mqtt_client_connected of the client
	// the template's +client_id names (docs/mqtt.md, "Device presence").
	Presence bool `yaml:"presence"`
}

// Payload formats.
const (
	FormatLine  = "line"
	FormatJSON  = "json"
	FormatValue = "value"
)

// defaultRules are the rules of a source configured with none: Sparkplug
// B on its own namespace, line protocol on every other topic.
func defaultRules() []Rule {
	return []Rule{{Filter: SparkplugNamespace + "/#", Format: FormatSparkplug}, {Filter: "#"}}
}

// decoder appends the samples of one message to dst. It is safe for
// concurrent use. On a partial failure it adds what it could and returns
// an error wrapping one of the package's sentinels.
type decoder interface {
	decode(dst *series.Batch, topic string, payload []byte, now int64) error
}

// rule is a compiled Rule.
type rule struct {
	Rule
	qos  byte
	tmpl *Template
	dec  decoder
	m    atomic.Pointer[ruleMetrics] // set on first use (Ingestor.ruleMetrics)
	// v5 is what MQTT 5 properties do: decoders by content type, user
	// property labels (v5.go).
	v5 *ruleV5
}

// compileRule checks r, fills its defaults and builds its decoder.
func compileRule(r Rule, o *Options) (*rule, error) {
	c := &rule{Rule: r}
	var err error
	if r.Template != "" {
		if c.tmpl, err = ParseTemplate(r.Template); err != nil {
			return nil, err
		}
	}
	if c.Filter == "" {
		c.Filter = "#"
		if c.tmpl != nil {
			c.Filter = c.tmpl.Filter()
		}
	}
	if err := validFilter(c.Filter); err != nil {
		return nil, err
	}
	c.qos = 1
	if c.QoS != nil {
		if *c.QoS < 0 || *c.QoS > 2 {
			return nil, fmt.Errorf("rule %q: qos %d: want 0, 1 or 2", c.Filter, *c.QoS)
		}
		c.qos = byte(*c.QoS)
	}
	switch c.DB {
	case "":
		c.DB = o.DB
	case "-":
		c.DB = ""
	}
	if c.Presence {
		return compilePresence(c, o)
	}
	if c.Format == "" {
		c.Format = FormatLine
	}
	switch c.Format {
	case FormatLine:
		if c.tmpl != nil {
			return nil, fmt.Errorf("rule %q: a template applies to the json and value formats only", c.Filter)
		}
		prec, err := lineproto.ParsePrecision(c.Precision)
		if err != nil {
			return nil, fmt.Errorf("rule %q: %w", c.Filter, err)
		}
		c.dec = newLineDecoder(o.Lines, c.DB, prec)
	case FormatJSON:
		c.dec, err = newJSONDecoder(c, o)
	case FormatValue:
		c.dec, err = newValueDecoder(c, o)
	case FormatSparkplug:
		c.dec, err = newSparkplugDecoder(c, o)
	default:
		err = fmt.Errorf("format %q: want line, json, value or sparkplug", c.Format)
	}
	if err == nil {
		c.v5, err = compileV5(c, o)
	}
	if err != nil {
		return nil, fmt.Errorf("rule %q: %w", c.Filter, err)
	}
	return c, nil
}

// compileRules compiles every rule; with none, the defaultRules.
func compileRules(rs []Rule, o *Options) ([]*rule, error) {
	if len(rs) == 0 {
		rs = defaultRules()
	}
	out := make([]*rule, 0, len(rs))
	var errs []error
	for _, r := range rs {
		c, err := compileRule(r, o)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, c)
	}
	return out, errors.Join(errs...)
}

// matchRule returns the first rule whose filter matches topic, or nil.
func matchRule(rules []*rule, topic string) *rule {
	for _, r := range rules {
		if matchFilter(r.Filter, topic) {
			return r
		}
	}
	return nil
}

// nameBuilder assembles series names and labels from the topic template,
// the rule and the payload.
type nameBuilder struct {
	measurement, field string
	tags               []string // name, value pairs
}

func (n *nameBuilder) reset() {
	n.measurement, n.field, n.tags = "", "", n.tags[:0]
}

// fromTopic takes the captures of the rule's template.
func (n *nameBuilder) fromTopic(r *rule, topic string) error {
	if r.tmpl == nil {
		return nil
	}
	return r.tmpl.match(topic, func(name, value string) {
		switch name {
		case captureMeasurement:
			n.measurement = value
		case captureField:
			n.field = value
		default:
			n.tags = append(n.tags, name, value)
		}
	})
}

// metricName joins the measurement and field with sep; either may be empty.
func metricName(measurement, field, sep string) string {
	switch {
	case measurement == "":
		return field
	case field == "":
		return measurement
	}
	return measurement + sep + field
}

// addSeries opens a series named name with tags, extra tags and db in dst.
func addSeries(dst *series.Batch, b *series.Builder, name string, tags, extra []string, dbLabel, db string, typ series.ValueType) error {
	b.Reset()
	b.Add([]byte(series.MetricName), []byte(name))
	for i := 0; i+1 < len(tags); i += 2 {
		b.Add([]byte(tags[i]), []byte(tags[i+1]))
	}
	for i := 0; i+1 < len(extra); i += 2 {
		b.Add([]byte(extra[i]), []byte(extra[i+1]))
	}
	if db != "" && !hasTag(tags, dbLabel) && !hasTag(extra, dbLabel) {
		b.Add([]byte(dbLabel), []byte(db))
	}
	start := len(dst.LabelBuf())
	buf, err := b.AppendCanonical(dst.LabelBuf())
	if err != nil {
		return fmt.Errorf("%w: series %s: %v", ErrLabels, name, strings.TrimPrefix(err.Error(), "invalid labels: "))
	}
	dst.SetLabelBuf(buf)
	dst.AddBuilt(start, typ)
	return nil
}

func hasTag(tags []string, name string) bool {
	for i := 0; i+1 < len(tags); i += 2 {
		if tags[i] == name {
			return true
		}
	}
	return false
}
