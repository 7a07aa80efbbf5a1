package bench

import (
	"bytes"
	"compress/gzip"
	"io"
	"testing"

	"github.com/klauspost/compress/s2"
	"github.com/prometheus/prometheus/prompb"
	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"
)

func TestAppendLine(t *testing.T) {
	p := Point{
		Measurement: "m e,x",
		Tags:        []Tag{{"a b", "c=d"}, {"host", "h,1"}},
		Fields:      []Field{{Name: "i", Value: 42, Int: true}, {Name: "f", Value: 1.5}},
		T:           1700000000000000000,
	}
	got := string(AppendLine(nil, &p))
	want := `m\ e\,x,a\ b=c\=d,host=h\,1 i=42i,f=1.5 1700000000000000000` + "\n"
	if got != want {
		t.Fatalf("got  %q\nwant %q", got, want)
	}
}

func TestBuildLineProtocol(t *testing.T) {
	g := NewDevops(DevopsOptions{Seed: 1, Hosts: 3, Start: t0, Steps: 5})
	bodies, err := BuildLineProtocol(g, 4, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(bodies) != 4 { // 15 lines in bodies of 4
		t.Fatalf("%d bodies", len(bodies))
	}
	total := 0
	for _, b := range bodies {
		total += b.Samples
		zr, err := gzip.NewReader(bytes.NewReader(b.Data))
		if err != nil {
			t.Fatal(err)
		}
		raw, err := io.ReadAll(zr)
		if err != nil {
			t.Fatal(err)
		}
		if n := bytes.Count(raw, []byte("\n")); n*10 != b.Samples {
			t.Fatalf("%d lines for %d samples", n, b.Samples)
		}
		if b.Shard != -1 {
			t.Fatalf("line protocol body pinned to shard %d", b.Shard)
		}
	}
	if total != 150 {
		t.Fatalf("%d samples, want 150", total)
	}
}

func decodeRW1(t *testing.T, b Body) prompb.WriteRequest {
	t.Helper()
	raw, err := s2.Decode(nil, b.Data)
	if err != nil {
		t.Fatal(err)
	}
	var req prompb.WriteRequest
	if err := req.Unmarshal(raw); err != nil {
		t.Fatal(err)
	}
	return req
}

func TestBuildRemoteWrite500x10(t *testing.T) {
	g := NewDevops(DevopsOptions{Seed: 1, Hosts: 100, Start: t0, Steps: 20, GroupHosts: 50, GroupSteps: 10})
	bodies, err := BuildRemoteWrite(g, 5000, RW1)
	if err != nil {
		t.Fatal(err)
	}
	if len(bodies) != 4 {
		t.Fatalf("%d bodies, want 4", len(bodies))
	}
	for i, b := range bodies {
		if b.Series != 500 || b.Samples != 5000 || b.Shard != i%2 {
			t.Fatalf("body %d: %d series, %d samples, shard %d", i, b.Series, b.Samples, b.Shard)
		}
		req := decodeRW1(t, b)
		for _, ts := range req.Timeseries {
			if len(ts.Samples) != 10 {
				t.Fatalf("series with %d samples", len(ts.Samples))
			}
			for j := 1; j < len(ts.Labels); j++ {
				if ts.Labels[j-1].Name >= ts.Labels[j].Name {
					t.Fatalf("labels not sorted: %v", ts.Labels)
				}
			}
			for j := 1; j < len(ts.Samples); j++ {
				if ts.Samples[j].Timestamp-ts.Samples[j-1].Timestamp != 10000 {
					t.Fatalf("samples not 10 s apart: %v", ts.Samples)
				}
			}
		}
	}
	first := decodeRW1(t, bodies[0]).Timeseries[0].Labels
	if first[0].Name != "__name__" || first[0].Value != "cpu_usage_user" || first[3].Name != "db" || first[3].Value != DB {
		t.Fatalf("labels %v", first)
	}
}

func TestBuildRemoteWriteV2(t *testing.T) {
	g := NewDevops(DevopsOptions{Seed: 1, Hosts: 200, Start: t0, Steps: 1})
	bodies, err := BuildRemoteWrite(g, 2000, RW2)
	if err != nil {
		t.Fatal(err)
	}
	if len(bodies) != 1 || bodies[0].Series != 2000 {
		t.Fatalf("%d bodies", len(bodies))
	}
	raw, err := s2.Decode(nil, bodies[0].Data)
	if err != nil {
		t.Fatal(err)
	}
	var req writev2.Request
	if err := req.Unmarshal(raw); err != nil {
		t.Fatal(err)
	}
	if req.Symbols[0] != "" || len(req.Timeseries) != 2000 {
		t.Fatalf("symbols[0]=%q, %d series", req.Symbols[0], len(req.Timeseries))
	}
	ts := req.Timeseries[0]
	if req.Symbols[ts.LabelsRefs[0]] != "__name__" || req.Symbols[ts.LabelsRefs[1]] != "cpu_usage_user" {
		t.Fatalf("first label %q=%q", req.Symbols[ts.LabelsRefs[0]], req.Symbols[ts.LabelsRefs[1]])
	}
}
