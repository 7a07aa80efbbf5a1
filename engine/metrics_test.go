package engine

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
)

// TestOpenRegistererOnce: a second engine open with the same registerer is
// an error (not a panic) that leaves the first one's metrics in place; a
// closed engine's registerer serves the next Open.
func TestOpenRegistererOnce(t *testing.T) {
	reg := prometheus.NewRegistry()
	dir := t.TempDir()
	db := mustOpen(t, dir, Options{Registerer: reg})
	_, err := Open(t.TempDir(), Options{Registerer: reg})
	require.ErrorContains(t, err, "register engine metrics")
	requireGathered(t, reg, "engine_series", true)
	require.NoError(t, db.Close())
	requireGathered(t, reg, "engine_series", false)

	db2, err := Open(dir, Options{Registerer: reg})
	require.NoError(t, err)
	requireGathered(t, reg, "engine_series", true)
	require.NoError(t, db2.Close())
}

func requireGathered(t *testing.T, reg *prometheus.Registry, name string, want bool) {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	found := false
	for _, mf := range mfs {
		found = found || mf.GetName() == name
	}
	require.Equal(t, want, found, "%s gathered", name)
}
