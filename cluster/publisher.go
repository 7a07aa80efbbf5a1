package cluster

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"

	"github.com/lightningdb/lightningdb/series"
)

// Publisher is the ingest side of a node: an ingest.Appender that
// publishes each batch to the stream instead of storing it.
//
// Append splits the batch by partition (PartitionOf), encodes one
// message per partition (more when a part is over maxRawBytes; with
// PublishLinger, messages shared with the concurrent writes of that
// window, see lingerer), publishes them asynchronously and returns only
// when JetStream has acknowledged every one holding a part of it: at Replicas 3 a PubAck means the message is
// stored on a quorum of the NATS servers. A message whose PubAck does not
// come (a timeout, a NATS server down, a leader election) is published
// again with the same Nats-Msg-Id, so the stream stores it once. When
// PublishTimeout passes first, Append returns an error wrapping
// series.ErrOverloaded (503 with Retry-After): the client retries; the
// messages that were stored meanwhile are stored again under new IDs,
// which is harmless since storage nodes keep one sample per (series,
// timestamp).
//
// A series whose value type differs from the one this node last
// published for it is refused to the client (typeMemo), the rest of the
// write kept, as on a single node; a conflict this node cannot see is
// rejected by the storage node (cluster_rejected_series_total).
//
// Append is safe for concurrent use.
type Publisher struct {
	js         jetstream.JetStream
	stream     string
	partitions int
	timeout    time.Duration
	m          *metrics
	idPrefix   string // node and process: Msg-IDs never repeat across restarts
	seq        atomic.Uint64
	bufs       sync.Pool // *[]byte, raw body scratch
	linger     *lingerer // nil: one message per partition per write
	types      typeMemo
}

func newPublisher(js jetstream.JetStream, o Options, m *metrics) *Publisher {
	p := &Publisher{js: js, stream: o.Stream, partitions: o.Partitions, timeout: o.PublishTimeout, m: m,
		idPrefix: o.NodeID + "-" + nuid.Next() + "-"}
	if o.PublishLinger > 0 {
		p.linger = newLingerer(p, o.PublishLinger)
	}
	return p
}

// Append publishes b and waits for every PubAck (see Publisher).
func (p *Publisher) Append(ctx context.Context, b *series.Batch) (series.AppendResult, error) {
	if b.Len() == 0 {
		return series.AppendResult{}, nil
	}
	start := time.Now()
	hs := hashes(b)
	res := series.AppendResult{Accepted: b.Samples(), Rejected: p.types.check(b, hs)}
	for _, r := range res.Rejected {
		_, _, ts, _ := b.Series(r.Index)
		res.Accepted -= len(ts)
	}
	p.m.typeConflicts.Add(float64(len(res.Rejected)))
	if len(res.Rejected) == b.Len() {
		return res, nil
	}
	ctx, cancel := context.WithTimeout(ctx, p.timeout+p.lingerTime())
	defer cancel()
	if p.linger != nil {
		if err := p.linger.append(ctx, b, res.Rejected); err != nil {
			p.m.publishFailures.Inc()
			return series.AppendResult{}, err
		}
	} else {
		msgs := p.encode(b, res.Rejected)
		if err := p.publishAll(ctx, msgs); err != nil {
			p.m.publishFailures.Inc()
			return series.AppendResult{}, err
		}
		p.m.publishMessages.Add(float64(len(msgs)))
	}
	p.types.record(b, hs, res.Rejected)
	p.m.publishDuration.Observe(time.Since(start).Seconds())
	return res, nil
}

// encode returns the messages of b but its series skip, each with its
// Msg-ID.
func (p *Publisher) encode(b *series.Batch, skip []series.Rejection) []*nats.Msg {
	parts := split(b, p.partitions, maxRawBytes, skip)
	id := p.idPrefix + strconv.FormatUint(p.seq.Add(1), 36) + "-"
	sp, _ := p.bufs.Get().(*[]byte)
	if sp == nil {
		sp = new([]byte)
	}
	msgs := make([]*nats.Msg, len(parts))
	for k, pt := range parts {
		var data []byte
		data, *sp = appendMessage(nil, *sp, b, pt.spans)
		msgs[k] = &nats.Msg{Subject: Subject(p.stream, pt.p), Data: data,
			Header: nats.Header{jetstream.MsgIDHeader: []string{id + strconv.Itoa(k)}}}
	}
	p.bufs.Put(sp)
	return msgs
}

// publishAll publishes msgs until each has its PubAck, retrying the
// failed ones with the same Msg-ID, until ctx ends.
func (p *Publisher) publishAll(ctx context.Context, msgs []*nats.Msg) error {
	pending := msgs
	var cause error // the last error from NATS, not from ctx
	for attempt := 0; ; attempt++ {
		failed, lastErr := p.publishOnce(ctx, pending)
		if len(failed) == 0 {
			return nil
		}
		if lastErr != nil && ctx.Err() == nil || cause == nil {
			cause = lastErr
		}
		if isPermanent(lastErr) {
			return fmt.Errorf("cluster publish: %w", lastErr)
		}
		p.m.publishRetries.Add(float64(len(failed)))
		backoff := time.Duration(min(attempt+1, 10)) * 50 * time.Millisecond
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: the cluster's stream did not acknowledge the write in time (%d of %d messages pending): %v",
				series.ErrOverloaded, len(failed), len(msgs), cause)
		case <-time.After(backoff):
		}
		pending = failed
	}
}

// publishOnce publishes msgs asynchronously and waits for every outcome;
// it returns the messages that failed and the last error.
func (p *Publisher) publishOnce(ctx context.Context, msgs []*nats.Msg) ([]*nats.Msg, error) {
	futs := make([]jetstream.PubAckFuture, len(msgs))
	var failed []*nats.Msg
	var lastErr error
	for k, m := range msgs {
		f, err := p.js.PublishMsgAsync(m)
		if err != nil {
			failed, lastErr = append(failed, m), err
			continue
		}
		futs[k] = f
	}
	for k, f := range futs {
		if f == nil {
			continue
		}
		select {
		case <-f.Ok():
		case err := <-f.Err():
			failed, lastErr = append(failed, msgs[k]), err
		case <-ctx.Done():
			failed, lastErr = append(failed, msgs[k]), ctx.Err()
		}
	}
	return failed, lastErr
}

func (p *Publisher) lingerTime() time.Duration {
	if p.linger == nil {
		return 0
	}
	return p.linger.linger
}

// isPermanent reports whether a publish error cannot go away by retrying:
// an API error other than "temporarily unavailable" (a payload over the
// servers' max_payload, a subject no stream takes).
func isPermanent(err error) bool {
	if errors.Is(err, nats.ErrMaxPayload) {
		return true
	}
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.Code != 503 && apiErr.Code != 0
}
