package mqtt

import (
	"container/list"
	"sync"

	mochi "github.com/mochi-mqtt/server/v2"
)

// maxKeptIDBytes bounds the bytes of the client IDs of the sessions the
// broker keeps for clients that left (clean session 0, or an MQTT 5
// session expiry): over it, the oldest kept session is dropped, as if it
// had expired. MaxClients bounds their number; this bounds what a
// client ID of up to 64 KiB per session could otherwise hold (10,000
// sessions: 640 MiB). 16 MiB keeps 10,000 sessions with IDs of 1.6 KiB.
const maxKeptIDBytes = 16 << 20

// keptSessions lists the sessions kept for clients that left, oldest
// first, with the bytes of their client IDs. mu protects everything.
type keptSessions struct {
	mu    sync.Mutex
	max   int64
	bytes int64
	order *list.List               // *mochi.Client, oldest first
	byID  map[string]*list.Element // in order
}

func newKeptSessions(max int64) *keptSessions {
	return &keptSessions{max: max, order: list.New(), byID: map[string]*list.Element{}}
}

// add lists cl's session (its client left, the session is kept) and
// returns the oldest kept sessions to drop to stay under max.
func (k *keptSessions) add(cl *mochi.Client) (drop []*mochi.Client) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.removeLocked(cl.ID)
	k.byID[cl.ID] = k.order.PushBack(cl)
	k.bytes += int64(len(cl.ID))
	for k.bytes > k.max && k.order.Len() > 1 {
		old := k.order.Front().Value.(*mochi.Client)
		k.removeLocked(old.ID)
		drop = append(drop, old)
	}
	return drop
}

// remove unlists the session of id: its client is back, or it expired.
func (k *keptSessions) remove(id string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.removeLocked(id)
}

func (k *keptSessions) removeLocked(id string) {
	if el, ok := k.byID[id]; ok {
		k.order.Remove(el)
		delete(k.byID, id)
		k.bytes -= int64(len(id))
	}
}

// dropSessions drops kept sessions (keptSessions.add) whose clients did
// not come back meanwhile, as mochi expires one.
func (b *Broker) dropSessions(cls []*mochi.Client) {
	for _, cl := range cls {
		cur, ok := b.srv.Clients.Get(cl.ID)
		if !ok || cur != cl || !cl.Closed() {
			continue
		}
		b.copies.drop(cl)
		b.srv.UnsubscribeClient(cl)
		b.srv.Clients.Delete(cl.ID)
		b.in.limitHit(reasonSessionBytes)
	}
}
