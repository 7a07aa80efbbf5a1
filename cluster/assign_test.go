package cluster

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestAssignMovesOnlyWhatItMust(t *testing.T) {
	three := Assign([]string{"n3", "n1", "n2"}, 64)
	require.Equal(t, []string{"n1", "n2", "n3"}, three.Members)
	for _, n := range three.Members {
		require.Greater(t, len(three.Owned(n)), 10, "node %s gets a fair share", n)
	}
	require.Equal(t, three, Assign([]string{"n1", "n2", "n3", "n1"}, 64), "deterministic")

	two := Assign([]string{"n1", "n3"}, 64)
	four := Assign([]string{"n1", "n2", "n3", "n4"}, 64)
	for p := range 64 {
		if three.Owners[p] != "n2" {
			require.Equal(t, three.Owners[p], two.Owners[p], "partition %d moved though its owner stayed", p)
		}
		if four.Owners[p] != "n4" {
			require.Equal(t, three.Owners[p], four.Owners[p], "partition %d moved between old members", p)
		}
	}
	require.Equal(t, make([]string, 8), Assign(nil, 8).Owners)
}
