package cluster

import (
	"encoding/binary"
	"errors"
	"sync"

	"github.com/nats-io/nats.go"

	"github.com/lightningdb/lightningdb/series"
)

// maxTypeMemo bounds the series whose value type a Publisher remembers
// (about 20 bytes each); past it the memory is forgotten and relearnt.
const maxTypeMemo = 1 << 20

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
// and then rejected by the storage node. It knows only what passed
// through this node since it started: a conflict with a type written
// through another ingest node, or before a restart, is still caught only
// by the storage node (cluster_rejected_series_total).
type typeMemo struct {
	mu sync.Mutex
	m  map[uint64]series.ValueType
}

// set records typ as the type of the series whose canonical hash is h.
func (t *typeMemo) set(h uint64, typ series.ValueType) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.m == nil || len(t.m) >= maxTypeMemo {
		t.m = make(map[uint64]series.ValueType)
	}
	t.m[h] = typ
}

// check records the types of b's series and returns the series whose
// type differs from the one remembered, in index order.
func (t *typeMemo) check(b *series.Batch) []series.Rejection {
	var rej []series.Rejection
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.m == nil || len(t.m) >= maxTypeMemo {
		t.m = make(map[uint64]series.ValueType)
	}
	for i := range b.Len() {
		canon, typ, _, _ := b.Series(i)
		h := series.HashCanonical(canon)
		if have, ok := t.m[h]; ok && have != typ {
			rej = append(rej, series.Rejection{Index: i, Err: &series.TypeConflictError{Series: seriesName(canon), Have: have, Got: typ}})
			continue
		}
		t.m[h] = typ
	}
	return rej
}

func seriesName(canon []byte) string {
	ls, err := series.UnmarshalLabels(nil, canon)
	if err != nil {
		return "(undecodable labels)"
	}
	return ls.String()
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
