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

// catalogKey is the row's key in the bucket: a hash, as bucket keys admit
// few characters; the value holds the row itself.
func (r CatalogRow) key() string {
	h := xxhash.New()
	for _, s := range [4]string{r.DB, r.Metric, r.Measurement, r.Field} {
		_, _ = h.WriteString(s)
		_, _ = h.Write([]byte{0xff})
	}
	return strconv.FormatUint(h.Sum64(), 16)
}

// Catalog is a node's share of the catalog bucket "<Stream>_catalog":
// what Publish is given is put there, and every row there is handed to
// learn. At start, and again after a failed put, the rows of the local
// catalog the bucket lacks are put (reconcile), so a row an ingest node
// learnt just before it crashed still reaches the others.
type Catalog struct {
	n      *Node
	kv     jetstream.KeyValue
	local  func() []CatalogRow
	learn  func(CatalogRow)
	q      chan CatalogRow
	dirty  chan struct{} // a put failed or the queue overflowed: reconcile
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

const (
	catalogQueue     = 10000
	catalogMaxBytes  = 128 << 20
	catalogReconcile = 30 * time.Second
)

// ShareCatalog joins the catalog bucket. local lists the rows this node
// knows; learn is given every row of the bucket (this node's too), from
// the watcher's goroutine. It stops with the node.
func (n *Node) ShareCatalog(ctx context.Context, local func() []CatalogRow, learn func(CatalogRow)) (*Catalog, error) {
	kv, err := n.kv(ctx, jetstream.KeyValueConfig{Bucket: n.o.Stream + "_catalog",
		Storage: jetstream.FileStorage, Replicas: n.o.Replicas, MaxBytes: catalogMaxBytes})
	if err != nil {
		return nil, err
	}
	lctx, cancel := context.WithCancel(context.Background())
	c := &Catalog{n: n, kv: kv, local: local, learn: learn, cancel: cancel,
		q: make(chan CatalogRow, catalogQueue), dirty: make(chan struct{}, 1)}
	n.mu.Lock()
	if n.catalog != nil {
		n.mu.Unlock()
		cancel()
		return nil, errors.New("cluster: the catalog is shared already")
	}
	n.catalog = c
	n.mu.Unlock()
	c.wg.Add(2)
	go c.watch(lctx)
	go c.publish(lctx)
	return c, nil
}

// Publish queues a row the local catalog has just learnt; it never
// blocks (a full queue is made good by the next reconcile).
func (c *Catalog) Publish(r CatalogRow) {
	select {
	case c.q <- r:
	default:
		c.markDirty()
	}
}

func (c *Catalog) markDirty() {
	select {
	case c.dirty <- struct{}{}:
	default:
	}
}

// watch hands every row of the bucket to learn; once the bucket's
// initial rows are in, it reconciles. The watcher survives NATS
// reconnects (an ordered consumer); if it ends it is made again.
func (c *Catalog) watch(ctx context.Context) {
	defer c.wg.Done()
	for ctx.Err() == nil {
		if err := c.watchOnce(ctx); err != nil && ctx.Err() == nil {
			c.n.log.Warn("catalog bucket watch ended; again in a second", "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
}

func (c *Catalog) watchOnce(ctx context.Context) error {
	w, err := c.kv.WatchAll(ctx, jetstream.IgnoreDeletes())
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
				c.reconcile(ctx, seen)
				seen = nil
				continue
			}
			var r CatalogRow
			if err := json.Unmarshal(e.Value(), &r); err != nil {
				c.n.log.Warn("bad catalog entry", "key", e.Key(), "err", err)
				continue
			}
			if seen != nil {
				seen[e.Key()] = struct{}{}
			}
			c.n.m.catalogLearnt.Inc()
			c.learn(r)
		}
	}
}

// reconcile puts the local rows the bucket lacks (seen: its keys); nil
// seen reads the keys first.
func (c *Catalog) reconcile(ctx context.Context, seen map[string]struct{}) {
	if seen == nil {
		seen = map[string]struct{}{}
		keys, err := c.kv.ListKeys(ctx)
		if err != nil {
			c.n.log.Warn("catalog reconcile: list keys", "err", err)
			c.markDirty()
			return
		}
		for k := range keys.Keys() {
			seen[k] = struct{}{}
		}
	}
	put := 0
	for _, r := range c.local() {
		if _, ok := seen[r.key()]; ok {
			continue
		}
		if err := c.put(ctx, r); err != nil {
			c.n.log.Warn("catalog reconcile: put", "err", err)
			c.markDirty()
			return
		}
		put++
	}
	if put > 0 {
		c.n.log.Info("catalog reconciled: rows the bucket lacked were put", "rows", put)
	}
}

func (c *Catalog) put(ctx context.Context, r CatalogRow) error {
	v, err := json.Marshal(r)
	if err != nil {
		return err
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := c.kv.Put(pctx, r.key(), v); err != nil {
		c.n.m.catalogErrors.Inc()
		return fmt.Errorf("catalog row %s/%s: %w", r.DB, r.Metric, err)
	}
	return nil
}

// publish puts the queued rows, and reconciles after a failure.
func (c *Catalog) publish(ctx context.Context) {
	defer c.wg.Done()
	t := time.NewTicker(catalogReconcile)
	defer t.Stop()
	dirty := false
	for {
		select {
		case <-ctx.Done():
			return
		case r := <-c.q:
			if err := c.put(ctx, r); err != nil && ctx.Err() == nil {
				c.n.log.Warn("catalog put failed; reconciled later", "err", err)
				dirty = true
			}
		case <-c.dirty:
			dirty = true
		case <-t.C:
			if dirty {
				dirty = false
				c.reconcile(ctx, nil)
			}
		}
	}
}

// stop ends the watcher and the publisher (Node.Close); rows still
// queued are put by the next start's reconcile.
func (c *Catalog) stop() {
	c.cancel()
	c.wg.Wait()
}
