package main

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/lightningdb/lightningdb/internal/mosquittotest"
)

// spMetric is one metric an edge node publishes. v is float64 (Double),
// int64 (Int64, DateTime), int32 (Int32), bool or string; nil for none.
type spMetric struct {
	name  string
	alias uint64 // 0: none
	dt    uint32 // 0: not sent (DATA messages)
	v     any
}

// spEncodePayload writes a Sparkplug B Payload as an edge node does
// (Tahu's sparkplug_b.proto field numbers), with protowire: timestamp 1,
// metrics 2, seq 3; Metric name 1, alias 2, datatype 4, int_value 10,
// long_value 11, double_value 13, boolean_value 14, string_value 15.
func spEncodePayload(ts uint64, seq int, ms ...spMetric) []byte {
	var p []byte
	p = protowire.AppendTag(p, 1, protowire.VarintType)
	p = protowire.AppendVarint(p, ts)
	for _, m := range ms {
		var b []byte
		if m.name != "" {
			b = protowire.AppendTag(b, 1, protowire.BytesType)
			b = protowire.AppendString(b, m.name)
		}
		if m.alias != 0 {
			b = protowire.AppendTag(b, 2, protowire.VarintType)
			b = protowire.AppendVarint(b, m.alias)
		}
		if m.dt != 0 {
			b = protowire.AppendTag(b, 4, protowire.VarintType)
			b = protowire.AppendVarint(b, uint64(m.dt))
		}
		switch v := m.v.(type) {
		case float64:
			b = protowire.AppendTag(b, 13, protowire.Fixed64Type)
			b = protowire.AppendFixed64(b, math.Float64bits(v))
		case int64:
			b = protowire.AppendTag(b, 11, protowire.VarintType)
			b = protowire.AppendVarint(b, uint64(v))
		case int32:
			b = protowire.AppendTag(b, 10, protowire.VarintType)
			b = protowire.AppendVarint(b, uint64(uint32(v)))
		case bool:
			b = protowire.AppendTag(b, 14, protowire.VarintType)
			b = protowire.AppendVarint(b, protowire.EncodeBool(v))
		case string:
			b = protowire.AppendTag(b, 15, protowire.BytesType)
			b = protowire.AppendString(b, v)
		}
		p = protowire.AppendTag(p, 2, protowire.BytesType)
		p = protowire.AppendBytes(p, b)
	}
	if seq >= 0 {
		p = protowire.AppendTag(p, 3, protowire.VarintType)
		p = protowire.AppendVarint(p, uint64(seq))
	}
	return p
}

// Sparkplug datatypes the edge node uses.
const (
	dtInt32   = 3
	dtInt64   = 4
	dtUInt64  = 8
	dtDouble  = 10
	dtBoolean = 11
	dtString  = 12
)

const spBase = uint64(1_700_000_000_000) // ms

// sparkplugEdgeNode plays edge node plant/edge1 with device pump1 against
// the broker at addr, as Eclipse Tahu's edge node does: an NDEATH will
// with bdSeq, NBIRTH with aliases, DBIRTH, DATA by alias only; then a
// seq gap, an unknown alias, a rebirth with a new alias mapping, DDEATH,
// a stale NDEATH (an earlier bdSeq), the NDEATH; and a host's STATE.
func sparkplugEdgeNode(t *testing.T, addr string) {
	t.Helper()
	const ns = "spBv1.0/plant/"
	bdSeq := spMetric{name: "bdSeq", dt: dtUInt64, v: int64(0)}
	o := paho.NewClientOptions().AddBroker("tcp://"+addr).SetClientID("edge1").SetCleanSession(true).
		SetAutoReconnect(false).SetBinaryWill(ns+"NDEATH/edge1", spEncodePayload(spBase, -1, bdSeq), 1, false)
	c := paho.NewClient(o)
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("edge node connect: %v", tok.Error())
	}
	defer c.Disconnect(100)
	pub := func(topic string, payload []byte) {
		t.Helper()
		if tok := c.Publish(ns+topic, 1, false, payload); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatalf("publish %s: %v", topic, tok.Error())
		}
	}
	ms := func(i uint64) uint64 { return spBase + i*1000 }
	pub("NBIRTH/edge1", spEncodePayload(ms(0), 0, bdSeq,
		spMetric{name: "Inputs/Temp", alias: 1, dt: dtDouble, v: 21.5},
		spMetric{name: "Counter", alias: 2, dt: dtInt64, v: int64(100)},
		spMetric{name: "Running", alias: 3, dt: dtBoolean, v: true}))
	pub("DBIRTH/edge1/pump1", spEncodePayload(ms(1), 1,
		spMetric{name: "rpm", alias: 10, dt: dtInt32, v: int32(-1200)},
		spMetric{name: "Status", alias: 11, dt: dtString, v: "ok"}))
	pub("NDATA/edge1", spEncodePayload(ms(2), 2, spMetric{alias: 1, v: 22.25}, spMetric{alias: 2, v: int64(101)}))
	pub("DDATA/edge1/pump1", spEncodePayload(ms(3), 3, spMetric{alias: 10, v: int32(1250)}))
	// seq 4 is lost: a gap.
	pub("NDATA/edge1", spEncodePayload(ms(5), 5, spMetric{alias: 1, v: 23.0}))
	// alias 77 was never born: skipped, alias 2 stored.
	pub("NDATA/edge1", spEncodePayload(ms(6), 6, spMetric{alias: 77, v: 1.0}, spMetric{alias: 2, v: int64(102)}))
	// Rebirth (as after an NCMD Node Control/Rebirth) with new aliases.
	pub("NBIRTH/edge1", spEncodePayload(ms(7), 0, bdSeq,
		spMetric{name: "Inputs/Temp", alias: 5, dt: dtDouble, v: 24.0},
		spMetric{name: "Counter", alias: 6, dt: dtInt64, v: int64(103)},
		spMetric{name: "Running", alias: 7, dt: dtBoolean, v: false}))
	pub("NDATA/edge1", spEncodePayload(ms(8), 1, spMetric{alias: 5, v: 25.0}, spMetric{alias: 6, v: int64(104)}, spMetric{alias: 7, v: true}))
	pub("DBIRTH/edge1/pump1", spEncodePayload(ms(9), 2,
		spMetric{name: "rpm", alias: 20, dt: dtInt32, v: int32(1300)},
		spMetric{name: "Status", alias: 21, dt: dtString, v: "ok"}))
	pub("DDATA/edge1/pump1", spEncodePayload(ms(10), 3, spMetric{alias: 20, v: int32(1310)}, spMetric{alias: 21, v: "degraded"}))
	pub("DDEATH/edge1/pump1", spEncodePayload(ms(11), 4))
	pub("NDEATH/edge1", spEncodePayload(ms(12), -1, spMetric{name: "bdSeq", dt: dtUInt64, v: int64(7)})) // stale: ignored
	pub("NDEATH/edge1", spEncodePayload(ms(12), -1, bdSeq))

	h := paho.NewClient(paho.NewClientOptions().AddBroker("tcp://" + addr).SetClientID("scada1"))
	if tok := h.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("host connect: %v", tok.Error())
	}
	defer h.Disconnect(100)
	if tok := h.Publish("spBv1.0/STATE/scada1", 1, true, `{"online":true,"timestamp":1700000000000}`); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("STATE: %v", tok.Error())
	}
}

// checkSparkplug waits until the server stored what sparkplugEdgeNode
// published and checks it value by value, with the presence series and
// the counters of source.
func checkSparkplug(t *testing.T, p *proc, source, filter string) {
	t.Helper()
	const node = `{db=mqtt,edge_node=edge1,group=plant}`
	const dev = `{db=mqtt,device=pump1,edge_node=edge1,group=plant}`
	e := waitExport(t, p, `{__name__=~"Inputs_Temp|Counter|Running|rpm|Status|bdSeq|sparkplug_.*"}`, func(e map[string]exported) bool {
		n := 0
		for _, s := range e {
			n += len(s.Values)
		}
		return n >= 29 // every sample below
	})
	ts := func(is ...int) string {
		var s []string
		for _, i := range is {
			b, _ := json.Marshal((spBase + uint64(i)*1000) * 1e6)
			s = append(s, string(b))
		}
		return "[" + strings.Join(s, ",") + "]"
	}
	for key, want := range map[string]string{
		`Inputs_Temp` + node: `{"type":"float","v":[21.5,22.25,23,24,25],"t":` + ts(0, 2, 5, 7, 8) + `}`,
		`Counter` + node:     `{"type":"integer","v":[100,101,102,103,104],"t":` + ts(0, 2, 6, 7, 8) + `}`,
		`Running` + node:     `{"type":"boolean","v":[true,false,true],"t":` + ts(0, 7, 8) + `}`,
		`bdSeq` + node:       `{"type":"unsigned","v":[0,0],"t":` + ts(0, 7) + `}`,
		`rpm` + dev:          `{"type":"integer","v":[-1200,1250,1300,1310],"t":` + ts(1, 3, 9, 10) + `}`,
		`Status` + dev:       `{"type":"string","v":["ok","ok","degraded"],"t":` + ts(1, 9, 10) + `}`,
	} {
		if got := values(t, e, key); got != want {
			t.Errorf("%s:\n got %s\nwant %s", key, got, want)
		}
	}
	// Presence: at the receive times; the stale NDEATH left no sample.
	for key, want := range map[string]string{
		`sparkplug_node_online` + node:                  `"v":[1,1,0]`,
		`sparkplug_device_online` + dev:                 `"v":[1,1,0]`,
		`sparkplug_host_online{db=mqtt,host_id=scada1}`: `"v":[1]`,
	} {
		if got := values(t, e, key); !strings.Contains(got, `"type":"float",`+want) {
			t.Errorf("%s: got %s, want %s", key, got, want)
		}
	}
	if len(e) != 9 {
		t.Errorf("exported %d series, want 9: %v", len(e), keysOf(e))
	}
	met := metricsText(t, p)
	for _, want := range []string{
		`lightningdb_mqtt_sparkplug_seq_gaps_total{source="` + source + `"} 1`,
		`lightningdb_mqtt_sparkplug_metrics_skipped_total{reason="unknown alias",source="` + source + `"} 1`,
		`lightningdb_mqtt_sparkplug_stale_deaths_total{source="` + source + `"} 1`,
		`lightningdb_mqtt_parse_errors_total{filter="` + filter + `",reason="unmapped payload",source="` + source + `"} 1`,
	} {
		if !strings.Contains(met, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	for _, want := range []string{"sparkplug sequence gap", "metric alias 77 is not defined by a BIRTH"} {
		if !strings.Contains(p.log.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, p.log)
		}
	}
}

func keysOf(e map[string]exported) []string {
	var ks []string
	for k := range e {
		ks = append(ks, k)
	}
	sortStrings(ks)
	return ks
}

// TestMQTTSparkplugEmbeddedBroker: with no topics configured, the
// embedded broker decodes spBv1.0/# as Sparkplug B. QoS 1 PUBACKs come
// after the commit, so the data is there when the edge node is done.
func TestMQTTSparkplugEmbeddedBroker(t *testing.T) {
	p := startServer(t, t.TempDir())
	sparkplugEdgeNode(t, mqttAddrOf(p))
	checkSparkplug(t, p, "broker", "spBv1.0/#")

	// An edge node without a will is served by the publish loop, which
	// decodes in its own goroutines: the aliases work there too.
	c := paho.NewClient(paho.NewClientOptions().AddBroker("tcp://" + mqttAddrOf(p)).SetClientID("edge2"))
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("edge2 connect: %v", tok.Error())
	}
	defer c.Disconnect(100)
	for _, m := range []struct {
		topic   string
		payload []byte
	}{
		{"spBv1.0/plant/NBIRTH/edge2", spEncodePayload(spBase, 0, spMetric{name: "Tank/Level", alias: 1, dt: dtDouble, v: 1.5})},
		{"spBv1.0/plant/NDATA/edge2", spEncodePayload(spBase+1000, 1, spMetric{alias: 1, v: 2.5})},
	} {
		if tok := c.Publish(m.topic, 1, false, m.payload); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatalf("publish %s: %v", m.topic, tok.Error())
		}
	}
	e := p.export(`Tank_Level`)
	if got, want := values(t, e, `Tank_Level{db=mqtt,edge_node=edge2,group=plant}`), `{"type":"float","v":[1.5,2.5],"t":[1700000000000000000,1700000001000000000]}`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

// TestMQTTSparkplugSubscriber: the server subscribes to a real mosquitto
// with a sparkplug rule (decoded in arrival order).
func TestMQTTSparkplugSubscriber(t *testing.T) {
	m := mosquittotest.Start(t)
	conf := subscriptionConfig(t, m, "ldb-sparkplug", "        - filter: spBv1.0/#\n          format: sparkplug\n")
	p := startServer(t, t.TempDir(), "--config", conf, "--mqtt-addr", "")
	waitFor(t, func() bool {
		return strings.Contains(metricsText(t, p), `lightningdb_mqtt_subscriber_connected{source="plant"} 1`)
	})
	sparkplugEdgeNode(t, m.Addr)
	checkSparkplug(t, p, "plant", "spBv1.0/#")
}
