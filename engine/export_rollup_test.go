package engine

// Exports for the external test package (rollup_powerloss_test.go), which
// imports packages that import the engine (downsample, query).

// CrashFS is crashFS for the external tests.
type CrashFS = crashFS

// NewCrashFS returns an empty crashFS.
func NewCrashFS() *CrashFS { return newCrashFS() }

// SetBeforeSync sets the hook called before each sync point.
func (c *crashFS) SetBeforeSync(fn func(n int, path string)) { c.beforeSync = fn }

// Kill cuts the power: every later operation fails.
func (c *crashFS) Kill() { c.kill() }

// RaceEnabled reports whether the race detector is on.
const RaceEnabled = raceEnabled
