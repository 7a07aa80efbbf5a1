package remote

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestMetadataOnChange: a sender's new or changed metadata is told to
// OnChange once, a repeat is not, nor is a row another node shared
// (Learn); a full store keeps its names and counts the dropped one.
// Sent lists what this node's senders sent (the cluster's reconcile).
func TestMetadataOnChange(t *testing.T) {
	md := NewMetadata(2)
	var told []string
	md.OnChange = func(metric string, m MetricMetadata) { told = append(told, metric+"/"+m.Type) }
	md.set([]byte("a"), "gauge", []byte("A."), nil)
	md.set([]byte("a"), "gauge", []byte("A."), nil) // a repeat
	md.set([]byte("a"), "counter", []byte("A."), nil)
	md.Learn("b", MetricMetadata{Type: "gauge"})
	md.set([]byte("c"), "gauge", nil, nil) // the store is full
	require.Equal(t, []string{"a/gauge", "a/counter"}, told)
	require.Equal(t, map[string][]MetricMetadata{"a": {{Type: "counter", Help: "A."}}, "b": {{Type: "gauge"}}}, md.List("", 0))
	require.EqualValues(t, 1, md.dropped)
	// Another node's senders disagree: its row is learnt, this node's
	// next identical send stores its own again without telling it again
	// (no put at every send between two nodes that disagree).
	md.Learn("a", MetricMetadata{Type: "gauge", Help: "Other."})
	md.set([]byte("a"), "counter", []byte("A."), nil)
	require.Equal(t, []string{"a/gauge", "a/counter"}, told)
	require.Equal(t, MetricMetadata{Type: "counter", Help: "A."}, md.List("a", 0)["a"][0])
	require.Equal(t, map[string]MetricMetadata{"a": {Type: "counter", Help: "A."}}, md.Sent())
}
