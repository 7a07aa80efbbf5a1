package bench

import (
	"strconv"
	"strings"
	"testing"
)

// TestIoTDecimals: temperature is reported with at most 2 decimals,
// humidity 1 and battery 3, as the IoT data set of issue 17 describes.
func TestIoTDecimals(t *testing.T) {
	g := NewIoT(IoTOptions{Seed: 5, Devices: 20, Start: t0, Steps: 50})
	var p Point
	most := make([]int, len(iotFields))
	for g.Next(&p) {
		for i, f := range p.Fields {
			s := strconv.FormatFloat(f.Value, 'f', -1, 64)
			d := 0
			if j := strings.IndexByte(s, '.'); j >= 0 {
				d = len(s) - j - 1
			}
			if d > iotDecimals[i] {
				t.Fatalf("%s = %s: more than %d decimals", f.Name, s, iotDecimals[i])
			}
			most[i] = max(most[i], d)
		}
	}
	for i, d := range most {
		if d != iotDecimals[i] {
			t.Fatalf("%s: at most %d decimals seen, want %d", iotFields[i], d, iotDecimals[i])
		}
	}
}
