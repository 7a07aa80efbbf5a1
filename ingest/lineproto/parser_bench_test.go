package lineproto

import (
	"fmt"
	"strings"
	"testing"

	"github.com/influxdata/line-protocol/v2/lineprotocol"

	"github.com/lightningdb/lightningdb/series"
)

// tsbsCPUBody returns n lines shaped like the Time Series Benchmark Suite
// cpu-only data set: measurement cpu, 10 tags, 10 integer fields.
func tsbsCPUBody(n int) []byte {
	var b strings.Builder
	for i := 0; i < n; i++ {
		h := i % 100
		fmt.Fprintf(&b, "cpu,hostname=host_%d,region=eu-central-1,datacenter=eu-central-1a,rack=%d,os=Ubuntu16.10,arch=x86,team=SF,service=%d,service_version=1,service_environment=production ", h, h%50, h%20)
		fmt.Fprintf(&b, "usage_user=%di,usage_system=%di,usage_idle=%di,usage_nice=%di,usage_iowait=%di,usage_irq=%di,usage_softirq=%di,usage_steal=%di,usage_guest=%di,usage_guest_nice=%di %d\n",
			58+i%40, 2+i%9, 24+i%70, 61-i%60, 22+i%5, 63-i%50, 6+i%30, 44+i%20, 80-i%70, 38+i%60, 1451606400000000000+int64(i)*10_000_000_000)
	}
	return []byte(b.String())
}

const benchLines = 1000 // a Telegraf-sized batch

func reportLines(b *testing.B, lines, fields int) {
	s := b.Elapsed().Seconds()
	b.ReportMetric(float64(lines*b.N)/s, "lines/s")
	b.ReportMetric(float64(fields*b.N)/s, "fields/s")
}

// BenchmarkParse measures the whole path from body to series.Batch.
func BenchmarkParse(b *testing.B) {
	body := tsbsCPUBody(benchLines)
	p := NewParser(DefaultOptions())
	var batch series.Batch
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		batch.Reset()
		if r := p.Parse(&batch, body, "benchmark", testNow, Nanosecond); r.Accepted != benchLines {
			b.Fatalf("accepted %d lines", r.Accepted)
		}
	}
	reportLines(b, benchLines, 10*benchLines)
}

// BenchmarkParseCached is BenchmarkParse with the series key cache, as
// the write handler parses: every key after the first body is cached.
func BenchmarkParseCached(b *testing.B) {
	body := tsbsCPUBody(benchLines)
	p := NewParser(Options{SeriesKeyCache: 1024})
	var batch series.Batch
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		batch.Reset()
		if r := p.Parse(&batch, body, "benchmark", testNow, Nanosecond); r.Accepted != benchLines {
			b.Fatalf("accepted %d lines", r.Accepted)
		}
	}
	reportLines(b, benchLines, 10*benchLines)
}

// BenchmarkScan measures our tokenizer alone, to compare with
// BenchmarkReferenceDecode, which does the same work with the library.
func BenchmarkScan(b *testing.B) {
	body := tsbsCPUBody(benchLines)
	var s scanner
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		s.reset(body, testNow, Nanosecond)
		for {
			more, err := s.next()
			if !more {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
		}
	}
	reportLines(b, benchLines, 10*benchLines)
}

// BenchmarkReferenceDecode decodes the same body with line-protocol/v2,
// reading every tag, field value and timestamp.
func BenchmarkReferenceDecode(b *testing.B) {
	body := tsbsCPUBody(benchLines)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		dec := lineprotocol.NewDecoderWithBytes(body)
		for dec.Next() {
			if _, err := dec.Measurement(); err != nil {
				b.Fatal(err)
			}
			for {
				k, _, err := dec.NextTag()
				if err != nil {
					b.Fatal(err)
				}
				if k == nil {
					break
				}
			}
			for {
				k, _, err := dec.NextField()
				if err != nil {
					b.Fatal(err)
				}
				if k == nil {
					break
				}
			}
			if _, err := dec.Time(lineprotocol.Nanosecond, testNowTime); err != nil {
				b.Fatal(err)
			}
		}
	}
	reportLines(b, benchLines, 10*benchLines)
}

func TestParseAllocs(t *testing.T) {
	body := tsbsCPUBody(100)
	p := NewParser(DefaultOptions())
	var batch series.Batch
	allocs := testing.AllocsPerRun(20, func() {
		batch.Reset()
		p.Parse(&batch, body, "db", testNow, Nanosecond)
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per Parse of 100 lines in steady state, want 0", allocs)
	}
}
