package cluster

import (
	"encoding/binary"
	"errors"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/lightningdb/lightningdb/series"
)

// maxTypeMemo bounds the series whose value type a Publisher remembers
// (about 20 bytes each, in two generations).
const maxTypeMemo = 1 << 20

// typeMemoAge is the life of a generation of the type memory: a series
// neither written nor corrected for two of them is forgotten, as a
// storage node forgets a series that retention or a delete removed (and
// then takes a new type for it).
const typeMemoAge = time.Hour

// typesSubject is the core NATS subject on which storage nodes tell
// ingest nodes the stored type of a series they rejected a sample of:
// 8 bytes of series.HashCanonical, big endian, and the type. Not part of
// the stream (its subjects are "<Stream>.p.*"): a lost correction costs
// only a later one.
func typesSubject(stream string) string { return stream + ".types" }

// typeMemo remembers the value type of each series this ingest node
// published (by its canonical labels' hash), so that a sample whose type
// conflicts with its series is refused to the client, as a single node
// refuses it (400, the rest of the write kept), rather than acknowledged
// and then rejected by the storage node. It knows what passed through
// this node, corrected by the storage nodes: one that rejects a sample
// for its type tells the ingest nodes the stored type (typesSubject), so
// a conflict with a type written through another ingest node, or before
// a restart, is acknowledged once (and rejected by the storage node,
// cluster_rejected_series_total) and refused after. A type is recorded
// only once its write is published, and forgotten after one to two
// typeMemoAge without writes.
type typeMemo struct {
	mu       sync.Mutex
	cur, old map[uint64]series.ValueType
	rotated  time.Time
	now      func() time.Time // time.Now; tests set it
}

// rotateLocked starts a new generation when the current one is old or
// full; t.mu must be held.
func (t *typeMemo) rotateLocked() {
	if t.now == nil {
		t.now = time.Now
	}
	now := t.now()
	if t.cur == nil || now.Sub(t.rotated) >= typeMemoAge || len(t.cur) >= maxTypeMemo/2 {
		t.old, t.cur, t.rotated = t.cur, make(map[uint64]series.ValueType), now
	}
}

// lookupLocked returns the type remembered for h; t.mu must be held.
func (t *typeMemo) lookupLocked(h uint64) (series.ValueType, bool) {
	if typ, ok := t.cur[h]; ok {
		return typ, true
	}
	typ, ok := t.old[h]
	return typ, ok
}

// set records typ as the type of the series whose canonical hash is h.
func (t *typeMemo) set(h uint64, typ series.ValueType) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.rotateLocked()
	t.cur[h] = typ
}

// hashes returns the canonical hash of each of b's series.
func hashes(b *series.Batch) []uint64 {
	hs := make([]uint64, b.Len())
	for i := range hs {
		canon, _, _, _ := b.Series(i)
		hs[i] = series.HashCanonical(canon)
	}
	return hs
}

// check returns the series of b (hs: their hashes) whose type differs
// from the one remembered, in index order.
func (t *typeMemo) check(b *series.Batch, hs []uint64) []series.Rejection {
	var rej []series.Rejection
	t.mu.Lock()
	defer t.mu.Unlock()
	t.rotateLocked()
	for i, h := range hs {
		_, typ, _, _ := b.Series(i)
		if have, ok := t.lookupLocked(h); ok && have != typ {
			canon, _, _, _ := b.Series(i)
			rej = append(rej, series.Rejection{Index: i, Err: &series.TypeConflictError{Series: series.CanonicalString(canon), Have: have, Got: typ}})
		}
	}
	return rej
}

// record remembers the types of b's series but those skip names (in
// index order): b was published.
func (t *typeMemo) record(b *series.Batch, hs []uint64, skip []series.Rejection) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.rotateLocked()
	for i, h := range hs {
		if len(skip) > 0 && skip[0].Index == i {
			skip = skip[1:]
			continue
		}
		_, typ, _, _ := b.Series(i)
		t.cur[h] = typ
	}
}

// tellTypes tells the ingest nodes the stored type of each series of b
// the engine rejected for a type conflict.
func (n *Node) tellTypes(b *series.Batch, rej []series.Rejection) {
	for _, r := range rej {
		var tc *series.TypeConflictError
		if !errors.As(r.Err, &tc) {
			continue
		}
		canon, _, _, _ := b.Series(r.Index)
		var msg [9]byte
		binary.BigEndian.PutUint64(msg[:8], series.HashCanonical(canon))
		msg[8] = byte(tc.Have)
		_ = n.nc.Publish(typesSubject(n.o.Stream), msg[:])
	}
}

// learnTypes subscribes the publisher's type memory to the storage nodes'
// corrections.
func (n *Node) learnTypes() error {
	_, err := n.nc.Subscribe(typesSubject(n.o.Stream), func(m *nats.Msg) {
		if len(m.Data) != 9 || !series.ValueType(m.Data[8]).Valid() {
			n.log.Warn("bad type correction", "bytes", len(m.Data))
			return
		}
		n.pub.types.set(binary.BigEndian.Uint64(m.Data[:8]), series.ValueType(m.Data[8]))
	})
	return err
}
