package series

import (
	"math"
	"testing"
)

func TestBatchRoundTrip(t *testing.T) {
	var b Batch
	b.AddSeries(FromStrings("__name__", "f"), TypeFloat)
	b.AppendFloat(1, 1.5)
	b.AppendFloat(2, math.Inf(-1))
	b.AddSeries(FromStrings("__name__", "s"), TypeString)
	b.AppendString(3, []byte("hello"))
	b.AppendString(4, []byte(""))
	b.AddSeries(FromStrings("__name__", "i"), TypeInt)
	b.AppendInt(5, math.MinInt64)
	if err := b.Validate(); err != nil {
		t.Fatal(err)
	}
	if b.Len() != 3 || b.Samples() != 5 {
		t.Fatalf("len %d samples %d", b.Len(), b.Samples())
	}
	_, typ, ts, vals := b.Series(1)
	if typ != TypeString || len(ts) != 2 || string(b.Str(vals[0])) != "hello" || string(b.Str(vals[1])) != "" {
		t.Fatalf("string series: %v %v", typ, ts)
	}
	_, _, _, vals = b.Series(2)
	if int64(vals[0]) != math.MinInt64 {
		t.Fatalf("int value %d", int64(vals[0]))
	}
	b.AddSeries(FromStrings("__name__", "x"), TypeBool)
	b.AppendBool(9, true)
	b.DropLast()
	if b.Len() != 3 || b.Samples() != 5 {
		t.Fatal("DropLast did not remove the last series")
	}
	b.AddSeries(FromStrings("__name__", "empty"), TypeBool)
	if b.Validate() == nil {
		t.Fatal("series without samples passed Validate")
	}
}

func TestBatchAddSame(t *testing.T) {
	var b Batch
	b.AddSeries(FromStrings("__name__", "a", "k", "v"), TypeFloat)
	b.AppendFloat(1, 1)
	b.AddSeries(FromStrings("__name__", "b"), TypeFloat)
	b.AppendFloat(1, 2)
	labelBytes := len(b.LabelBuf())
	b.AddSame(0, TypeFloat)
	b.AppendFloat(2, 3)
	if len(b.LabelBuf()) != labelBytes {
		t.Fatalf("AddSame copied labels: %d bytes, was %d", len(b.LabelBuf()), labelBytes)
	}
	first, _, _, _ := b.Series(0)
	same, _, ts, vals := b.Series(2)
	if string(same) != string(first) || len(ts) != 1 || ts[0] != 2 || math.Float64frombits(vals[0]) != 3 {
		t.Fatalf("shared series: labels %q (want %q), ts %v", same, first, ts)
	}
	// Dropping a shared series keeps the labels it shared, and the labels
	// of the series before it.
	b.AddSame(1, TypeFloat)
	b.AppendFloat(3, 4)
	b.DropLast()
	if got, _, _, _ := b.Series(1); len(b.LabelBuf()) != labelBytes || string(got) != string(FromStrings("__name__", "b").AppendCanonical(nil)) {
		t.Fatalf("DropLast of a shared series cut the label buffer to %d bytes (was %d)", len(b.LabelBuf()), labelBytes)
	}
	if err := b.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestBatchSteadyStateNoAllocs(t *testing.T) {
	var b Batch
	ls := make([]Labels, 100)
	for i := range ls {
		ls[i] = FromStrings("__name__", "m", "i", string(rune('a'+i%26)))
	}
	fill := func() {
		b.Reset()
		for i := range ls {
			b.AddSeries(ls[i], TypeFloat)
			for j := 0; j < 10; j++ {
				b.AppendFloat(int64(j), float64(j))
			}
		}
	}
	fill()
	if a := testing.AllocsPerRun(50, fill); a != 0 {
		t.Fatalf("%v allocations per refill, want 0", a)
	}
}

func BenchmarkBatchAppend(b *testing.B) {
	var bt Batch
	ls := FromStrings("__name__", "cpu_usage_user", "host", "h1", "region", "eu-west-1")
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if i%1000 == 0 {
			bt.Reset()
		}
		bt.AddSeries(ls, TypeFloat)
		bt.AppendFloat(int64(i), 1)
	}
}
