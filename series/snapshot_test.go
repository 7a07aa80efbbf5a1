package series

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSnapshotV2Readable loads a version 2 snapshot written before the
// compressed version 3 (testdata/series-v2.snap: TestRegistrySnapshot's
// registry, 100 series of which 99 durable).
func TestSnapshotV2Readable(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "series-v2.snap"))
	if err != nil {
		t.Fatal(err)
	}
	if data[len(snapshotMagic)] != 2 {
		t.Fatalf("fixture version %d", data[len(snapshotMagic)])
	}
	r := NewRegistry(RegistryOptions{})
	if err := r.LoadSnapshot(data); err != nil {
		t.Fatal(err)
	}
	if r.Len() != 99 || r.MaxID() != 100 {
		t.Fatalf("%d series, max ID %d", r.Len(), r.MaxID())
	}
	for _, i := range []int{0, 7, 49, 51, 99} {
		id, ok := r.Lookup(canon("__name__", "m", "i", fmt.Sprint(i)))
		if !ok || id != ID(i+1) || r.Type(id) != ValueType(1+i%5) {
			t.Fatalf("series %d: id %d ok %v type %v", i, id, ok, r.Type(id))
		}
	}
}

// iotRegistry holds n devices' three fields, the labels of bench's IoT
// workload, every series durable; every seventh device was removed.
func iotRegistry(t testing.TB, n int) *Registry {
	r := NewRegistry(RegistryOptions{})
	for d := range n {
		for _, f := range []string{"temperature", "humidity", "battery"} {
			id, _, err := r.GetOrCreate(canon("__name__", "sensor_"+f, "device_id", fmt.Sprintf("dev-%06d", d),
				"firmware", fmt.Sprintf("1.%d", d%5), "fleet", fmt.Sprintf("fleet-%d", d%10), "model", "th-100"), TypeFloat)
			if err != nil {
				t.Fatal(err)
			}
			r.MarkDurable(id)
			if d%7 == 3 {
				r.Remove(id)
			}
		}
	}
	return r
}

// TestSnapshotV3RoundTripAndSize: a version 3 snapshot restores every
// durable series with its ID, type and labels, keeps IDs of removed
// series from being reused, and costs a fraction of version 2's bytes.
func TestSnapshotV3RoundTripAndSize(t *testing.T) {
	r := iotRegistry(t, 1000)
	long := canon("__name__", "long", "v", strings.Repeat("x", MaxLabelValueLen))
	id, _, err := r.GetOrCreate(long, TypeString)
	if err != nil {
		t.Fatal(err)
	}
	r.MarkDurable(id)
	var buf bytes.Buffer
	if err := r.WriteSnapshot(&buf); err != nil {
		t.Fatal(err)
	}
	r2 := NewRegistry(RegistryOptions{})
	if err := r2.LoadSnapshot(buf.Bytes()); err != nil {
		t.Fatal(err)
	}
	if r2.Len() != r.Len() || r2.MaxID() != r.MaxID() {
		t.Fatalf("loaded %d series up to %d, want %d up to %d", r2.Len(), r2.MaxID(), r.Len(), r.MaxID())
	}
	r.ForEach(func(id ID, canonical []byte, typ ValueType, _ bool) bool {
		if !bytes.Equal(r2.Labels(id), canonical) || r2.Type(id) != typ {
			t.Fatalf("series %d differs", id)
		}
		return true
	})
	if got, _, _ := r2.GetOrCreate(canon("__name__", "new"), TypeInt); got != r.MaxID()+1 {
		t.Fatalf("new series got ID %d, want %d", got, r.MaxID()+1)
	}
	perSeries := float64(buf.Len()-len(long)/100) / float64(r.Len())
	t.Logf("%d series: %d bytes, %.1f bytes a series", r.Len(), buf.Len(), perSeries)
	if perSeries > 20 {
		t.Fatalf("%.1f bytes a series, want at most 20 (version 2: ~100)", perSeries)
	}
}

// FuzzLoadSnapshot feeds arbitrary snapshot bodies, with a valid checksum
// appended so that the record decoders are reached: no panic, and every
// error is ErrCorruptSnapshot.
func FuzzLoadSnapshot(f *testing.F) {
	if data, err := os.ReadFile(filepath.Join("testdata", "series-v2.snap")); err == nil {
		f.Add(data[:len(data)-4])
	}
	var buf bytes.Buffer
	if err := iotRegistry(f, 20).WriteSnapshot(&buf); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes()[:buf.Len()-4])
	f.Add([]byte("LDBSER\x03\x00\x05"))
	f.Fuzz(func(t *testing.T, body []byte) {
		data := binary.LittleEndian.AppendUint32(bytes.Clone(body), crc32.Checksum(body, castagnoli))
		err := NewRegistry(RegistryOptions{}).LoadSnapshot(data)
		if err != nil && !errors.Is(err, ErrCorruptSnapshot) {
			t.Fatalf("error is not ErrCorruptSnapshot: %v", err)
		}
	})
}

// BenchmarkWriteSnapshot writes the snapshot of 30,000 IoT series (bench's
// iot-lp at full scale), which every flush checkpoint does.
func BenchmarkWriteSnapshot(b *testing.B) {
	r := iotRegistry(b, 10000)
	var buf bytes.Buffer
	b.ReportAllocs()
	for range b.N {
		buf.Reset()
		if err := r.WriteSnapshot(&buf); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(buf.Len()), "bytes")
}
