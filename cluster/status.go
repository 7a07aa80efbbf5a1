package cluster

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// PeerInfo is a live storage member: its node ID and HTTP base URL.
type PeerInfo struct {
	Name string `json:"name"`
	URL  string `json:"url"`
}

// QueryPeers returns the live storage members a query must ask (sorted
// by name), and the problems that make an answer from them incomplete,
// one line per cause, e.g. "partitions 3, 7: owner n2 not live",
// "partition 12: owner n3 catching up" or "partition 5: no live storage
// node". A query gives these as warnings
// (or refuses to answer) rather than answering silently incomplete.
// missing is empty when every partition's owner is live and has caught
// up with the stream. The view is this node's last refresh (every
// MemberTTL/4); when that is older than MemberTTL, missing says so.
//
// QueryPeers is safe for concurrent use and does no I/O.
func (n *Node) QueryPeers() (peers []PeerInfo, missing []string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, m := range n.live {
		if m.has(RoleStorage) {
			peers = append(peers, PeerInfo{Name: m.ID, URL: m.URL})
		}
	}
	slices.SortFunc(peers, func(a, b PeerInfo) int { return strings.Compare(a.Name, b.Name) })
	if age := time.Since(n.seenAt); age > n.o.MemberTTL {
		missing = append(missing, fmt.Sprintf("cluster state is %s old: this node cannot reach NATS", age.Round(time.Second)))
	}
	if len(n.table.Owners) != n.o.Partitions {
		return peers, append(missing, "no partition assignment yet")
	}
	type cause struct{ owner, why string }
	byCause := map[cause][]int{}
	var order []cause
	for p, owner := range n.table.Owners {
		var c cause
		m, live := n.live[owner]
		switch {
		case owner == "":
			c = cause{"", "no live storage node"}
		case !live:
			c = cause{owner, "not live"}
		case !slices.Contains(m.CaughtUp, p):
			c = cause{owner, "catching up"}
		default:
			continue
		}
		if _, ok := byCause[c]; !ok {
			order = append(order, c)
		}
		byCause[c] = append(byCause[c], p)
	}
	for _, c := range order {
		ps := make([]string, len(byCause[c]))
		for i, p := range byCause[c] {
			ps[i] = strconv.Itoa(p)
		}
		what := "partitions " + strings.Join(ps, ", ")
		if len(ps) == 1 {
			what = "partition " + ps[0]
		}
		if c.owner == "" {
			missing = append(missing, fmt.Sprintf("%s: %s", what, c.why))
			continue
		}
		missing = append(missing, fmt.Sprintf("%s: owner %s %s", what, c.owner, c.why))
	}
	return peers, missing
}

// Status is the cluster as this node sees it (/api/v1/status/cluster).
type Status struct {
	Node        string    `json:"node"`
	Roles       []string  `json:"roles"`
	Stream      string    `json:"stream"`
	Partitions  int       `json:"partitions"`
	Replicas    int       `json:"replicas"`
	RefreshedAt time.Time `json:"refreshed_at"`
	Members     []Member  `json:"members"`
	// Assignment is the table and its revision in the assign bucket.
	Assignment struct {
		Revision uint64   `json:"revision"`
		Owners   []string `json:"owners"`
	} `json:"assignment"`
	// Owned: this node's partitions, each with its consumer's lag
	// (messages not yet stored; -1 before the first fetch).
	Owned   []OwnedPartition `json:"owned"`
	Missing []string         `json:"missing"`
}

// OwnedPartition is one partition this node consumes.
type OwnedPartition struct {
	Partition int    `json:"partition"`
	Consumer  string `json:"consumer"`
	Lag       int64  `json:"lag"`
	CaughtUp  bool   `json:"caught_up"`
}

// Status returns the node's view of the cluster.
func (n *Node) Status() Status {
	_, missing := n.QueryPeers()
	n.mu.Lock()
	defer n.mu.Unlock()
	s := Status{Node: n.o.NodeID, Stream: n.o.Stream, Partitions: n.o.Partitions, Replicas: n.o.Replicas,
		RefreshedAt: n.seenAt, Missing: missing}
	if n.o.Ingest {
		s.Roles = append(s.Roles, RoleIngest)
	}
	if n.o.Storage {
		s.Roles = append(s.Roles, RoleStorage)
	}
	if n.o.Query {
		s.Roles = append(s.Roles, RoleQuery)
	}
	for _, m := range n.live {
		s.Members = append(s.Members, m)
	}
	slices.SortFunc(s.Members, func(a, b Member) int { return strings.Compare(a.ID, b.ID) })
	s.Assignment.Revision, s.Assignment.Owners = n.tableRev, n.table.Owners
	for p, pc := range n.parts {
		s.Owned = append(s.Owned, OwnedPartition{Partition: p, Consumer: pc.name, Lag: pc.lag.Load(), CaughtUp: pc.caughtUp.Load()})
	}
	slices.SortFunc(s.Owned, func(a, b OwnedPartition) int { return a.Partition - b.Partition })
	return s
}

// ServeHTTP answers the node's Status as JSON.
func (n *Node) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(struct {
		Status string `json:"status"`
		Data   Status `json:"data"`
	}{"success", n.Status()})
}
