package bench

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"strconv"
	"strings"

	"github.com/klauspost/compress/s2"
	"github.com/prometheus/prometheus/prompb"
	writev2 "github.com/prometheus/prometheus/prompb/io/prometheus/write/v2"
)

// Body is one request body, built before the timed run so that encoding
// does not compete with the server for the measured time.
type Body struct {
	Data    []byte
	Samples int // samples (fields) it carries
	Series  int // distinct series in it (remote write)
	Shard   int // connection constraint: -1 any, else Shard % conns
}

// DB is the database (bucket) every workload writes to; it becomes the db
// label in the Prometheus view of line protocol, and remote write adds the
// same label so both protocols produce the same series.
const DB = "bench"

// AppendLine appends p as one line of line protocol (with '\n') to dst.
func AppendLine(dst []byte, p *Point) []byte {
	dst = appendEscaped(dst, p.Measurement, ", ")
	for _, t := range p.Tags {
		dst = append(dst, ',')
		dst = appendEscaped(dst, t.Key, ",= ")
		dst = append(dst, '=')
		dst = appendEscaped(dst, t.Value, ",= ")
	}
	for i, f := range p.Fields {
		if i == 0 {
			dst = append(dst, ' ')
		} else {
			dst = append(dst, ',')
		}
		dst = appendEscaped(dst, f.Name, ",= ")
		dst = append(dst, '=')
		if f.Int {
			dst = strconv.AppendInt(dst, int64(f.Value), 10)
			dst = append(dst, 'i')
		} else {
			dst = strconv.AppendFloat(dst, f.Value, 'g', -1, 64)
		}
	}
	dst = append(dst, ' ')
	dst = strconv.AppendInt(dst, p.T, 10)
	return append(dst, '\n')
}

func appendEscaped(dst []byte, s, special string) []byte {
	if !strings.ContainsAny(s, special) {
		return append(dst, s...)
	}
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(special, s[i]) >= 0 {
			dst = append(dst, '\\')
		}
		dst = append(dst, s[i])
	}
	return dst
}

// BuildLineProtocol drains g into bodies of linesPerBody lines each,
// gzip-compressed when gz is set. Bodies carry Shard -1: line protocol
// targets accept samples in any order.
func BuildLineProtocol(g Generator, linesPerBody int, gz bool) ([]Body, error) {
	if linesPerBody <= 0 {
		return nil, fmt.Errorf("lines per body must be positive, got %d", linesPerBody)
	}
	var (
		bodies  []Body
		p       Point
		buf     []byte
		lines   int
		samples int
	)
	flush := func() error {
		data := bytes.Clone(buf)
		if gz {
			var zb bytes.Buffer
			zw := gzip.NewWriter(&zb)
			if _, err := zw.Write(buf); err != nil {
				return err
			}
			if err := zw.Close(); err != nil {
				return err
			}
			data = zb.Bytes()
		}
		bodies = append(bodies, Body{Data: data, Samples: samples, Shard: -1})
		buf, lines, samples = buf[:0], 0, 0
		return nil
	}
	for g.Next(&p) {
		buf = AppendLine(buf, &p)
		lines++
		samples += len(p.Fields)
		if lines == linesPerBody {
			if err := flush(); err != nil {
				return nil, err
			}
		}
	}
	if lines > 0 {
		if err := flush(); err != nil {
			return nil, err
		}
	}
	return bodies, nil
}

// seriesLabels returns the Prometheus labels of field f of p, sorted by
// name: __name__ = measurement_field, the tags, and db.
func seriesLabels(p *Point, f int) []prompb.Label {
	ls := make([]prompb.Label, 0, len(p.Tags)+2)
	ls = append(ls, prompb.Label{Name: "__name__", Value: p.Measurement + "_" + p.Fields[f].Name})
	dbDone := false
	for _, t := range p.Tags {
		if !dbDone && t.Key > "db" {
			ls = append(ls, prompb.Label{Name: "db", Value: DB})
			dbDone = true
		}
		ls = append(ls, prompb.Label{Name: t.Key, Value: t.Value})
	}
	if !dbDone {
		ls = append(ls, prompb.Label{Name: "db", Value: DB})
	}
	return ls
}

// rwBatch groups the samples of consecutive points by series, in the
// order series first appear.
type rwBatch struct {
	index   map[string]int
	series  []prompb.TimeSeries
	samples int
	shard   int
}

func (b *rwBatch) add(p *Point) {
	if b.samples == 0 {
		b.shard = p.Shard
	}
	for f := range p.Fields {
		key := seriesKey(p, f)
		i, ok := b.index[key]
		if !ok {
			i = len(b.series)
			b.index[key] = i
			b.series = append(b.series, prompb.TimeSeries{Labels: seriesLabels(p, f)})
		}
		b.series[i].Samples = append(b.series[i].Samples, prompb.Sample{
			Value: p.Fields[f].Value, Timestamp: p.T / 1e6,
		})
		b.samples++
	}
}

func seriesKey(p *Point, f int) string {
	var sb strings.Builder
	sb.WriteString(p.Measurement)
	sb.WriteByte(0)
	sb.WriteString(p.Fields[f].Name)
	for _, t := range p.Tags {
		sb.WriteByte(0)
		sb.WriteString(t.Key)
		sb.WriteByte(0)
		sb.WriteString(t.Value)
	}
	return sb.String()
}

// RWVersion selects the remote-write message.
type RWVersion int

// Remote-write versions.
const (
	RW1 RWVersion = 1 // prometheus.WriteRequest
	RW2 RWVersion = 2 // io.prometheus.write.v2.Request
)

// BuildRemoteWrite drains g into snappy-compressed remote-write bodies of
// samplesPerBody samples each (the last may be smaller). A body's Shard
// is its first point's, so a generator that orders points by shard (Devops
// with GroupHosts) keeps each series on one connection.
func BuildRemoteWrite(g Generator, samplesPerBody int, v RWVersion) ([]Body, error) {
	if samplesPerBody <= 0 {
		return nil, fmt.Errorf("samples per body must be positive, got %d", samplesPerBody)
	}
	var (
		bodies []Body
		p      Point
		b      = rwBatch{index: map[string]int{}}
	)
	flush := func() error {
		raw, err := marshalRW(b.series, v)
		if err != nil {
			return err
		}
		bodies = append(bodies, Body{
			Data: s2.EncodeSnappy(nil, raw), Samples: b.samples,
			Series: len(b.series), Shard: b.shard,
		})
		b = rwBatch{index: map[string]int{}}
		return nil
	}
	for g.Next(&p) {
		if b.samples > 0 && (b.samples+len(p.Fields) > samplesPerBody || p.Shard != b.shard) {
			if err := flush(); err != nil {
				return nil, err
			}
		}
		b.add(&p)
	}
	if b.samples > 0 {
		if err := flush(); err != nil {
			return nil, err
		}
	}
	return bodies, nil
}

func marshalRW(series []prompb.TimeSeries, v RWVersion) ([]byte, error) {
	if v == RW1 {
		req := prompb.WriteRequest{Timeseries: series}
		return req.Marshal()
	}
	st := writev2.NewSymbolTable()
	req := writev2.Request{Timeseries: make([]writev2.TimeSeries, len(series))}
	for i, s := range series {
		ts := &req.Timeseries[i]
		for _, l := range s.Labels {
			ts.LabelsRefs = append(ts.LabelsRefs, st.Symbolize(l.Name), st.Symbolize(l.Value))
		}
		ts.Samples = make([]writev2.Sample, len(s.Samples))
		for j, smp := range s.Samples {
			ts.Samples[j] = writev2.Sample{Value: smp.Value, Timestamp: smp.Timestamp}
		}
		ts.Metadata.Type = writev2.Metadata_METRIC_TYPE_GAUGE
	}
	req.Symbols = st.Symbols()
	return req.Marshal()
}
