package auth

import (
	"testing"

	"github.com/stretchr/testify/require"
)

const testACL = `# general rules: every user
topic read public/#
user alice
topic write sensors/alice/#
topic deny sensors/alice/secret
user bob
topic sensors/+/temp
pattern write devices/%u/%c/#
pattern read $SYS/clients/%c
`

// TestACL: mosquitto's semantics for topic, user, pattern and deny lines,
// wildcards in the rules and in subscriptions, and %u/%c substitution.
func TestACL(t *testing.T) {
	a, err := ParseACL([]byte(testACL))
	require.NoError(t, err)
	for _, tc := range []struct {
		user, client, topic string
		write, want         bool
	}{
		{"alice", "c", "public/x/y", false, true},
		{"alice", "c", "public/x", true, false},
		{"alice", "c", "sensors/alice/t", true, true},
		{"alice", "c", "sensors/alice/t", false, false},
		{"alice", "c", "sensors/alice/secret", true, false},
		{"alice", "c", "sensors/bob/t", true, false},
		{"bob", "c", "sensors/x/temp", true, true},
		{"bob", "c", "sensors/+/temp", false, true},
		{"bob", "c", "sensors/#", false, false},
		{"bob", "c", "sensors/x/y/temp", false, false},
		{"alice", "c1", "devices/alice/c1/x", true, true},
		{"alice", "c1", "devices/alice/c2/x", true, false},
		{"alice", "c1", "devices/bob/c1/x", true, false},
		{"a/b", "c1", "devices/a/b/c1/x", true, false},
		{"#", "c1", "devices/x/c1/y", true, false},
		{"alice", "c1", "$SYS/clients/c1", false, true},
		{"carol", "c", "sensors/x/temp", true, false},
	} {
		require.Equal(t, tc.want, a.Allow(tc.user, tc.client, tc.topic, tc.write), "%+v", tc)
	}
	for _, bad := range []string{"user\n", "topic\n", "topic maybe x\n", "grant x\n", "topic read a b\n"} {
		_, err := ParseACL([]byte(bad))
		require.Error(t, err, bad)
	}
}

// TestFilterCovers: '#' and '+' in the rule; '$' topics not matched by
// a leading wildcard.
func TestFilterCovers(t *testing.T) {
	require.True(t, filterCovers("#", "a/b"))
	require.False(t, filterCovers("#", "$SYS/x"))
	require.True(t, filterCovers("a/#", "a"))
	require.True(t, filterCovers("a/+", "a/+"))
	require.False(t, filterCovers("a/+", "a/#"))
	require.False(t, filterCovers("a/b", "a/b/c"))
}

// FuzzACL: any file either fails to parse or answers every check without
// panicking.
func FuzzACL(f *testing.F) {
	f.Add([]byte(testACL), "alice", "c1", "devices/alice/c1/x", true)
	f.Add([]byte("pattern readwrite %u/%c/#\n"), "u", "c", "u/c/z", false)
	f.Fuzz(func(t *testing.T, data []byte, user, client, topic string, write bool) {
		a, err := ParseACL(data)
		if err != nil {
			return
		}
		a.Allow(user, client, topic, write)
	})
}
