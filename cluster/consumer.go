package cluster

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/lightningdb/lightningdb/series"
)

// fetchBatch is the most messages one fetch asks for, and one Append
// stores; groupBytes bounds the payload bytes (compressed) of one Append,
// so that a replay of big messages stays well under the engine's memtable
// budget.
const (
	fetchBatch = 256
	groupBytes = 4 << 20
)

// partConsumer reads one owned partition through the node's durable pull
// consumer "ldb_<node>_p<NN>" and stores it in the local engine:
//
//  1. fetch up to fetchBatch messages (the first blocks, the rest are
//     those already delivered);
//  2. decode them all into one series.Batch and Append it: one WAL group
//     commit for the lot;
//  3. ack every message. A crash before 3 makes JetStream deliver them
//     again after AckWait; they are stored again, and the engine keeps one
//     sample per (series, timestamp), so nothing is counted twice.
//
// An Append error (overload, a full disk) naks the messages with a delay:
// they come back. A message that does not decode is terminated and
// counted (cluster_corrupt_messages_total): retrying cannot fix it.
type partConsumer struct {
	n        *Node
	p        int
	name     string
	caughtUp atomic.Bool  // reached the end of the stream once
	lag      atomic.Int64 // messages left after the last fetch
	cancel   context.CancelFunc
	done     chan struct{}
}

func consumerName(node string, p int) string { return fmt.Sprintf("ldb_%s_p%02d", node, p) }

func (n *Node) startPart(p int) *partConsumer {
	ctx, cancel := context.WithCancel(context.Background())
	pc := &partConsumer{n: n, p: p, name: consumerName(n.o.NodeID, p), cancel: cancel, done: make(chan struct{})}
	pc.lag.Store(-1)
	go func() {
		defer close(pc.done)
		pc.run(ctx)
	}()
	return pc
}

// stop ends the consumer and waits for the batch being stored.
func (pc *partConsumer) stop() {
	pc.cancel()
	<-pc.done
}

func (pc *partConsumer) run(ctx context.Context) {
	log := pc.n.log.With("partition", pc.p)
	cons, err := pc.consumer(ctx)
	if err != nil {
		return // ctx ended
	}
	var b series.Batch
	var scratch []byte
	for ctx.Err() == nil {
		mb, err := cons.Fetch(fetchBatch, jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			log.Debug("fetch", "err", err)
			if !sleep(ctx, 500*time.Millisecond) {
				return
			}
			if errors.Is(err, jetstream.ErrConsumerNotFound) { // deleted under us: make it again
				if cons, err = pc.consumer(ctx); err != nil {
					return
				}
			}
			continue
		}
		got, ok := pc.drain(ctx, mb, &b, &scratch)
		if !ok {
			return
		}
		if got == 0 && mb.Error() == nil {
			pc.caughtUp.Store(true)
			pc.lag.Store(0)
			pc.n.m.lag.WithLabelValues(partLabel(pc.p)).Set(0)
		}
	}
}

// consumer makes (or finds) the durable consumer, retrying until ctx ends.
func (pc *partConsumer) consumer(ctx context.Context) (jetstream.Consumer, error) {
	cfg := jetstream.ConsumerConfig{Durable: pc.name, FilterSubject: Subject(pc.n.o.Stream, pc.p),
		AckPolicy: jetstream.AckExplicitPolicy, DeliverPolicy: jetstream.DeliverAllPolicy,
		AckWait: pc.n.o.AckWait, MaxAckPending: 4 * fetchBatch, MaxRequestBatch: fetchBatch,
		InactiveThreshold: 7 * 24 * time.Hour, // a node gone for a week: its consumers go too
	}
	for {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		cons, err := pc.n.js.CreateOrUpdateConsumer(cctx, pc.n.o.Stream, cfg)
		cancel()
		if err == nil {
			return cons, nil
		}
		pc.n.log.Warn("create consumer", "consumer", pc.name, "err", err)
		if !sleep(ctx, time.Second) {
			return nil, ctx.Err()
		}
	}
}

// drain stores the messages of one fetch in groups: each group is the
// first message that arrives and every one already delivered behind it.
// It returns how many messages it stored, and false when ctx ended.
func (pc *partConsumer) drain(ctx context.Context, mb jetstream.MessageBatch, b *series.Batch, scratch *[]byte) (int, bool) {
	ch := mb.Messages()
	total := 0
	for {
		var msgs []jetstream.Msg
		select {
		case m, ok := <-ch:
			if !ok {
				return total, true
			}
			msgs = append(msgs, m)
		case <-ctx.Done():
			return total, false
		}
		size := len(msgs[0].Data())
	more:
		for len(msgs) < fetchBatch && size < groupBytes {
			select {
			case m, ok := <-ch:
				if !ok {
					break more
				}
				msgs = append(msgs, m)
				size += len(m.Data())
			default:
				break more
			}
		}
		pc.store(ctx, msgs, b, scratch)
		total += len(msgs)
	}
}

// store decodes msgs into one batch, appends it and acks them.
func (pc *partConsumer) store(ctx context.Context, msgs []jetstream.Msg, b *series.Batch, scratch *[]byte) {
	b.Reset()
	keep := msgs[:0]
	for _, m := range msgs {
		before := b.Len()
		var err error
		if *scratch, err = UnmarshalMessage(b, m.Data(), *scratch); err != nil {
			for b.Len() > before {
				b.DropLast()
			}
			pc.n.m.corruptMsgs.Inc()
			pc.n.log.Error("corrupt message terminated", "partition", pc.p, "subject", m.Subject(), "err", err)
			m.Term()
			continue
		}
		keep = append(keep, m)
	}
	if len(keep) == 0 {
		return
	}
	// The append is not cut short by ctx: a batch being stored at
	// shutdown finishes and is acknowledged.
	res, err := pc.n.app.Append(context.WithoutCancel(ctx), b)
	if errors.Is(err, series.ErrBatchTooLarge) && len(keep) > 1 {
		// Over the engine's budget as one batch: store them one by one.
		for _, m := range keep {
			pc.store(ctx, []jetstream.Msg{m}, b, scratch)
		}
		return
	}
	if err != nil {
		pc.n.log.Warn("store failed; messages will be delivered again", "partition", pc.p, "messages", len(keep), "err", err)
		for _, m := range keep {
			m.NakWithDelay(time.Second)
		}
		return
	}
	if len(res.Rejected) > 0 {
		pc.n.m.rejectedSeries.Add(float64(len(res.Rejected)))
		pc.n.log.Warn("series rejected by the engine", "partition", pc.p, "count", len(res.Rejected), "first", res.Rejected[0].Err)
		pc.n.tellTypes(b, res.Rejected)
	}
	for _, m := range keep {
		m.Ack()
	}
	pc.n.m.consumedMsgs.Add(float64(len(keep)))
	pc.n.m.consumedSamples.Add(float64(b.Samples()))
	if md, err := keep[len(keep)-1].Metadata(); err == nil {
		pc.lag.Store(int64(md.NumPending))
		pc.n.m.lag.WithLabelValues(partLabel(pc.p)).Set(float64(md.NumPending))
		if md.NumPending == 0 {
			pc.caughtUp.Store(true)
		}
	}
}

// sleep waits d or until ctx ends; it reports whether ctx is still live.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
