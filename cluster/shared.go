package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/nats-io/nats.go/jetstream"
)

// Shared is a table every node shares through a JetStream KV bucket,
// "<Stream>_<name>": rows a node Publishes are put there, and every row
// there (the node's own included) is handed to each node's learn. A row's
// key is a hash of what identifies it (bucket keys admit few
// characters); its value is the row as JSON. Two tables use it:
//
//   - the InfluxQL catalog (ShareCatalog): rows are only ever added. At
//     start, and again after a failed put, the rows of the local catalog
//     the bucket lacks are put (reconcile), so a row an ingest node
//     learnt just before it crashed still reaches the others;
//   - remote write metadata (ShareMetadata): one row per metric name, the
//     latest wins. The reconcile puts the metadata this node's senders
//     sent for the metric names the bucket lacks.
type Shared[T any] struct {
	n     *Node
	name  string
	kv    jetstream.KeyValue
	key   func(T) string
	local func() []T
	learn func(T)
	q     chan T
	dirty chan struct{} // a put failed or the queue overflowed: reconcile
	// initial hands the keys the bucket held when the watcher started to
	// the publisher, which reconciles (the watcher goes on learning).
	initial chan map[string]struct{}
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

const (
	sharedQueue     = 10000
	sharedMaxBytes  = 128 << 20
	sharedReconcile = 30 * time.Second
)

// hashKey returns a bucket key for the parts that identify a row.
func hashKey(parts ...string) string {
	h := xxhash.New()
	for _, s := range parts {
		_, _ = h.WriteString(s)
		_, _ = h.Write([]byte{0xff})
	}
	return strconv.FormatUint(h.Sum64(), 16)
}

// CatalogRow is one entry of the InfluxQL measurement catalog: the metric
// name a field of a measurement of database DB is stored as. Only the
// node that parsed the line protocol knows it; the catalog bucket shares
// it with every node, so a storage or query node reads cpu_load_short as
// measurement cpu_load, field short (and not cpu_load_short, term).
type CatalogRow struct {
	DB          string `json:"db"`
	Metric      string `json:"metric"`
	Measurement string `json:"m"`
	Field       string `json:"f"`
}

func (r CatalogRow) key() string { return hashKey(r.DB, r.Metric, r.Measurement, r.Field) }

// MetadataRow is the remote write metadata of one metric name (the
// fields of Prometheus's /api/v1/metadata).
type MetadataRow struct {
	Metric string `json:"metric"`
	Type   string `json:"type"`
	Help   string `json:"help"`
	Unit   string `json:"unit"`
}

func (r MetadataRow) key() string { return hashKey(r.Metric) }

// ShareCatalog joins the catalog bucket. local lists the rows this node
// knows; learn is given every row of the bucket, from the watcher's
// goroutine. It stops with the node.
func (n *Node) ShareCatalog(ctx context.Context, local func() []CatalogRow, learn func(CatalogRow)) (*Shared[CatalogRow], error) {
	return share(ctx, n, "catalog", CatalogRow.key, local, learn)
}

// ShareMetadata joins the metadata bucket. local lists what this node's
// senders sent; learn is given every metric's latest metadata, from the
// watcher's goroutine. It stops with the node.
func (n *Node) ShareMetadata(ctx context.Context, local func() []MetadataRow, learn func(MetadataRow)) (*Shared[MetadataRow], error) {
	return share(ctx, n, "metadata", MetadataRow.key, local, learn)
}

func share[T any](ctx context.Context, n *Node, name string, key func(T) string, local func() []T, learn func(T)) (*Shared[T], error) {
	kv, err := n.kv(ctx, jetstream.KeyValueConfig{Bucket: n.o.Stream + "_" + name,
		Storage: jetstream.FileStorage, Replicas: n.o.Replicas, MaxBytes: sharedMaxBytes})
	if err != nil {
		return nil, err
	}
	lctx, cancel := context.WithCancel(context.Background())
	s := &Shared[T]{n: n, name: name, kv: kv, key: key, local: local, learn: learn, cancel: cancel,
		q: make(chan T, sharedQueue), dirty: make(chan struct{}, 1), initial: make(chan map[string]struct{}, 1)}
	n.mu.Lock()
	if _, ok := n.shared[name]; ok {
		n.mu.Unlock()
		cancel()
		return nil, fmt.Errorf("cluster: the %s is shared already", name)
	}
	n.shared[name] = s
	n.mu.Unlock()
	s.wg.Add(2)
	go s.watch(lctx)
	go s.publish(lctx)
	return s, nil
}

// Publish queues a row the local table has just learnt or changed; it
// never blocks (a full queue is made good by the next reconcile).
func (s *Shared[T]) Publish(r T) {
	select {
	case s.q <- r:
	default:
		s.markDirty()
	}
}

func (s *Shared[T]) markDirty() {
	select {
	case s.dirty <- struct{}{}:
	default:
	}
}

// watch hands every row of the bucket to learn; once the bucket's
// initial rows are in, the publisher reconciles. The watcher survives NATS
// reconnects (an ordered consumer); if it ends it is made again.
func (s *Shared[T]) watch(ctx context.Context) {
	defer s.wg.Done()
	for ctx.Err() == nil {
		if err := s.watchOnce(ctx); err != nil && ctx.Err() == nil {
			s.n.log.Warn("shared bucket watch ended; again in a second", "table", s.name, "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
}

func (s *Shared[T]) watchOnce(ctx context.Context) error {
	w, err := s.kv.WatchAll(ctx, jetstream.IgnoreDeletes())
	if err != nil {
		return err
	}
	defer func() { _ = w.Stop() }()
	seen := map[string]struct{}{} // until the initial rows are in
	for {
		select {
		case <-ctx.Done():
			return nil
		case e, ok := <-w.Updates():
			if !ok {
				return errors.New("updates closed")
			}
			if e == nil {
				select {
				case s.initial <- seen:
				default: // a reconcile is pending already: it lists the keys
					s.markDirty()
				}
				seen = nil
				continue
			}
			var r T
			if err := json.Unmarshal(e.Value(), &r); err != nil {
				s.n.log.Warn("bad shared row", "table", s.name, "key", e.Key(), "err", err)
				continue
			}
			if seen != nil {
				seen[e.Key()] = struct{}{}
			}
			s.n.m.sharedReceived.WithLabelValues(s.name).Inc()
			s.learn(r)
		}
	}
}

// reconcile puts the local rows the bucket lacks (seen: its keys); nil
// seen reads the keys first.
func (s *Shared[T]) reconcile(ctx context.Context, seen map[string]struct{}) {
	if seen == nil {
		seen = map[string]struct{}{}
		keys, err := s.kv.ListKeys(ctx)
		if err != nil {
			s.n.log.Warn("shared table reconcile: list keys", "table", s.name, "err", err)
			s.markDirty()
			return
		}
		for k := range keys.Keys() {
			seen[k] = struct{}{}
		}
	}
	put := 0
	for _, r := range s.local() {
		if _, ok := seen[s.key(r)]; ok {
			continue
		}
		if err := s.put(ctx, r); err != nil {
			s.n.log.Warn("shared table reconcile: put", "table", s.name, "err", err)
			s.markDirty()
			return
		}
		put++
	}
	if put > 0 {
		s.n.log.Info("shared table reconciled: rows the bucket lacked were put", "table", s.name, "rows", put)
	}
}

func (s *Shared[T]) put(ctx context.Context, r T) error {
	v, err := json.Marshal(r)
	if err != nil {
		return err
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := s.kv.Put(pctx, s.key(r), v); err != nil {
		s.n.m.sharedPutErrors.WithLabelValues(s.name).Inc()
		return fmt.Errorf("%s row: %w", s.name, err)
	}
	return nil
}

// publish puts the queued rows, and reconciles after a failure.
func (s *Shared[T]) publish(ctx context.Context) {
	defer s.wg.Done()
	t := time.NewTicker(sharedReconcile)
	defer t.Stop()
	dirty := false
	for {
		select {
		case <-ctx.Done():
			return
		case r := <-s.q:
			if err := s.put(ctx, r); err != nil && ctx.Err() == nil {
				s.n.log.Warn("shared row put failed; reconciled later", "table", s.name, "err", err)
				dirty = true
			}
		case seen := <-s.initial:
			s.reconcile(ctx, seen)
		case <-s.dirty:
			dirty = true
		case <-t.C:
			if dirty {
				dirty = false
				s.reconcile(ctx, nil)
			}
		}
	}
}

// stop ends the watcher and the publisher (Node.Close); rows still
// queued are put by the next start's reconcile.
func (s *Shared[T]) stop() {
	s.cancel()
	s.wg.Wait()
}
