package forward

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/klauspost/compress/s2"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/lightningdb/lightningdb/series"
)

// Batch is what a Sink delivers: series with their samples, in WAL order.
type Batch struct {
	Series  []Series
	Samples int
}

// Series is one series of a batch. Labels is the canonical label set
// (series.Labels.AppendCanonical); T is in milliseconds.
type Series struct {
	Labels []byte
	T      []int64
	V      []float64
}

// Sink delivers batches to the central server. Send returns nil once the
// batch is acknowledged; an error matching ErrRejected means the server
// refused the batch for good (it is skipped), any other error is retried.
// The remote write sink is the first; a NATS JetStream one can follow.
type Sink interface {
	Send(ctx context.Context, b *Batch) error
}

// ErrRejected marks a batch the central server refused for good (an HTTP
// 4xx other than 429): retrying it would wedge the forwarder.
var ErrRejected = errors.New("batch rejected by the central server")

// StatusError is an HTTP answer other than 2xx.
type StatusError struct {
	Code int
	Body string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("central server answered %d: %s", e.Code, e.Body)
}

// Is makes a 4xx other than 429 match ErrRejected.
func (e *StatusError) Is(target error) bool {
	return target == ErrRejected && e.Code >= 400 && e.Code < 500 && e.Code != http.StatusTooManyRequests
}

// RemoteWriteOptions configures a RemoteWriteSink.
type RemoteWriteOptions struct {
	URL string
	// Headers are added to every request; BearerToken, when set, becomes
	// "Authorization: Bearer ...".
	Headers     map[string]string
	BearerToken string
	// Timeout bounds one request. Default 30 s.
	Timeout time.Duration
	// CAFile is a PEM file of the CAs that sign the server's certificate
	// (default: the system's); InsecureSkipVerify skips the check.
	CAFile             string
	InsecureSkipVerify bool
}

// RemoteWriteSink sends Prometheus remote write 1.0 requests (snappy
// protobuf WriteRequest) to a URL: another Lightning DB's /api/v1/write,
// VictoriaMetrics, Prometheus with its remote-write receiver.
type RemoteWriteSink struct {
	opts   RemoteWriteOptions
	client *http.Client
	buf    []byte
	enc    []byte
}

// NewRemoteWriteSink checks opts and makes the sink.
func NewRemoteWriteSink(opts RemoteWriteOptions) (*RemoteWriteSink, error) {
	if opts.Timeout <= 0 {
		opts.Timeout = 30 * time.Second
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: opts.InsecureSkipVerify} //nolint:gosec // asked for
	if opts.CAFile != "" {
		pem, err := os.ReadFile(opts.CAFile)
		if err != nil {
			return nil, fmt.Errorf("forward tls ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("forward tls ca %s: no PEM certificate in it", opts.CAFile)
		}
		tr.TLSClientConfig.RootCAs = pool
	}
	return &RemoteWriteSink{opts: opts, client: &http.Client{Transport: tr, Timeout: opts.Timeout}}, nil
}

// Send implements Sink.
func (s *RemoteWriteSink) Send(ctx context.Context, b *Batch) error {
	s.buf = AppendWriteRequest(s.buf[:0], b)
	s.enc = s2.EncodeSnappy(s.enc[:cap(s.enc)], s.buf)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.opts.URL, bytes.NewReader(s.enc))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-protobuf")
	req.Header.Set("Content-Encoding", "snappy")
	req.Header.Set("X-Prometheus-Remote-Write-Version", "0.1.0")
	req.Header.Set("User-Agent", "lightning-db-forwarder")
	for k, v := range s.opts.Headers {
		req.Header.Set(k, v)
	}
	if s.opts.BearerToken != "" {
		req.Header.Set("Authorization", "Bearer "+s.opts.BearerToken)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20)) // keep the connection
	if resp.StatusCode/100 == 2 {
		return nil
	}
	return &StatusError{Code: resp.StatusCode, Body: string(bytes.TrimSpace(body))}
}

// statusCode is the label of forward_requests_total for err.
func statusCode(err error) string {
	var se *StatusError
	switch {
	case err == nil:
		return "2xx"
	case errors.As(err, &se):
		return strconv.Itoa(se.Code)
	}
	return "error"
}

// AppendWriteRequest appends the protobuf encoding of b as a remote
// write 1.0 WriteRequest:
//
//	WriteRequest { repeated TimeSeries timeseries = 1; }
//	TimeSeries   { repeated Label labels = 1; repeated Sample samples = 2; }
//	Label        { string name = 1; string value = 2; }
//	Sample       { double value = 1; int64 timestamp = 2; }
func AppendWriteRequest(dst []byte, b *Batch) []byte {
	for i := range b.Series {
		ts := appendTimeSeries(nil, &b.Series[i])
		dst = protowire.AppendTag(dst, 1, protowire.BytesType)
		dst = protowire.AppendBytes(dst, ts)
	}
	return dst
}

func appendTimeSeries(dst []byte, s *Series) []byte {
	_ = series.ForEachCanonical(s.Labels, func(name, value []byte) error {
		n := protowire.SizeTag(1) + protowire.SizeBytes(len(name)) + protowire.SizeTag(2) + protowire.SizeBytes(len(value))
		dst = protowire.AppendTag(dst, 1, protowire.BytesType)
		dst = protowire.AppendVarint(dst, uint64(n))
		dst = protowire.AppendTag(dst, 1, protowire.BytesType)
		dst = protowire.AppendBytes(dst, name)
		dst = protowire.AppendTag(dst, 2, protowire.BytesType)
		dst = protowire.AppendBytes(dst, value)
		return nil
	})
	for i, t := range s.T {
		n := protowire.SizeTag(1) + 8 + protowire.SizeTag(2) + protowire.SizeVarint(uint64(t))
		dst = protowire.AppendTag(dst, 2, protowire.BytesType)
		dst = protowire.AppendVarint(dst, uint64(n))
		dst = protowire.AppendTag(dst, 1, protowire.Fixed64Type)
		dst = protowire.AppendFixed64(dst, math.Float64bits(s.V[i]))
		dst = protowire.AppendTag(dst, 2, protowire.VarintType)
		dst = protowire.AppendVarint(dst, uint64(t))
	}
	return dst
}
