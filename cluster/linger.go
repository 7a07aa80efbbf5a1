package cluster

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/lightningdb/lightningdb/series"
)

// lingerer gathers the series records of concurrent writes into one
// message per partition (Options.PublishLinger): a message is published
// when its partition's records reach maxRawBytes or linger after its
// first record, and every write waits for the PubAck of each message
// holding a part of it. JetStream's cost is mostly per message, so fewer,
// bigger messages cost less CPU (bench/results/cluster-ingest.md).
type lingerer struct {
	p      *Publisher
	linger time.Duration
	mu     sync.Mutex // protects open
	open   map[int]*pendingMsg
}

// pendingMsg is a message being gathered, then published.
type pendingMsg struct {
	part    int
	count   int    // series records
	records []byte // series records, back to back
	done    chan struct{}
	err     error // set before done is closed
}

func newLingerer(p *Publisher, linger time.Duration) *lingerer {
	return &lingerer{p: p, linger: linger, open: map[int]*pendingMsg{}}
}

// append adds b's parts to the open messages and waits for their PubAcks.
func (l *lingerer) append(ctx context.Context, b *series.Batch, skip []series.Rejection) error {
	parts := split(b, l.p.partitions, maxRawBytes, skip)
	waits := make([]*pendingMsg, 0, len(parts))
	var raw []byte
	for _, pt := range parts {
		raw = appendSeries(raw[:0], b, pt.spans)
		pm := l.add(pt.p, len(pt.spans), raw)
		if len(waits) == 0 || waits[len(waits)-1] != pm {
			waits = append(waits, pm)
		}
	}
	for _, pm := range waits {
		select {
		case <-pm.done:
			if pm.err != nil {
				return pm.err
			}
		case <-ctx.Done():
			return fmt.Errorf("%w: the cluster's stream did not acknowledge the write in time: %v", series.ErrOverloaded, ctx.Err())
		}
	}
	return nil
}

// add appends count series records to partition part's open message and
// returns it; a message that would grow past maxRawBytes is sent first.
func (l *lingerer) add(part, count int, records []byte) *pendingMsg {
	l.mu.Lock()
	defer l.mu.Unlock()
	pm := l.open[part]
	if pm != nil && len(pm.records)+len(records) > maxRawBytes {
		delete(l.open, part)
		go l.send(pm)
		pm = nil
	}
	if pm == nil {
		pm = &pendingMsg{part: part, done: make(chan struct{})}
		l.open[part] = pm
		time.AfterFunc(l.linger, func() { l.sendIfOpen(pm) })
	}
	pm.count += count
	pm.records = append(pm.records, records...)
	return pm
}

func (l *lingerer) sendIfOpen(pm *pendingMsg) {
	l.mu.Lock()
	if l.open[pm.part] != pm {
		l.mu.Unlock()
		return // sent when it filled up
	}
	delete(l.open, pm.part)
	l.mu.Unlock()
	l.send(pm)
}

// send publishes pm until its PubAck or PublishTimeout, and wakes its
// writers.
func (l *lingerer) send(pm *pendingMsg) {
	data, _ := sealMessage(nil, nil, pm.count, pm.records)
	id := l.p.idPrefix + strconv.FormatUint(l.p.seq.Add(1), 36)
	msg := &nats.Msg{Subject: Subject(l.p.stream, pm.part), Data: data,
		Header: nats.Header{jetstream.MsgIDHeader: []string{id}}}
	ctx, cancel := context.WithTimeout(context.Background(), l.p.timeout)
	defer cancel()
	pm.err = l.p.publishAll(ctx, []*nats.Msg{msg})
	if pm.err == nil {
		l.p.m.publishMessages.Inc()
	}
	close(pm.done)
}
