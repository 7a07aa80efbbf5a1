package main

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestBodyBudgetHoldsSamplesAnswer: a SAMPLES answer is charged to
// http.max_inflight_body_bytes, so a budget whose 7/8 cannot hold the
// largest one allowed (read_samples_max_bytes, or read_max_bytes when
// lower) is refused at start-up: such answers would always get 503.
func TestBodyBudgetHoldsSamplesAnswer(t *testing.T) {
	cfg := defaultConfig()
	cfg.HTTP.MaxInflightBodyBytes = 128 << 20
	cfg.Remote.ReadSamplesMaxBytes = 120 << 20
	_, err := newBodyBudget(cfg)
	require.ErrorContains(t, err, "remote.read_samples_max_bytes")
	cfg.Remote.ReadMaxBytes = 100 << 20
	_, err = newBodyBudget(cfg)
	require.NoError(t, err, "read_max_bytes caps SAMPLES answers too")
	cfg.Remote.ReadMaxBytes = 0
	cfg.HTTP.MaxInflightBodyBytes = 256 << 20
	_, err = newBodyBudget(cfg)
	require.NoError(t, err)
}
