package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Proto is a write protocol a driver speaks.
type Proto string

// Write protocols.
const (
	LPv1 Proto = "lp-v1" // InfluxDB 1.x /write
	LPv2 Proto = "lp-v2" // InfluxDB 2.x /api/v2/write
	RWv1 Proto = "rw-1.0"
	RWv2 Proto = "rw-2.0"
)

// IngestOptions bound and shape one ingestion run.
type IngestOptions struct {
	Conns int // concurrent HTTP connections, each sending one request at a time
	// Rate caps samples/s offered (0 = as fast as the target answers).
	Rate        float64
	MaxDuration time.Duration // stop dispatching after this (0 = no limit)
	Gzip        bool          // line protocol bodies are gzip-compressed
	// MaxRetries of a request answered 429/503 (back-pressure), waiting
	// Retry-After capped at 1 s; default 20.
	MaxRetries int
}

// IngestResult is what one ingestion run measured on the client side.
type IngestResult struct {
	Requests    int             `json:"requests"`
	Samples     int64           `json:"samples_accepted"`
	Rejected    int64           `json:"samples_rejected"`
	Errors      int             `json:"errors"`
	Retries     int             `json:"retries"`
	FirstError  string          `json:"first_error,omitempty"`
	Unsupported string          `json:"unsupported,omitempty"`
	Elapsed     time.Duration   `json:"-"`
	Latencies   []time.Duration `json:"-"`
}

// Ingest sends bodies to url over opts.Conns connections and returns what
// the target acknowledged. Bodies with Shard >= 0 always travel on
// connection Shard%Conns, in order; others go to whichever is free. The
// first 404, 405 or 415, or a remote-write 2.0 reply without the
// X-Prometheus-Remote-Write-Samples-Written header (a 1.x receiver that
// decoded an empty request), ends the run as unsupported.
func Ingest(ctx context.Context, url string, proto Proto, bodies []Body, opts IngestOptions) IngestResult {
	opts.Conns = max(opts.Conns, 1)
	if opts.MaxRetries == 0 {
		opts.MaxRetries = 20
	}
	if opts.MaxDuration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, opts.MaxDuration)
		defer cancel()
	}
	ctx, stop := context.WithCancel(ctx)
	defer stop()

	shared := make(chan *Body, opts.Conns)
	queues := make([]chan *Body, opts.Conns)
	results := make([]IngestResult, opts.Conns)
	var wg sync.WaitGroup
	start := time.Now()
	for c := range opts.Conns {
		queues[c] = make(chan *Body, 2)
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := &sender{url: url, proto: proto, opts: opts, res: &results[c], stop: stop,
				client: &http.Client{Timeout: 120 * time.Second, Transport: &http.Transport{
					MaxIdleConnsPerHost: 1, MaxConnsPerHost: 1, DisableCompression: true,
				}}}
			s.loop(ctx, queues[c], shared)
			s.client.CloseIdleConnections()
		}()
	}
	dispatch(ctx, bodies, opts, queues, shared, start)
	for _, q := range queues {
		close(q)
	}
	close(shared)
	wg.Wait()
	var total IngestResult
	for _, r := range results {
		total.Requests += r.Requests
		total.Samples += r.Samples
		total.Rejected += r.Rejected
		total.Errors += r.Errors
		total.Retries += r.Retries
		total.Latencies = append(total.Latencies, r.Latencies...)
		if total.FirstError == "" {
			total.FirstError = r.FirstError
		}
		if total.Unsupported == "" {
			total.Unsupported = r.Unsupported
		}
	}
	total.Elapsed = time.Since(start)
	return total
}

// dispatch hands bodies out in order, pacing them to opts.Rate.
func dispatch(ctx context.Context, bodies []Body, opts IngestOptions, queues []chan *Body, shared chan *Body, start time.Time) {
	var offered float64
	for i := range bodies {
		b := &bodies[i]
		if opts.Rate > 0 {
			due := start.Add(time.Duration(offered / opts.Rate * float64(time.Second)))
			if d := time.Until(due); d > 0 {
				select {
				case <-time.After(d):
				case <-ctx.Done():
					return
				}
			}
			offered += float64(b.Samples)
		}
		q := shared
		if b.Shard >= 0 {
			q = queues[b.Shard%len(queues)]
		}
		select {
		case q <- b:
		case <-ctx.Done():
			return
		}
	}
}

type sender struct {
	url    string
	proto  Proto
	opts   IngestOptions
	client *http.Client
	res    *IngestResult
	stop   context.CancelFunc
}

func (s *sender) loop(ctx context.Context, own, shared <-chan *Body) {
	for own != nil || shared != nil {
		var b *Body
		var ok bool
		select {
		case b, ok = <-own:
			if !ok {
				own = nil
				continue
			}
		case b, ok = <-shared:
			if !ok {
				shared = nil
				continue
			}
		}
		if ctx.Err() != nil {
			continue // drain: the run is over
		}
		s.send(ctx, b)
	}
}

func (s *sender) send(ctx context.Context, b *Body) {
	t0 := time.Now()
	for attempt := 0; ; attempt++ {
		status, hdr, msg, err := s.post(ctx, b)
		if err != nil {
			if ctx.Err() == nil {
				s.fail(b, err.Error())
			}
			return
		}
		if (status == 429 || status == 503) && attempt < s.opts.MaxRetries {
			s.res.Retries++
			wait := 50 * time.Millisecond
			if ra, err := strconv.Atoi(hdr.Get("Retry-After")); err == nil {
				wait = min(time.Duration(ra)*time.Second, time.Second)
			}
			select {
			case <-time.After(wait):
				continue
			case <-ctx.Done():
				return
			}
		}
		s.res.Requests++
		s.res.Latencies = append(s.res.Latencies, time.Since(t0))
		s.account(b, status, hdr, msg)
		return
	}
}

func (s *sender) account(b *Body, status int, hdr http.Header, msg string) {
	written := hdr.Get("X-Prometheus-Remote-Write-Samples-Written")
	switch {
	case status == 404 || status == 405 || status == 415:
		s.res.Unsupported = fmt.Sprintf("unsupported by target: %s answered %d %s", s.proto, status, msg)
		s.stop()
	case s.proto == RWv2 && status/100 == 2 && written == "":
		s.res.Unsupported = "unsupported by target: rw-2.0 answered 2xx without X-Prometheus-Remote-Write-Samples-Written (a 1.x receiver)"
		s.stop()
	case status/100 == 2:
		n := int64(b.Samples)
		if w, err := strconv.ParseInt(written, 10, 64); err == nil && s.proto == RWv2 {
			n = w
		}
		s.res.Samples += n
		s.res.Rejected += int64(b.Samples) - n
	default:
		n := int64(0)
		if w, err := strconv.ParseInt(written, 10, 64); err == nil {
			n = w // a partial write that says what it kept
		}
		s.res.Samples += n
		s.fail(b, fmt.Sprintf("%d %s", status, msg))
		s.res.Rejected -= n
	}
}

func (s *sender) fail(b *Body, msg string) {
	s.res.Errors++
	s.res.Rejected += int64(b.Samples)
	if s.res.FirstError == "" {
		s.res.FirstError = msg
	}
}

func (s *sender) post(ctx context.Context, b *Body) (int, http.Header, string, error) {
	req, err := http.NewRequestWithContext(ctx, "POST", s.url, bytes.NewReader(b.Data))
	if err != nil {
		return 0, nil, "", err
	}
	switch s.proto {
	case LPv1, LPv2:
		req.Header.Set("Content-Type", "text/plain; charset=utf-8")
		if s.opts.Gzip {
			req.Header.Set("Content-Encoding", "gzip")
		}
	case RWv1:
		req.Header.Set("Content-Type", "application/x-protobuf")
		req.Header.Set("Content-Encoding", "snappy")
		req.Header.Set("X-Prometheus-Remote-Write-Version", "0.1.0")
	case RWv2:
		req.Header.Set("Content-Type", "application/x-protobuf;proto=io.prometheus.write.v2.Request")
		req.Header.Set("Content-Encoding", "snappy")
		req.Header.Set("X-Prometheus-Remote-Write-Version", "2.0.0")
	}
	req.Header.Set("User-Agent", "lightning-bench")
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, nil, "", err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, resp.Header, string(bytes.TrimSpace(msg)), nil
}
