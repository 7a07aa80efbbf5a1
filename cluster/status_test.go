package cluster

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestQueryPeersNamesWhatIsMissing(t *testing.T) {
	n := &Node{o: Options{Partitions: 6, MemberTTL: 10 * time.Second}}
	_, missing := n.QueryPeers()
	require.Contains(t, missing, "no partition assignment yet")

	n.table = Table{Partitions: 6, Owners: []string{"a", "b", "c", "c", "b", ""}}
	n.live = map[string]Member{
		"a": {ID: "a", URL: "http://a", Roles: []string{RoleStorage}, CaughtUp: []int{0}},
		"b": {ID: "b", URL: "http://b", Roles: []string{RoleStorage}, CaughtUp: []int{1}},
		"i": {ID: "i", URL: "http://i", Roles: []string{RoleIngest}},
	}
	n.seenAt = time.Now()
	peers, missing := n.QueryPeers()
	require.Equal(t, []PeerInfo{{"a", "http://a"}, {"b", "http://b"}}, peers)
	require.Equal(t, []string{
		"partitions 2, 3: owner c not live",
		"partition 4: owner b catching up",
		"partition 5: no live storage node",
	}, missing)

	n.table.Owners[2], n.table.Owners[3], n.table.Owners[5] = "a", "a", "a"
	n.live["a"] = Member{ID: "a", URL: "http://a", Roles: []string{RoleStorage}, CaughtUp: []int{0, 2, 3, 5}}
	n.live["b"] = Member{ID: "b", URL: "http://b", Roles: []string{RoleStorage}, CaughtUp: []int{1, 4}}
	_, missing = n.QueryPeers()
	require.Empty(t, missing)

	n.seenAt = time.Now().Add(-time.Minute)
	_, missing = n.QueryPeers()
	require.Equal(t, []string{"cluster state is 1m0s old: this node cannot reach NATS"}, missing)
}
