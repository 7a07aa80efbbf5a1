package cluster

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/lightningdb/lightningdb/series"
)

// Roles a node can have.
const (
	RoleIngest  = "ingest"
	RoleStorage = "storage"
	RoleQuery   = "query"
)

// Appender stores batches durably: the local engine of a storage node.
// Append returns after the WAL commit (see ingest.Appender).
type Appender interface {
	Append(ctx context.Context, b *series.Batch) (series.AppendResult, error)
}

// Node is this process's place in a cluster: the NATS connection, the
// membership heartbeat, the assignment, and for the storage role one
// consumer per owned partition. See the package doc for the model.
type Node struct {
	o   Options
	log *slog.Logger
	m   *metrics
	nc  *nats.Conn
	js  jetstream.JetStream
	app Appender // storage role: the local engine
	pub *Publisher

	members, assign jetstream.KeyValue

	mu       sync.Mutex // protects the fields below
	live     map[string]Member
	table    Table
	tableRev uint64
	seenAt   time.Time // last refresh of live and table
	parts    map[int]*partConsumer
	catalog  *Catalog // ShareCatalog; nil until then

	// applyCh hands the latest table from the heartbeat loop to the
	// applier, which starts and stops consumers: stopping one waits for
	// its batch and deleting it is a JetStream round trip, and none of
	// that may delay a heartbeat (a late one makes the node look gone).
	applyCh chan Table
	cancel  context.CancelFunc
	wg      sync.WaitGroup // the loop and the applier
}

// Open connects to NATS, makes sure the stream and buckets exist (waiting
// up to StartTimeout for the NATS cluster), registers the node and starts
// its background loop. app is the local engine; it may be nil without the
// storage role.
func Open(ctx context.Context, o Options, app Appender) (*Node, error) {
	o = o.withDefaults()
	if err := o.Validate(); err != nil {
		return nil, err
	}
	if o.Storage && app == nil {
		return nil, errors.New("cluster: the storage role needs a local appender")
	}
	n := &Node{o: o, log: o.Logger.With("component", "cluster", "node", o.NodeID), m: newMetrics(o.Registerer),
		app: app, parts: map[int]*partConsumer{}, applyCh: make(chan Table, 1)}
	nopts, err := o.natsOptions()
	if err != nil {
		return nil, err
	}
	if n.nc, err = nats.Connect(strings.Join(o.URLs, ","), nopts...); err != nil {
		return nil, fmt.Errorf("cluster: connect to NATS: %w", err)
	}
	n.js, err = jetstream.New(n.nc, jetstream.WithPublishAsyncMaxPending(4096),
		jetstream.WithPublishAsyncTimeout(max(o.PublishTimeout/4, time.Second)))
	if err != nil {
		n.nc.Close()
		return nil, err
	}
	sctx, cancel := context.WithTimeout(ctx, o.StartTimeout)
	defer cancel()
	if err := n.setup(sctx); err != nil {
		n.nc.Close()
		return nil, err
	}
	if o.Ingest {
		n.pub = newPublisher(n.js, o, n.m)
		if err := n.learnTypes(); err != nil {
			n.nc.Close()
			return nil, fmt.Errorf("cluster: subscribe to type corrections: %w", err)
		}
	}
	lctx, lcancel := context.WithCancel(context.Background())
	n.cancel = lcancel
	n.tick(lctx) // register and take the assignment before serving
	n.wg.Add(2)
	go n.loop(lctx)
	go n.applier(lctx)
	return n, nil
}

func (o Options) natsOptions() ([]nats.Option, error) {
	opts := []nats.Option{nats.Name("lightning-db " + o.NodeID), nats.RetryOnFailedConnect(true),
		nats.MaxReconnects(-1), nats.ReconnectWait(250 * time.Millisecond)}
	if o.User != "" {
		opts = append(opts, nats.UserInfo(o.User, o.Password))
	}
	if o.Token != "" {
		opts = append(opts, nats.Token(o.Token))
	}
	if o.CredsFile != "" {
		opts = append(opts, nats.UserCredentials(o.CredsFile))
	}
	if o.CAFile != "" {
		opts = append(opts, nats.RootCAs(o.CAFile))
	}
	if o.CertFile != "" {
		opts = append(opts, nats.ClientCert(o.CertFile, o.KeyFile))
	}
	if o.CAFile != "" || o.CertFile != "" {
		opts = append(opts, nats.Secure(&tls.Config{MinVersion: tls.VersionTLS12}))
	}
	return opts, nil
}

// setup makes the stream and the buckets, retrying while the NATS
// cluster forms (no JetStream leader yet), and checks the partition
// count against the assignment table.
func (n *Node) setup(ctx context.Context) error {
	var last error
	for attempt := 0; ; attempt++ {
		if last = n.setupOnce(ctx); last == nil {
			return nil
		}
		var perm permanentError
		if errors.As(last, &perm) {
			return last
		}
		if attempt%10 == 0 {
			n.log.Info("waiting for the NATS cluster", "err", last)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("cluster: NATS JetStream not ready at %s: %w", strings.Join(n.o.URLs, ","), last)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

type permanentError struct{ error }

func (n *Node) setupOnce(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	dup := 2 * time.Minute
	if n.o.MaxAge > 0 {
		dup = min(dup, n.o.MaxAge)
	}
	cfg := jetstream.StreamConfig{Name: n.o.Stream, Subjects: []string{n.o.Stream + ".p.*"},
		Retention: jetstream.LimitsPolicy, MaxAge: n.o.MaxAge, Storage: jetstream.FileStorage,
		Replicas: n.o.Replicas, Duplicates: dup, Discard: jetstream.DiscardOld}
	if _, err := n.js.CreateStream(ctx, cfg); err != nil {
		if !errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			return fmt.Errorf("create stream %s: %w", n.o.Stream, err)
		}
		s, err := n.js.Stream(ctx, n.o.Stream)
		if err != nil {
			return err
		}
		if got := s.CachedInfo().Config; got.Replicas != n.o.Replicas || got.MaxAge != n.o.MaxAge {
			n.log.Warn("the stream exists with other settings; keeping them", "stream", n.o.Stream,
				"replicas", got.Replicas, "max_age", got.MaxAge)
		}
	}
	var err error
	if n.members, err = n.kv(ctx, jetstream.KeyValueConfig{Bucket: n.o.Stream + "_members", TTL: n.o.MemberTTL,
		Storage: jetstream.MemoryStorage, Replicas: n.o.Replicas}); err != nil {
		return err
	}
	if n.assign, err = n.kv(ctx, jetstream.KeyValueConfig{Bucket: n.o.Stream + "_assign", History: 8,
		Storage: jetstream.FileStorage, Replicas: n.o.Replicas}); err != nil {
		return err
	}
	t, _, err := n.readTable(ctx)
	if err != nil {
		return err
	}
	if t.Partitions != 0 && t.Partitions != n.o.Partitions {
		return permanentError{fmt.Errorf("cluster.partitions %d differs from the cluster's %d (fixed for the life of stream %s)",
			n.o.Partitions, t.Partitions, n.o.Stream)}
	}
	return nil
}

func (n *Node) kv(ctx context.Context, cfg jetstream.KeyValueConfig) (jetstream.KeyValue, error) {
	kv, err := n.js.CreateKeyValue(ctx, cfg)
	if errors.Is(err, jetstream.ErrBucketExists) {
		kv, err = n.js.KeyValue(ctx, cfg.Bucket)
	}
	if err != nil {
		return nil, fmt.Errorf("bucket %s: %w", cfg.Bucket, err)
	}
	return kv, nil
}

// readTable returns the assignment table and its revision; a zero Table
// and revision 0 when there is none yet.
func (n *Node) readTable(ctx context.Context) (Table, uint64, error) {
	e, err := n.assign.Get(ctx, "table")
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return Table{}, 0, nil
	}
	if err != nil {
		return Table{}, 0, fmt.Errorf("read assignment: %w", err)
	}
	t, err := unmarshalTable(e.Value())
	return t, e.Revision(), err
}

// Publisher returns the ingest appender; nil without the ingest role.
func (n *Node) Publisher() *Publisher { return n.pub }

// HasRole reports whether the node has role (RoleIngest, RoleStorage,
// RoleQuery).
func (n *Node) HasRole(role string) bool {
	switch role {
	case RoleIngest:
		return n.o.Ingest
	case RoleStorage:
		return n.o.Storage
	case RoleQuery:
		return n.o.Query
	}
	return false
}

// ID returns the node's ID.
func (n *Node) ID() string { return n.o.NodeID }

// Close leaves the cluster gracefully: it stops the consumers (a batch
// being stored finishes and is acknowledged), deletes the node's member
// entry so that its partitions move at once, and closes the connection.
// The durable consumers stay: a node that comes back resumes from them.
func (n *Node) Close(ctx context.Context) error {
	n.cancel()
	n.wg.Wait()
	n.mu.Lock()
	for _, pc := range n.parts {
		pc.cancel() // all at once; each then finishes the batch it stores
	}
	for p, pc := range n.parts {
		pc.stop()
		delete(n.parts, p)
	}
	cat := n.catalog
	n.mu.Unlock()
	if cat != nil {
		cat.stop()
	}
	var err error
	if n.pub != nil {
		select {
		case <-n.js.PublishAsyncComplete():
		case <-ctx.Done():
		}
	}
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if derr := n.members.Delete(dctx, n.o.NodeID); derr != nil {
		err = fmt.Errorf("cluster: deregister %s: %w", n.o.NodeID, derr)
	}
	n.nc.Close()
	return err
}

// loop ticks every MemberTTL/4 until ctx ends.
func (n *Node) loop(ctx context.Context) {
	defer n.wg.Done()
	t := time.NewTicker(n.o.MemberTTL / 4)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n.tick(ctx)
	}
}

// applier applies the tables the loop hands it until ctx ends.
func (n *Node) applier(ctx context.Context) {
	defer n.wg.Done()
	for {
		select {
		case <-ctx.Done():
			return
		case t := <-n.applyCh:
			n.apply(t)
		}
	}
}

// requestApply hands t to the applier, replacing a table it has not
// taken yet. Only the loop calls it.
func (n *Node) requestApply(t Table) {
	select {
	case <-n.applyCh:
	default:
	}
	n.applyCh <- t
}

// tick heartbeats, reads the members and the table, rewrites the table
// when the live storage members changed, and applies it.
func (n *Node) tick(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, n.o.MemberTTL/2)
	defer cancel()
	if err := n.heartbeat(ctx); err != nil {
		n.log.Warn("heartbeat", "err", err)
		return
	}
	live, err := n.readMembers(ctx)
	if err != nil {
		n.log.Warn("read members", "err", err)
		return
	}
	t, rev, err := n.readTable(ctx)
	if err != nil {
		n.log.Warn("read assignment", "err", err)
		return
	}
	var storage []string
	for id, m := range live {
		if m.has(RoleStorage) {
			storage = append(storage, id)
		}
	}
	if want := Assign(storage, n.o.Partitions); !slices.Equal(want.Owners, t.Owners) {
		if nrev, err := n.writeTable(ctx, want, rev); err == nil {
			n.m.assignUpdates.Inc()
			n.log.Info("assignment updated", "members", want.Members, "revision", nrev)
			t, rev = want, nrev
		} else {
			n.log.Debug("assignment update lost", "err", err) // another node wrote it: read next tick
		}
	}
	n.mu.Lock()
	n.live, n.table, n.tableRev, n.seenAt = live, t, rev, time.Now()
	n.mu.Unlock()
	n.m.liveMembers.Set(float64(len(live)))
	if n.o.Storage && len(t.Owners) == n.o.Partitions {
		n.requestApply(t)
	}
}

func (n *Node) writeTable(ctx context.Context, t Table, rev uint64) (uint64, error) {
	if rev == 0 {
		return n.assign.Create(ctx, "table", t.marshal())
	}
	return n.assign.Update(ctx, "table", t.marshal(), rev)
}

func (n *Node) heartbeat(ctx context.Context) error {
	m := Member{ID: n.o.NodeID, URL: n.o.AdvertiseURL}
	if n.o.Ingest {
		m.Roles = append(m.Roles, RoleIngest)
	}
	if n.o.Storage {
		m.Roles = append(m.Roles, RoleStorage)
	}
	if n.o.Query {
		m.Roles = append(m.Roles, RoleQuery)
	}
	n.mu.Lock()
	for p, pc := range n.parts {
		if pc.caughtUp.Load() {
			m.CaughtUp = append(m.CaughtUp, p)
		}
	}
	n.mu.Unlock()
	slices.Sort(m.CaughtUp)
	_, err := n.members.Put(ctx, n.o.NodeID, marshalMember(m))
	return err
}

// readMembers returns the live members: the entries of the members
// bucket that its MaxAge has not removed.
func (n *Node) readMembers(ctx context.Context) (map[string]Member, error) {
	w, err := n.members.WatchAll(ctx, jetstream.IgnoreDeletes())
	if err != nil {
		return nil, err
	}
	defer w.Stop()
	out := map[string]Member{}
	for {
		select {
		case e := <-w.Updates():
			if e == nil { // the initial values are all delivered
				return out, nil
			}
			m, err := unmarshalMember(e.Value())
			if err != nil {
				n.log.Warn("bad member entry", "key", e.Key(), "err", err)
				continue
			}
			out[m.ID] = m
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// apply starts a consumer for each partition t gives this node that has
// none, and stops and deletes the consumers of the others.
func (n *Node) apply(t Table) {
	owned := t.Owned(n.o.NodeID)
	var lost []*partConsumer
	n.mu.Lock()
	for p, pc := range n.parts {
		if !slices.Contains(owned, p) {
			lost = append(lost, pc)
			delete(n.parts, p)
		}
	}
	gained := 0
	for _, p := range owned {
		if _, ok := n.parts[p]; !ok {
			n.parts[p] = n.startPart(p)
			gained++
		}
	}
	n.mu.Unlock()
	// Stopped outside the lock (a batch being stored finishes first, and
	// QueryPeers must not wait for it), all of them before any deletion:
	// a consumer deletion is a JetStream round trip (a raft proposal at
	// R=3, up to seconds on a loaded machine), and a lost partition still
	// consumed meanwhile would put its samples on two nodes.
	for _, pc := range lost {
		pc.cancel()
	}
	var wg sync.WaitGroup
	for _, pc := range lost {
		pc.stop()
		n.m.lag.DeleteLabelValues(partLabel(pc.p))
		wg.Go(func() { n.deleteConsumer(pc.name) })
	}
	wg.Wait()
	if gained > 0 || len(lost) > 0 {
		n.m.rebalances.Inc()
		n.log.Info("partitions applied", "owned", len(owned), "gained", gained, "lost", len(lost))
	}
	n.m.owned.Set(float64(len(owned)))
}

func (n *Node) deleteConsumer(name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := n.js.DeleteConsumer(ctx, n.o.Stream, name); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
		n.log.Warn("delete consumer of a lost partition", "consumer", name, "err", err)
	}
}
