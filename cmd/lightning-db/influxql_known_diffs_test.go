package main

import "testing"

// The InfluxQL tests' known differences: subtest name → why Lightning DB's
// answer does not (yet) agree with InfluxDB 1.6's. A listed subtest skips
// with its reason; one that agrees after all logs "agrees now" so that
// its line can go. A reason starting "InfluxDB 1.6 quirk" is behaviour we
// deliberately do not copy.
var (
	// iqlKnownDiffs is for TestInfluxQLMatchesInfluxDB.
	iqlKnownDiffs = map[string]string{}
	// iqlBadKnownDiffs is for TestInfluxQLBadInput (statement names).
	iqlBadKnownDiffs = map[string]string{}
	// grafanaKnownDiffs is for TestInfluxQLGrafanaReplay.
	grafanaKnownDiffs = map[string]string{}
)

// withKnownDiffs sets each case's knownDiff from diffs and fails the test
// when diffs names a case that does not exist (a renamed query).
func withKnownDiffs(t *testing.T, cs []iqlCase, diffs map[string]string) []iqlCase {
	t.Helper()
	seen := map[string]bool{}
	for i := range cs {
		if seen[cs[i].name] {
			t.Fatalf("two cases named %q", cs[i].name)
		}
		seen[cs[i].name] = true
		if r, ok := diffs[cs[i].name]; ok {
			cs[i].knownDiff = r
		}
	}
	for name := range diffs {
		if !seen[name] {
			t.Errorf("known difference for %q, which is no case", name)
		}
	}
	return cs
}
