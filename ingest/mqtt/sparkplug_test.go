package mqtt

import (
	"math"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/lightningdb/lightningdb/series"
)

// sparkplugProtoText is Eclipse Tahu's sparkplug_b.proto (the messages
// and fields the tests use) as a FileDescriptorProto, written from the
// .proto file independently of the decoder. The test payloads are built
// from JSON by protojson and encoded by proto.Marshal through dynamicpb:
// the decoder is checked against the reference protobuf implementation,
// not against an encoder of our own.
const sparkplugProtoText = `
name: "sparkplug_b.proto"
package: "org.eclipse.tahu.protobuf"
message_type {
  name: "Payload"
  field { name: "timestamp" number: 1 label: LABEL_OPTIONAL type: TYPE_UINT64 }
  field { name: "metrics" number: 2 label: LABEL_REPEATED type: TYPE_MESSAGE type_name: ".org.eclipse.tahu.protobuf.Payload.Metric" }
  field { name: "seq" number: 3 label: LABEL_OPTIONAL type: TYPE_UINT64 }
  field { name: "uuid" number: 4 label: LABEL_OPTIONAL type: TYPE_STRING }
  field { name: "body" number: 5 label: LABEL_OPTIONAL type: TYPE_BYTES }
  nested_type {
    name: "Template"
    field { name: "version" number: 1 label: LABEL_OPTIONAL type: TYPE_STRING }
    field { name: "metrics" number: 2 label: LABEL_REPEATED type: TYPE_MESSAGE type_name: ".org.eclipse.tahu.protobuf.Payload.Metric" }
    field { name: "parameters" number: 3 label: LABEL_REPEATED type: TYPE_MESSAGE type_name: ".org.eclipse.tahu.protobuf.Payload.Template.Parameter" }
    field { name: "template_ref" number: 4 label: LABEL_OPTIONAL type: TYPE_STRING }
    field { name: "is_definition" number: 5 label: LABEL_OPTIONAL type: TYPE_BOOL }
    nested_type {
      name: "Parameter"
      field { name: "name" number: 1 label: LABEL_OPTIONAL type: TYPE_STRING }
      field { name: "type" number: 2 label: LABEL_OPTIONAL type: TYPE_UINT32 }
      field { name: "int_value" number: 3 label: LABEL_OPTIONAL type: TYPE_UINT32 oneof_index: 0 }
      field { name: "string_value" number: 8 label: LABEL_OPTIONAL type: TYPE_STRING oneof_index: 0 }
      oneof_decl { name: "value" }
    }
  }
  nested_type {
    name: "DataSet"
    field { name: "num_of_columns" number: 1 label: LABEL_OPTIONAL type: TYPE_UINT64 }
    field { name: "columns" number: 2 label: LABEL_REPEATED type: TYPE_STRING }
    field { name: "types" number: 3 label: LABEL_REPEATED type: TYPE_UINT32 }
    field { name: "rows" number: 4 label: LABEL_REPEATED type: TYPE_MESSAGE type_name: ".org.eclipse.tahu.protobuf.Payload.DataSet.Row" }
    nested_type {
      name: "DataSetValue"
      field { name: "int_value" number: 1 label: LABEL_OPTIONAL type: TYPE_UINT32 oneof_index: 0 }
      field { name: "long_value" number: 2 label: LABEL_OPTIONAL type: TYPE_UINT64 oneof_index: 0 }
      field { name: "float_value" number: 3 label: LABEL_OPTIONAL type: TYPE_FLOAT oneof_index: 0 }
      field { name: "double_value" number: 4 label: LABEL_OPTIONAL type: TYPE_DOUBLE oneof_index: 0 }
      field { name: "boolean_value" number: 5 label: LABEL_OPTIONAL type: TYPE_BOOL oneof_index: 0 }
      field { name: "string_value" number: 6 label: LABEL_OPTIONAL type: TYPE_STRING oneof_index: 0 }
      oneof_decl { name: "value" }
    }
    nested_type {
      name: "Row"
      field { name: "elements" number: 1 label: LABEL_REPEATED type: TYPE_MESSAGE type_name: ".org.eclipse.tahu.protobuf.Payload.DataSet.DataSetValue" }
    }
  }
  nested_type {
    name: "PropertyValue"
    field { name: "type" number: 1 label: LABEL_OPTIONAL type: TYPE_UINT32 }
    field { name: "is_null" number: 2 label: LABEL_OPTIONAL type: TYPE_BOOL }
    field { name: "int_value" number: 3 label: LABEL_OPTIONAL type: TYPE_UINT32 oneof_index: 0 }
    field { name: "string_value" number: 8 label: LABEL_OPTIONAL type: TYPE_STRING oneof_index: 0 }
    oneof_decl { name: "value" }
  }
  nested_type {
    name: "PropertySet"
    field { name: "keys" number: 1 label: LABEL_REPEATED type: TYPE_STRING }
    field { name: "values" number: 2 label: LABEL_REPEATED type: TYPE_MESSAGE type_name: ".org.eclipse.tahu.protobuf.Payload.PropertyValue" }
  }
  nested_type {
    name: "MetaData"
    field { name: "is_multi_part" number: 1 label: LABEL_OPTIONAL type: TYPE_BOOL }
    field { name: "content_type" number: 2 label: LABEL_OPTIONAL type: TYPE_STRING }
  }
  nested_type {
    name: "Metric"
    field { name: "name" number: 1 label: LABEL_OPTIONAL type: TYPE_STRING }
    field { name: "alias" number: 2 label: LABEL_OPTIONAL type: TYPE_UINT64 }
    field { name: "timestamp" number: 3 label: LABEL_OPTIONAL type: TYPE_UINT64 }
    field { name: "datatype" number: 4 label: LABEL_OPTIONAL type: TYPE_UINT32 }
    field { name: "is_historical" number: 5 label: LABEL_OPTIONAL type: TYPE_BOOL }
    field { name: "is_transient" number: 6 label: LABEL_OPTIONAL type: TYPE_BOOL }
    field { name: "is_null" number: 7 label: LABEL_OPTIONAL type: TYPE_BOOL }
    field { name: "metadata" number: 8 label: LABEL_OPTIONAL type: TYPE_MESSAGE type_name: ".org.eclipse.tahu.protobuf.Payload.MetaData" }
    field { name: "properties" number: 9 label: LABEL_OPTIONAL type: TYPE_MESSAGE type_name: ".org.eclipse.tahu.protobuf.Payload.PropertySet" }
    field { name: "int_value" number: 10 label: LABEL_OPTIONAL type: TYPE_UINT32 oneof_index: 0 }
    field { name: "long_value" number: 11 label: LABEL_OPTIONAL type: TYPE_UINT64 oneof_index: 0 }
    field { name: "float_value" number: 12 label: LABEL_OPTIONAL type: TYPE_FLOAT oneof_index: 0 }
    field { name: "double_value" number: 13 label: LABEL_OPTIONAL type: TYPE_DOUBLE oneof_index: 0 }
    field { name: "boolean_value" number: 14 label: LABEL_OPTIONAL type: TYPE_BOOL oneof_index: 0 }
    field { name: "string_value" number: 15 label: LABEL_OPTIONAL type: TYPE_STRING oneof_index: 0 }
    field { name: "bytes_value" number: 16 label: LABEL_OPTIONAL type: TYPE_BYTES oneof_index: 0 }
    field { name: "dataset_value" number: 17 label: LABEL_OPTIONAL type: TYPE_MESSAGE type_name: ".org.eclipse.tahu.protobuf.Payload.DataSet" oneof_index: 0 }
    field { name: "template_value" number: 18 label: LABEL_OPTIONAL type: TYPE_MESSAGE type_name: ".org.eclipse.tahu.protobuf.Payload.Template" oneof_index: 0 }
    oneof_decl { name: "value" }
  }
}
`

var spPayloadDesc = sync.OnceValue(func() protoreflect.MessageDescriptor {
	var fdp descriptorpb.FileDescriptorProto
	if err := prototext.Unmarshal([]byte(sparkplugProtoText), &fdp); err != nil {
		panic(err)
	}
	fd, err := protodesc.NewFile(&fdp, nil)
	if err != nil {
		panic(err)
	}
	return fd.Messages().ByName("Payload")
})

// spEncode encodes a Payload given in protojson form.
func spEncode(t testing.TB, js string) []byte {
	t.Helper()
	m := dynamicpb.NewMessage(spPayloadDesc())
	require.NoError(t, protojson.Unmarshal([]byte(js), m), js)
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	require.NoError(t, err)
	return b
}

// spNow is the receive time of the messages of the tests.
const spNow = now + 7e9

// spHarness feeds messages through one sparkplug rule, keeping its state.
type spHarness struct {
	t testing.TB
	r *rule
}

func newSPHarness(t testing.TB) *spHarness {
	o := DefaultOptions()
	o.fill()
	r, err := compileRule(Rule{Filter: "spBv1.0/#", Format: FormatSparkplug}, &o)
	require.NoError(t, err)
	return &spHarness{t: t, r: r}
}

func (h *spHarness) dec() *sparkplugDecoder { return h.r.dec.(*sparkplugDecoder) }

// send decodes one message and returns its samples as sorted text:
// labels@ts=type:value, with ts in ms.
func (h *spHarness) send(topic string, payload []byte) ([]string, error) {
	var b series.Batch
	err := h.r.dec.decode(&b, topic, payload, spNow)
	require.NoError(h.t, b.Validate())
	return renderBatch(h.t, &b), err
}

func renderBatch(t testing.TB, b *series.Batch) []string {
	var out []string
	for i := 0; i < b.Len(); i++ {
		canon, typ, ts, vals := b.Series(i)
		ls, err := series.UnmarshalLabels(nil, canon)
		require.NoError(t, err)
		for j := range ts {
			var v string
			switch typ {
			case series.TypeString:
				v = strconv.Quote(string(b.Str(vals[j])))
			case series.TypeInt:
				v = strconv.FormatInt(int64(vals[j]), 10)
			case series.TypeUint:
				v = strconv.FormatUint(vals[j], 10)
			case series.TypeBool:
				v = strconv.FormatBool(vals[j] != 0)
			default:
				v = strconv.FormatFloat(math.Float64frombits(vals[j]), 'g', -1, 64)
			}
			at := "now"
			if ts[j] != spNow {
				at = strconv.FormatInt(ts[j]/1e6, 10)
			}
			out = append(out, strings.ReplaceAll(ls.String(), `"`, "")+"@"+at+"="+typ.String()+":"+v)
		}
	}
	sort.Strings(out)
	return out
}

// spAllTypes is an NBIRTH with a metric of every datatype (and the
// Tahu variants of the integer encodings), aliases 1...
const spAllTypes = `{"timestamp":"1700000000000","seq":"0","metrics":[
 {"name":"bdSeq","datatype":4,"longValue":"3"},
 {"name":"i8","alias":"1","datatype":1,"intValue":4294967168},
 {"name":"i8b","alias":"2","datatype":1,"intValue":255},
 {"name":"i16","alias":"3","datatype":2,"intValue":4294934528},
 {"name":"i32","alias":"4","datatype":3,"intValue":2147483648},
 {"name":"i64","alias":"5","datatype":4,"longValue":"18446744073709551615"},
 {"name":"u8","alias":"6","datatype":5,"intValue":255},
 {"name":"u16","alias":"7","datatype":6,"intValue":65535},
 {"name":"u32","alias":"8","datatype":7,"longValue":"4294967295"},
 {"name":"u32i","alias":"9","datatype":7,"intValue":4294967295},
 {"name":"u64","alias":"10","datatype":8,"longValue":"18446744073709551615"},
 {"name":"f","alias":"11","datatype":9,"floatValue":0.1},
 {"name":"f2","alias":"12","datatype":9,"floatValue":21.5},
 {"name":"d","alias":"13","datatype":10,"doubleValue":3.141592653589793},
 {"name":"b","alias":"14","datatype":11,"booleanValue":true},
 {"name":"s","alias":"15","datatype":12,"stringValue":"héllo"},
 {"name":"dt","alias":"16","datatype":13,"longValue":"1700000000123"},
 {"name":"text","alias":"17","datatype":14,"stringValue":"a text"},
 {"name":"uuid","alias":"18","datatype":15,"stringValue":"0d3a9c4e-61f2-4b53-9a0e-2c3b0c6a1f00"},
 {"name":"raw","alias":"19","datatype":17,"bytesValue":"AAEC"},
 {"name":"file","alias":"20","datatype":18,"bytesValue":"AAEC"},
 {"name":"arr","alias":"26","datatype":24,"bytesValue":"AQAAAAIAAAA="},
 {"name":"props","alias":"27","datatype":20},
 {"name":"nul","alias":"21","datatype":10,"isNull":true},
 {"name":"tr","alias":"22","datatype":10,"isTransient":true,"doubleValue":1},
 {"name":"Inputs/Temp °C","alias":"23","datatype":10,"doubleValue":-40,"timestamp":"1700000000500",
  "properties":{"keys":["Quality"],"values":[{"type":3,"intValue":192}]},"metadata":{"contentType":"x"}},
 {"name":"ds","alias":"24","datatype":16,"datasetValue":{"numOfColumns":"2","columns":["a","b c"],"types":[3,12],
  "rows":[{"elements":[{"intValue":4294967295},{"stringValue":"x"}]},{"elements":[{"intValue":2},{"stringValue":"y"}]}]}},
 {"name":"MotorDef","datatype":19,"templateValue":{"isDefinition":true,"metrics":[{"name":"Speed","datatype":10,"doubleValue":0}]}},
 {"name":"Motor 1","alias":"25","datatype":19,"templateValue":{"templateRef":"MotorDef","parameters":[{"name":"p","type":3,"intValue":1}],"metrics":[
   {"name":"Speed","datatype":10,"doubleValue":1500.5},
   {"name":"State/Running","datatype":11,"booleanValue":true},
   {"name":"Sub","datatype":19,"templateValue":{"metrics":[{"name":"x","datatype":3,"intValue":7,"timestamp":"1700000000900"}]}}]}}
]}`

func TestSparkplugDatatypes(t *testing.T) {
	h := newSPHarness(t)
	got, err := h.send("spBv1.0/g1/NBIRTH/n1", spEncode(t, spAllTypes))
	require.NoError(t, err)
	const l = `{db=mqtt, edge_node=n1, group=g1}`
	want := []string{
		`Inputs_Temp__C` + l + `@1700000000500=float:-40`,
		`Motor_1_Speed` + l + `@1700000000000=float:1500.5`,
		`Motor_1_State_Running` + l + `@1700000000000=boolean:true`,
		`Motor_1_Sub_x` + l + `@1700000000900=integer:7`,
		`b` + l + `@1700000000000=boolean:true`,
		`bdSeq` + l + `@1700000000000=integer:3`,
		`d` + l + `@1700000000000=float:3.141592653589793`,
		`ds_a{db=mqtt, edge_node=n1, group=g1, row=0}@1700000000000=integer:-1`,
		`ds_a{db=mqtt, edge_node=n1, group=g1, row=1}@1700000000000=integer:2`,
		`ds_b_c{db=mqtt, edge_node=n1, group=g1, row=0}@1700000000000=string:"x"`,
		`ds_b_c{db=mqtt, edge_node=n1, group=g1, row=1}@1700000000000=string:"y"`,
		`dt` + l + `@1700000000000=integer:1700000000123`,
		`f` + l + `@1700000000000=float:0.10000000149011612`,
		`f2` + l + `@1700000000000=float:21.5`,
		`i16` + l + `@1700000000000=integer:-32768`,
		`i32` + l + `@1700000000000=integer:-2147483648`,
		`i64` + l + `@1700000000000=integer:-1`,
		`i8` + l + `@1700000000000=integer:-128`,
		`i8b` + l + `@1700000000000=integer:-1`,
		`s` + l + `@1700000000000=string:"héllo"`,
		`sparkplug_node_online` + l + `@now=float:1`,
		`text` + l + `@1700000000000=string:"a text"`,
		`u16` + l + `@1700000000000=integer:65535`,
		`u32` + l + `@1700000000000=integer:4294967295`,
		`u32i` + l + `@1700000000000=integer:4294967295`,
		`u64` + l + `@1700000000000=unsigned:18446744073709551615`,
		`u8` + l + `@1700000000000=integer:255`,
		`uuid` + l + `@1700000000000=string:"0d3a9c4e-61f2-4b53-9a0e-2c3b0c6a1f00"`,
	}
	sort.Strings(want)
	require.Equal(t, want, got)
	require.EqualValues(t, 6, h.dec().skipped.Load(), "bytes, file, Int32Array, PropertySet, null, transient")

	// NDATA by alias only, without datatypes: resolved from the NBIRTH.
	got, err = h.send("spBv1.0/g1/NDATA/n1", spEncode(t, `{"timestamp":"1700000001000","seq":"1","metrics":[
		{"alias":"1","intValue":4294967295},{"alias":"10","longValue":"5"},{"alias":"11","floatValue":1.5},
		{"alias":"14","booleanValue":false},{"alias":"15","stringValue":"s2"},{"alias":"23","doubleValue":20.25},
		{"name":"u16","intValue":7}]}`))
	require.NoError(t, err)
	require.Equal(t, []string{
		`Inputs_Temp__C` + l + `@1700000001000=float:20.25`,
		`b` + l + `@1700000001000=boolean:false`,
		`f` + l + `@1700000001000=float:1.5`,
		`i8` + l + `@1700000001000=integer:-1`,
		`s` + l + `@1700000001000=string:"s2"`,
		`u16` + l + `@1700000001000=integer:7`,
		`u64` + l + `@1700000001000=unsigned:5`,
	}, got)
	require.Zero(t, h.dec().gaps.Load())
}

func TestSparkplugLifecycle(t *testing.T) {
	h := newSPHarness(t)
	d := h.dec()
	const l = `{db=mqtt, edge_node=n1, group=g1}`
	const ld = `{db=mqtt, device=d1, edge_node=n1, group=g1}`
	birth := func(seq, bd int, alias string) []byte {
		return spEncode(t, `{"timestamp":"1700000000000","seq":"`+strconv.Itoa(seq)+`","metrics":[
			{"name":"bdSeq","datatype":8,"longValue":"`+strconv.Itoa(bd)+`"},
			{"name":"temp","alias":"`+alias+`","datatype":10,"doubleValue":1}]}`)
	}
	data := func(seq int, alias string, v string) []byte {
		return spEncode(t, `{"timestamp":"1700000002000","seq":"`+strconv.Itoa(seq)+`","metrics":[{"alias":"`+alias+`","doubleValue":`+v+`}]}`)
	}
	_, err := h.send("spBv1.0/g1/NBIRTH/n1", birth(0, 0, "1"))
	require.NoError(t, err)

	// Unknown alias: reported, the valid metric of the message kept.
	got, err := h.send("spBv1.0/g1/NDATA/n1", spEncode(t, `{"timestamp":"1700000002000","seq":"1","metrics":[
		{"alias":"99","doubleValue":5},{"alias":"1","doubleValue":2}]}`))
	require.ErrorIs(t, err, ErrMapping)
	require.ErrorContains(t, err, "alias 99")
	require.ErrorContains(t, err, "1 of 2 metrics not stored")
	require.Equal(t, []string{`temp` + l + `@1700000002000=float:2`}, got)

	// A device.
	got, err = h.send("spBv1.0/g1/DBIRTH/n1/d1", spEncode(t, `{"timestamp":"1700000003000","seq":"2","metrics":[
		{"name":"rpm","alias":"2","datatype":3,"intValue":10}]}`))
	require.NoError(t, err)
	require.Equal(t, []string{`rpm` + ld + `@1700000003000=integer:10`, `sparkplug_device_online` + ld + `@now=float:1`}, got)
	got, err = h.send("spBv1.0/g1/DDATA/n1/d1", spEncode(t, `{"timestamp":"1700000004000","seq":"3","metrics":[{"alias":"2","intValue":11}]}`))
	require.NoError(t, err)
	require.Equal(t, []string{`rpm` + ld + `@1700000004000=integer:11`}, got)
	// The node's alias is not the device's.
	_, err = h.send("spBv1.0/g1/DDATA/n1/d1", spEncode(t, `{"seq":"4","metrics":[{"alias":"1","intValue":11}]}`))
	require.ErrorIs(t, err, ErrMapping)

	// Seq: 5 follows 4; 7 skips 6; a repeat or a resend of recent ones
	// (redelivery) is no gap and does not move the count; 255 wraps to 0.
	for _, s := range []int{5, 7, 7, 5, 6, 8} {
		_, err = h.send("spBv1.0/g1/NDATA/n1", data(s, "1", "3"))
		require.NoError(t, err)
	}
	require.EqualValues(t, 1, d.gaps.Load())

	// Rebirth with a new alias mapping: temp is now alias 5, 1 unknown.
	_, err = h.send("spBv1.0/g1/NBIRTH/n1", birth(0, 1, "5"))
	require.NoError(t, err)
	got, err = h.send("spBv1.0/g1/NDATA/n1", data(1, "5", "42"))
	require.NoError(t, err)
	require.Equal(t, []string{`temp` + l + `@1700000002000=float:42`}, got)
	_, err = h.send("spBv1.0/g1/NDATA/n1", data(2, "1", "43"))
	require.ErrorIs(t, err, ErrMapping)
	// The rebirth forgot the device's aliases until its DBIRTH.
	_, err = h.send("spBv1.0/g1/DDATA/n1/d1", spEncode(t, `{"seq":"3","metrics":[{"alias":"2","intValue":12}]}`))
	require.ErrorIs(t, err, ErrMapping)
	for s := 4; s <= 255; s++ {
		_, err = h.send("spBv1.0/g1/NDATA/n1", data(s, "5", "1"))
		require.NoError(t, err)
	}
	_, err = h.send("spBv1.0/g1/NDATA/n1", data(0, "5", "1"))
	require.NoError(t, err)
	require.EqualValues(t, 1, d.gaps.Load(), "255 wraps to 0")

	_, err = h.send("spBv1.0/g1/DBIRTH/n1/d1", spEncode(t, `{"seq":"1","metrics":[{"name":"rpm","alias":"2","datatype":3,"intValue":10}]}`))
	require.NoError(t, err)
	// DDEATH, then a stale NDEATH (bdSeq 0 of the first session): ignored.
	got, err = h.send("spBv1.0/g1/DDEATH/n1/d1", spEncode(t, `{"seq":"2"}`))
	require.NoError(t, err)
	require.Equal(t, []string{`sparkplug_device_online` + ld + `@now=float:0`}, got)
	_, err = h.send("spBv1.0/g1/DBIRTH/n1/d1", spEncode(t, `{"seq":"3","metrics":[{"name":"rpm","alias":"2","datatype":3,"intValue":10}]}`))
	require.NoError(t, err)
	got, err = h.send("spBv1.0/g1/NDEATH/n1", spEncode(t, `{"metrics":[{"name":"bdSeq","datatype":8,"longValue":"0"}]}`))
	require.NoError(t, err)
	require.Empty(t, got)
	require.EqualValues(t, 1, d.staleDeaths.Load())
	// The NDEATH of this session: the node and its device go offline.
	got, err = h.send("spBv1.0/g1/NDEATH/n1", spEncode(t, `{"metrics":[{"name":"bdSeq","datatype":8,"longValue":"1"}]}`))
	require.NoError(t, err)
	require.Equal(t, []string{`sparkplug_device_online` + ld + `@now=float:0`, `sparkplug_node_online` + l + `@now=float:0`}, got)
	require.EqualValues(t, 1, d.gaps.Load())

	// STATE (Sparkplug 3.0 JSON and 2.2 text); commands are ignored.
	got, err = h.send("spBv1.0/STATE/scada1", []byte(`{"online":true,"timestamp":1700000000000}`))
	require.NoError(t, err)
	require.Equal(t, []string{`sparkplug_host_online{db=mqtt, host_id=scada1}@now=float:1`}, got)
	got, err = h.send("spBv1.0/STATE/scada1", []byte("OFFLINE"))
	require.NoError(t, err)
	require.Equal(t, []string{`sparkplug_host_online{db=mqtt, host_id=scada1}@now=float:0`}, got)
	got, err = h.send("spBv1.0/g1/NCMD/n1", spEncode(t, `{"metrics":[{"name":"Node Control/Rebirth","datatype":11,"booleanValue":true}]}`))
	require.NoError(t, err)
	require.Empty(t, got)
}

func TestSparkplugErrors(t *testing.T) {
	h := newSPHarness(t)
	for _, tc := range []struct {
		topic, payload string
		want           error
		msg            string
	}{
		{"spBv1.0/g1/NDATA", "", ErrTopic, "want spBv1.0/<group>/<message type>"},
		{"spBv1.0/g1/DDATA/n1", "", ErrTopic, "want 5"},
		{"spBv1.0/g1/XDATA/n1", "", ErrTopic, `message type "XDATA"`},
		{"spBv1.0//NDATA/n1", "", ErrTopic, "empty level"},
		{"other/g1/NDATA/n1", "", ErrTopic, "namespace"},
		{"spBv1.0/STATE/h", "{", ErrSyntax, "STATE"},
		{"spBv1.0/STATE/h", "{}", ErrMapping, `"online"`},
		{"spBv1.0/g1/NDATA/n1", "\x0a\x05ab", ErrSyntax, "unexpected EOF"},
		{"spBv1.0/g1/NDATA/n1", "\x08", ErrSyntax, "field 1"},
		{"spBv1.0/g1/NDATA/n1", "\x0d\x00\x00\x00\x00", ErrSyntax, "wire type"},
		{"spBv1.0/g1/NDATA/n1", string(spEncode(t, `{"metrics":[{"name":"x","datatype":3,"stringValue":"1"}]}`)), ErrMapping, "datatype 3 but value field 15"},
		{"spBv1.0/g1/NDATA/n1", string(spEncode(t, `{"metrics":[{"name":"x","datatype":3,"timestamp":"18446744073709551615","intValue":1}]}`)), ErrTimestamp, "ms is after"},
		{"spBv1.0/g1/NDATA/n1", string(spEncode(t, `{"metrics":[{"datatype":3,"intValue":1}]}`)), ErrMapping, "neither name nor alias"},
		{"spBv1.0/g1/NDATA/n1", string(spEncode(t, `{"metrics":[{"name":"ds","datatype":16,"datasetValue":{"columns":["a"]}}]}`)), ErrSyntax, "1 columns and 0 types"},
	} {
		_, err := h.send(tc.topic, []byte(tc.payload))
		require.ErrorIs(t, err, tc.want, tc.topic+" "+tc.msg)
		require.ErrorContains(t, err, tc.msg)
	}
	// No datatype anywhere (a node born before the server started): the
	// value field decides.
	got, err := h.send("spBv1.0/g1/NDATA/n9", spEncode(t, `{"timestamp":"1700000000000","metrics":[{"name":"a","doubleValue":1.25},{"name":"b","longValue":"9"}]}`))
	require.NoError(t, err)
	require.Equal(t, []string{`a{db=mqtt, edge_node=n9, group=g1}@1700000000000=float:1.25`, `b{db=mqtt, edge_node=n9, group=g1}@1700000000000=integer:9`}, got)
	// A template on a sparkplug rule is refused.
	o := DefaultOptions()
	o.fill()
	_, err = compileRule(Rule{Format: FormatSparkplug, Template: "spBv1.0/+group/#"}, &o)
	require.ErrorContains(t, err, "remove the template")
}

// TestSparkplugPackedTypes: DataSet.types written packed (as a proto3
// encoder does) decodes as the unpacked proto2 form.
func TestSparkplugPackedTypes(t *testing.T) {
	var ds []byte
	ds = protowire.AppendTag(ds, 2, protowire.BytesType)
	ds = protowire.AppendString(ds, "v")
	ds = protowire.AppendTag(ds, 3, protowire.BytesType)
	ds = protowire.AppendBytes(ds, protowire.AppendVarint(nil, spDouble))
	var el, row []byte
	el = protowire.AppendTag(el, 4, protowire.Fixed64Type)
	el = protowire.AppendFixed64(el, math.Float64bits(2.5))
	row = protowire.AppendTag(row, 1, protowire.BytesType)
	row = protowire.AppendBytes(row, el)
	ds = protowire.AppendTag(ds, 4, protowire.BytesType)
	ds = protowire.AppendBytes(ds, row)
	var m []byte
	m = protowire.AppendTag(m, 1, protowire.BytesType)
	m = protowire.AppendString(m, "t")
	m = protowire.AppendTag(m, 4, protowire.VarintType)
	m = protowire.AppendVarint(m, spDataSet)
	m = protowire.AppendTag(m, 17, protowire.BytesType)
	m = protowire.AppendBytes(m, ds)
	var p []byte
	p = protowire.AppendTag(p, 2, protowire.BytesType)
	p = protowire.AppendBytes(p, m)
	p = protowire.AppendTag(p, 99, protowire.VarintType) // an extension: skipped
	p = protowire.AppendVarint(p, 1)
	got, err := newSPHarness(t).send("spBv1.0/g/NDATA/n", p)
	require.NoError(t, err)
	require.Equal(t, []string{`t_v{db=mqtt, edge_node=n, group=g, row=0}@now=float:2.5`}, got)
}

// FuzzSparkplugPayload feeds arbitrary payloads and topics through one
// sparkplug rule (state carried across inputs): it must not panic, and
// what it adds must be a valid batch.
func FuzzSparkplugPayload(f *testing.F) {
	f.Add("spBv1.0/g1/NBIRTH/n1", spEncode(f, spAllTypes))
	f.Add("spBv1.0/g1/NDATA/n1", spEncode(f, `{"seq":"1","metrics":[{"alias":"1","intValue":4294967295},{"alias":"24","doubleValue":2}]}`))
	f.Add("spBv1.0/g1/DBIRTH/n1/d1", spEncode(f, `{"seq":"2","metrics":[{"name":"a","alias":"30","datatype":16,"datasetValue":{"columns":["a"],"types":[10],"rows":[{"elements":[{"doubleValue":1}]}]}}]}`))
	f.Add("spBv1.0/g1/NDEATH/n1", spEncode(f, `{"metrics":[{"name":"bdSeq","datatype":8,"longValue":"3"}]}`))
	f.Add("spBv1.0/STATE/h", []byte(`{"online":true}`))
	h := newSPHarness(f)
	f.Fuzz(func(t *testing.T, topic string, payload []byte) {
		var b series.Batch
		_ = h.r.dec.decode(&b, topic, payload, now)
		if err := b.Validate(); err != nil {
			t.Fatalf("invalid batch: %v", err)
		}
	})
}

// BenchmarkSparkplugNDATA decodes a typical NDATA: 50 metrics by alias
// (doubles, ints, booleans), with a payload timestamp.
func BenchmarkSparkplugNDATA(b *testing.B) {
	h := newSPHarness(b)
	var birth, data strings.Builder
	birth.WriteString(`{"timestamp":"1700000000000","seq":"0","metrics":[`)
	data.WriteString(`{"timestamp":"1700000001000","seq":"1","metrics":[`)
	const n = 50
	for i := range n {
		if i > 0 {
			birth.WriteString(",")
			data.WriteString(",")
		}
		a := strconv.Itoa(i + 1)
		switch i % 5 {
		case 0, 1, 2:
			birth.WriteString(`{"name":"Inputs/Analog ` + a + `","alias":"` + a + `","datatype":10,"doubleValue":0}`)
			data.WriteString(`{"alias":"` + a + `","doubleValue":` + strconv.Itoa(i*37) + `.25}`)
		case 3:
			birth.WriteString(`{"name":"Counters/c` + a + `","alias":"` + a + `","datatype":4,"longValue":"0"}`)
			data.WriteString(`{"alias":"` + a + `","longValue":"` + strconv.Itoa(i*1000) + `"}`)
		default:
			birth.WriteString(`{"name":"Outputs/DO` + a + `","alias":"` + a + `","datatype":11,"booleanValue":false}`)
			data.WriteString(`{"alias":"` + a + `","booleanValue":true}`)
		}
	}
	birth.WriteString("]}")
	data.WriteString("]}")
	if _, err := h.send("spBv1.0/plant/NBIRTH/edge1", spEncode(b, birth.String())); err != nil {
		b.Fatal(err)
	}
	payload := spEncode(b, data.String())
	var batch series.Batch
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		batch.Reset()
		if err := h.r.dec.decode(&batch, "spBv1.0/plant/NDATA/edge1", payload, now); err != nil {
			b.Fatal(err)
		}
	}
	if batch.Samples() != n {
		b.Fatalf("%d samples, want %d", batch.Samples(), n)
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "metrics/s")
}

// TestSparkplugConcurrentNodes: edge nodes decode in parallel (one lock
// per node); each node's own messages, in order, give no gap and every
// sample. Run with -race.
func TestSparkplugConcurrentNodes(t *testing.T) {
	h := newSPHarness(t)
	birth := spEncode(t, `{"seq":"0","metrics":[{"name":"v","alias":"1","datatype":4,"longValue":"0"}]}`)
	var wg sync.WaitGroup
	samples := make([]int, 8)
	for g := range samples {
		wg.Add(1)
		go func() {
			defer wg.Done()
			node := "n" + strconv.Itoa(g)
			var b series.Batch
			if err := h.r.dec.decode(&b, "spBv1.0/g/NBIRTH/"+node, birth, spNow); err != nil {
				t.Error(err)
				return
			}
			for i := 1; i <= 300; i++ {
				var p []byte
				var m []byte
				m = protowire.AppendTag(m, 2, protowire.VarintType)
				m = protowire.AppendVarint(m, 1)
				m = protowire.AppendTag(m, 11, protowire.VarintType)
				m = protowire.AppendVarint(m, uint64(i))
				p = protowire.AppendTag(p, 2, protowire.BytesType)
				p = protowire.AppendBytes(p, m)
				p = protowire.AppendTag(p, 3, protowire.VarintType)
				p = protowire.AppendVarint(p, uint64(i%256))
				if err := h.r.dec.decode(&b, "spBv1.0/g/NDATA/"+node, p, spNow+int64(i)); err != nil {
					t.Error(err)
					return
				}
			}
			samples[g] = b.Samples()
		}()
	}
	wg.Wait()
	require.Zero(t, h.dec().gaps.Load())
	for g, n := range samples {
		require.Equal(t, 2+300, n, "node %d: presence + birth value + 300 data", g)
	}
}
