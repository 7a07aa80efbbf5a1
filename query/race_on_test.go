//go:build race

package query

// raceEnabled: allocation guards are skipped under the race detector,
// which adds allocations of its own.
const raceEnabled = true
