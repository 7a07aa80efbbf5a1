package mqtt

import (
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
)

// This file decodes the Sparkplug B payload, the protobuf message
// org.eclipse.tahu.protobuf.Payload of Eclipse Tahu's sparkplug_b.proto
// (Sparkplug 3.0), by hand with protowire: there is no generated code and
// no reflection. Field numbers, from that file:
//
//	Payload   timestamp=1 (uint64 ms) metrics=2 seq=3 uuid=4 body=5
//	Metric    name=1 alias=2 timestamp=3 datatype=4 is_historical=5
//	          is_transient=6 is_null=7 metadata=8 properties=9
//	          int_value=10 (uint32) long_value=11 (uint64) float_value=12
//	          double_value=13 boolean_value=14 string_value=15
//	          bytes_value=16 dataset_value=17 template_value=18
//	          extension_value=19
//	DataSet   num_of_columns=1 columns=2 types=3 (repeated uint32) rows=4
//	Row       elements=1
//	DataSetValue int_value=1 long_value=2 float_value=3 double_value=4
//	          boolean_value=5 string_value=6 extension_value=7
//	Template  version=1 metrics=2 parameters=3 template_ref=4
//	          is_definition=5
//
// Unknown fields (extensions) are skipped. Strings and bytes returned
// alias the payload; nothing is copied.

// Sparkplug B data types (the DataType enum).
const (
	spUnknown  = 0
	spInt8     = 1
	spInt16    = 2
	spInt32    = 3
	spInt64    = 4
	spUInt8    = 5
	spUInt16   = 6
	spUInt32   = 7
	spUInt64   = 8
	spFloat    = 9
	spDouble   = 10
	spBoolean  = 11
	spString   = 12
	spDateTime = 13
	spText     = 14
	spUUID     = 15
	spDataSet  = 16
	spBytes    = 17
	spFile     = 18
	spTemplate = 19
	// 20 PropertySet, 21 PropertySetList, 22..34 the array types: not
	// stored (docs/mqtt.md).
)

// spValue is the value of a Metric, a DataSetValue or a Template
// Parameter: which oneof field was set, as the Metric's field number
// (10 int_value ... 19 extension_value; the DataSetValue numbers are
// mapped onto these), and its content.
type spValue struct {
	field protowire.Number // 0: no value
	bits  uint64           // varint, fixed32 or fixed64 fields
	bytes []byte           // string, bytes, dataset and template fields
}

// spMetric is one decoded Metric.
type spMetric struct {
	name               []byte
	hasName, hasAlias  bool
	hasTime, hasType   bool
	alias, timestamp   uint64
	datatype           uint32
	historical, isNull bool
	transient          bool
	val                spValue
}

// spPayload is a decoded Payload; metrics reuses its capacity.
type spPayload struct {
	timestamp       uint64
	seq             uint64
	hasTime, hasSeq bool
	uuid            []byte
	metrics         []spMetric
}

func (p *spPayload) reset() {
	m := p.metrics[:0]
	*p = spPayload{metrics: m}
}

// spField is one field of a message.
type spField struct {
	num  protowire.Number
	typ  protowire.Type
	bits uint64 // varint, fixed32, fixed64
	b    []byte // bytes
}

// nextField decodes the field at the start of b and returns the rest.
func nextField(b []byte) (spField, []byte, error) {
	num, typ, n := protowire.ConsumeTag(b)
	if n < 0 {
		return spField{}, nil, fmt.Errorf("field tag: %w", protowire.ParseError(n))
	}
	b = b[n:]
	f := spField{num: num, typ: typ}
	switch typ {
	case protowire.VarintType:
		f.bits, n = protowire.ConsumeVarint(b)
	case protowire.Fixed32Type:
		var v uint32
		v, n = protowire.ConsumeFixed32(b)
		f.bits = uint64(v)
	case protowire.Fixed64Type:
		f.bits, n = protowire.ConsumeFixed64(b)
	case protowire.BytesType:
		f.b, n = protowire.ConsumeBytes(b)
	default: // groups: not in this schema; skip them as protobuf does
		n = protowire.ConsumeFieldValue(num, typ, b)
	}
	if n < 0 {
		return spField{}, nil, fmt.Errorf("field %d: %w", num, protowire.ParseError(n))
	}
	return f, b[n:], nil
}

// wantType checks that a known field has the wire type of the schema.
func (f *spField) wantType(msg string, t protowire.Type) error {
	if f.typ != t {
		return fmt.Errorf("%s field %d: wire type %d, want %d", msg, f.num, f.typ, t)
	}
	return nil
}

// unmarshalPayload decodes a Payload into p (reset first).
func unmarshalPayload(p *spPayload, b []byte) error {
	p.reset()
	for len(b) > 0 {
		f, rest, err := nextField(b)
		if err != nil {
			return fmt.Errorf("payload: %w", err)
		}
		b = rest
		switch f.num {
		case 1, 3:
			if err := f.wantType("payload", protowire.VarintType); err != nil {
				return err
			}
			if f.num == 1 {
				p.timestamp, p.hasTime = f.bits, true
			} else {
				p.seq, p.hasSeq = f.bits, true
			}
		case 2:
			if err := f.wantType("payload", protowire.BytesType); err != nil {
				return err
			}
			p.metrics = append(p.metrics, spMetric{})
			if err := unmarshalMetric(&p.metrics[len(p.metrics)-1], f.b); err != nil {
				return fmt.Errorf("metric %d: %w", len(p.metrics), err)
			}
		case 4:
			if err := f.wantType("payload", protowire.BytesType); err != nil {
				return err
			}
			p.uuid = f.b
		}
	}
	return nil
}

// unmarshalMetric decodes a Metric.
func unmarshalMetric(m *spMetric, b []byte) error {
	for len(b) > 0 {
		f, rest, err := nextField(b)
		if err != nil {
			return err
		}
		b = rest
		switch f.num {
		case 1:
			if err := f.wantType("metric", protowire.BytesType); err != nil {
				return err
			}
			m.name, m.hasName = f.b, true
		case 2, 3, 4, 5, 6, 7:
			if err := f.wantType("metric", protowire.VarintType); err != nil {
				return err
			}
			switch f.num {
			case 2:
				m.alias, m.hasAlias = f.bits, true
			case 3:
				m.timestamp, m.hasTime = f.bits, true
			case 4:
				m.datatype, m.hasType = uint32(f.bits), true
			case 5:
				m.historical = f.bits != 0
			case 6:
				m.transient = f.bits != 0
			case 7:
				m.isNull = f.bits != 0
			}
		case 8, 9: // metadata, properties: not stored
			if err := f.wantType("metric", protowire.BytesType); err != nil {
				return err
			}
		case 10, 11, 14:
			if err := f.wantType("metric", protowire.VarintType); err != nil {
				return err
			}
			m.val = spValue{field: f.num, bits: f.bits}
		case 12:
			if err := f.wantType("metric", protowire.Fixed32Type); err != nil {
				return err
			}
			m.val = spValue{field: f.num, bits: f.bits}
		case 13:
			if err := f.wantType("metric", protowire.Fixed64Type); err != nil {
				return err
			}
			m.val = spValue{field: f.num, bits: f.bits}
		case 15, 16, 17, 18, 19:
			if err := f.wantType("metric", protowire.BytesType); err != nil {
				return err
			}
			m.val = spValue{field: f.num, bytes: f.b}
		}
	}
	return nil
}

// dataSetField maps DataSetValue and Template.Parameter value fields onto
// the Metric's numbers (int 10, long 11, float 12, double 13, bool 14,
// string 15, extension 19).
var dataSetField = [...]protowire.Number{1: 10, 2: 11, 3: 12, 4: 13, 5: 14, 6: 15, 7: 19}

// valueWireType is the wire type of a Metric value field.
func valueWireType(f protowire.Number) protowire.Type {
	switch f {
	case 12:
		return protowire.Fixed32Type
	case 13:
		return protowire.Fixed64Type
	case 15, 16, 17, 18, 19:
		return protowire.BytesType
	}
	return protowire.VarintType
}

// unmarshalDataSetValue decodes one DataSetValue.
func unmarshalDataSetValue(b []byte) (spValue, error) {
	var v spValue
	for len(b) > 0 {
		f, rest, err := nextField(b)
		if err != nil {
			return v, err
		}
		b = rest
		if f.num < 1 || int(f.num) >= len(dataSetField) {
			continue
		}
		mf := dataSetField[f.num]
		if err := f.wantType("dataset value", valueWireType(mf)); err != nil {
			return v, err
		}
		v = spValue{field: mf, bits: f.bits, bytes: f.b}
	}
	return v, nil
}

// spDataSetMsg is a decoded DataSet; rows holds each row's raw elements.
type spDataSetMsg struct {
	columns [][]byte
	types   []uint32
	rows    [][]spValue
}

// unmarshalDataSet decodes a DataSet.
func unmarshalDataSet(b []byte) (*spDataSetMsg, error) {
	ds := &spDataSetMsg{}
	for len(b) > 0 {
		f, rest, err := nextField(b)
		if err != nil {
			return nil, err
		}
		b = rest
		switch f.num {
		case 2:
			if err := f.wantType("dataset", protowire.BytesType); err != nil {
				return nil, err
			}
			ds.columns = append(ds.columns, f.b)
		case 3: // repeated uint32: packed (proto3 style) or not (proto2)
			switch f.typ {
			case protowire.VarintType:
				ds.types = append(ds.types, uint32(f.bits))
			case protowire.BytesType:
				for p := f.b; len(p) > 0; {
					v, n := protowire.ConsumeVarint(p)
					if n < 0 {
						return nil, fmt.Errorf("dataset types: %w", protowire.ParseError(n))
					}
					ds.types = append(ds.types, uint32(v))
					p = p[n:]
				}
			default:
				return nil, fmt.Errorf("dataset field 3: wire type %d, want varint or packed", f.typ)
			}
		case 4:
			if err := f.wantType("dataset", protowire.BytesType); err != nil {
				return nil, err
			}
			row, err := unmarshalRow(f.b)
			if err != nil {
				return nil, fmt.Errorf("dataset row %d: %w", len(ds.rows), err)
			}
			ds.rows = append(ds.rows, row)
		}
	}
	if len(ds.types) != len(ds.columns) {
		return nil, fmt.Errorf("dataset has %d columns and %d types", len(ds.columns), len(ds.types))
	}
	return ds, nil
}

func unmarshalRow(b []byte) ([]spValue, error) {
	var row []spValue
	for len(b) > 0 {
		f, rest, err := nextField(b)
		if err != nil {
			return nil, err
		}
		b = rest
		if f.num != 1 {
			continue
		}
		if err := f.wantType("row", protowire.BytesType); err != nil {
			return nil, err
		}
		v, err := unmarshalDataSetValue(f.b)
		if err != nil {
			return nil, fmt.Errorf("element %d: %w", len(row), err)
		}
		row = append(row, v)
	}
	return row, nil
}

// spTemplateMsg is a decoded Template instance or definition.
type spTemplateMsg struct {
	ref          []byte
	isDefinition bool
	metrics      []spMetric
}

// unmarshalTemplate decodes a Template (its parameters are skipped).
func unmarshalTemplate(b []byte) (*spTemplateMsg, error) {
	t := &spTemplateMsg{}
	for len(b) > 0 {
		f, rest, err := nextField(b)
		if err != nil {
			return nil, err
		}
		b = rest
		switch f.num {
		case 2:
			if err := f.wantType("template", protowire.BytesType); err != nil {
				return nil, err
			}
			t.metrics = append(t.metrics, spMetric{})
			if err := unmarshalMetric(&t.metrics[len(t.metrics)-1], f.b); err != nil {
				return nil, fmt.Errorf("template member %d: %w", len(t.metrics), err)
			}
		case 4:
			if err := f.wantType("template", protowire.BytesType); err != nil {
				return nil, err
			}
			t.ref = f.b
		case 5:
			if err := f.wantType("template", protowire.VarintType); err != nil {
				return nil, err
			}
			t.isDefinition = f.bits != 0
		}
	}
	return t, nil
}
