package series

import (
	"fmt"
	"math"
)

// ValueType is the type a series is created with. It never changes for the
// life of the series: a sample of another type is rejected with
// ErrTypeConflict, as InfluxDB does.
type ValueType uint8

// The value types. The zero ValueType is invalid.
const (
	TypeFloat  ValueType = 1 // float64
	TypeInt    ValueType = 2 // int64, full 64 bits
	TypeUint   ValueType = 3 // uint64
	TypeBool   ValueType = 4 // stored as 0 or 1
	TypeString ValueType = 5 // UTF-8 bytes
)

// Valid reports whether t is one of the defined types.
func (t ValueType) Valid() bool { return t >= TypeFloat && t <= TypeString }

func (t ValueType) String() string {
	switch t {
	case TypeFloat:
		return "float"
	case TypeInt:
		return "integer"
	case TypeUint:
		return "unsigned"
	case TypeBool:
		return "boolean"
	case TypeString:
		return "string"
	}
	return fmt.Sprintf("ValueType(%d)", uint8(t))
}

// A numeric sample value is kept as 64 raw bits whose meaning depends on the
// series' ValueType: float64 bits, an int64, a uint64, or 0/1 for booleans.
// These helpers convert both ways without branches on the hot path.

// FloatBits returns the raw form of a float value.
func FloatBits(v float64) uint64 { return math.Float64bits(v) }

// IntBits returns the raw form of an integer value.
func IntBits(v int64) uint64 { return uint64(v) }

// BoolBits returns the raw form of a boolean value.
func BoolBits(v bool) uint64 {
	if v {
		return 1
	}
	return 0
}

// AsFloat64 converts a raw numeric value of type t to float64, the view that
// PromQL has of every numeric type. Strings have no float view (NaN).
func AsFloat64(t ValueType, raw uint64) float64 {
	switch t {
	case TypeFloat:
		return math.Float64frombits(raw)
	case TypeInt:
		return float64(int64(raw))
	case TypeUint:
		return float64(raw)
	case TypeBool:
		return float64(raw)
	}
	return math.NaN()
}
