package cluster

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"

	"github.com/cespare/xxhash/v2"
)

// Table is the partition assignment, the value of key "table" in the
// "<stream>_assign" bucket. Owners[p] is the node ID that stores
// partition p ("" when no storage node is live). Any node that sees the
// live storage members differ from Members writes the table computed
// from them with a compare-and-set on the entry's revision, so at most one
// writer wins each change and every node applies the same table.
type Table struct {
	Partitions int      `json:"partitions"`
	Members    []string `json:"members"` // the storage members it was computed from, sorted
	Owners     []string `json:"owners"`
}

// Assign computes the table for the storage members by rendezvous
// (highest random weight) hashing: partition p goes to the member with
// the highest hash of (member, p). A member that joins takes about
// 1/(n+1) of the partitions, only from the others; one that leaves gives
// only its own away.
func Assign(members []string, partitions int) Table {
	ms := slices.Clone(members)
	slices.Sort(ms)
	ms = slices.Compact(ms)
	t := Table{Partitions: partitions, Members: ms, Owners: make([]string, partitions)}
	var buf []byte
	for p := range partitions {
		var best uint64
		for _, m := range ms {
			buf = append(append(append(buf[:0], m...), 0), strconv.Itoa(p)...)
			if h := xxhash.Sum64(buf); t.Owners[p] == "" || h > best {
				best, t.Owners[p] = h, m
			}
		}
	}
	return t
}

// Owned returns the partitions t gives to node.
func (t Table) Owned(node string) []int {
	var out []int
	for p, o := range t.Owners {
		if o == node {
			out = append(out, p)
		}
	}
	return out
}

func (t Table) marshal() []byte {
	b, _ := json.Marshal(t)
	return b
}

func unmarshalTable(b []byte) (Table, error) {
	var t Table
	if err := json.Unmarshal(b, &t); err != nil {
		return t, fmt.Errorf("assignment table: %w", err)
	}
	if t.Partitions < 1 || len(t.Owners) != t.Partitions {
		return t, fmt.Errorf("assignment table: %d owners for %d partitions", len(t.Owners), t.Partitions)
	}
	return t, nil
}

// Member is a node's heartbeat entry in the "<stream>_members" bucket,
// key = node ID. The bucket's MaxAge (MemberTTL) removes the entry of a
// node that stops refreshing it.
type Member struct {
	ID    string   `json:"id"`
	URL   string   `json:"url"`
	Roles []string `json:"roles"`
	// CaughtUp lists the owned partitions whose consumer has reached the
	// end of the stream at least once since this node gained them.
	CaughtUp []int `json:"caught_up,omitempty"`
}

func (m Member) has(role string) bool { return slices.Contains(m.Roles, role) }
