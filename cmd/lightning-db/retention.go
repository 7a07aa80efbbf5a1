package main

import (
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/lightningdb/lightningdb/engine"
	"github.com/lightningdb/lightningdb/ingest"
	"github.com/lightningdb/lightningdb/retention"
	"github.com/lightningdb/lightningdb/series"
)

// RetentionConfig is the `retention:` section: the rules of
// retention.Config plus how often they are enforced.
type RetentionConfig struct {
	retention.Config `yaml:",inline"`
	// CheckInterval is how often the engine's maintenance job enforces
	// retention (engine.Options.MaintenanceInterval, which also paces
	// the memtable age check). Zero means 10 s.
	CheckInterval time.Duration `yaml:"check_interval"`
}

// retentionSetup holds the compiled rules, the policy the engine asks and
// the InfluxQL policy store.
type retentionSetup struct {
	policy *retention.Policy
	store  *retention.Store
	labels *lazyLabels
}

// lazyLabels reads labels from the engine's registry once it is open
// (the policy is built before the engine, which needs it in Options).
type lazyLabels struct{ db atomic.Pointer[engine.DB] }

func (l *lazyLabels) Labels(id series.ID) []byte {
	db := l.db.Load()
	if db == nil {
		return nil // not cached: asked again once the engine is open
	}
	return db.Registry().Labels(id)
}

// setupRetention compiles the rules and opens the policy store in the
// data directory; eo gets the policy.
func (s *server) setupRetention(eo *engine.Options) (*retentionSetup, error) {
	rules, err := s.cfg.Retention.Compile()
	if err != nil {
		return nil, err
	}
	rs := &retentionSetup{labels: &lazyLabels{}}
	rs.policy = retention.NewPolicy(rules, s.cfg.Influx.DBLabel, rs.labels)
	rs.store, err = retention.OpenSealedStore(s.cfg.DataDir, s.keys, rs.policy.SetDatabases)
	if err != nil {
		return nil, err
	}
	eo.RetentionPolicy = rs.policy
	if s.cfg.Retention.CheckInterval > 0 {
		eo.MaintenanceInterval = s.cfg.Retention.CheckInterval
	}
	return rs, nil
}

// retentionPolicies adapts the store to ingest.RetentionPolicies.
type retentionPolicies struct{ rs *retentionSetup }

var _ ingest.RetentionPolicies = retentionPolicies{}

func (a retentionPolicies) CreateRetentionPolicy(db string, rp ingest.RetentionPolicy) error {
	return rpError(a.rs.store.Create(db, retention.RP{Name: rp.Name, Duration: rp.Duration,
		ShardGroupDuration: rp.ShardGroupDuration, ReplicaN: rp.ReplicaN, Default: rp.Default}))
}

func (a retentionPolicies) AlterRetentionPolicy(db, name string, c ingest.RetentionPolicyChange) error {
	return rpError(a.rs.store.Alter(db, name, c.Duration, c.ShardGroupDuration, c.ReplicaN, c.Default))
}

func (a retentionPolicies) DropRetentionPolicy(db, name string) error {
	return rpError(a.rs.store.Drop(db, name))
}

// DropDatabase forgets db's policies (DROP DATABASE), so that the name
// does not come back in SHOW DATABASES after a restart.
func (a retentionPolicies) DropDatabase(db string) error {
	return rpError(a.rs.store.DropDatabase(db))
}

func (a retentionPolicies) RetentionPolicies(db string) ([]ingest.RetentionPolicy, error) {
	var out []ingest.RetentionPolicy
	for _, rp := range a.rs.store.List(db, a.rs.policy.DatabaseDefault(db)) {
		out = append(out, ingest.RetentionPolicy{Name: rp.Name, Duration: rp.Duration,
			ShardGroupDuration: rp.ShardGroupDuration, ReplicaN: rp.ReplicaN, Default: rp.Default})
	}
	return out, nil
}

// rpError keeps InfluxDB's statement error texts for the user-facing
// sentinels and adds context to the others (a failed write of the file).
func rpError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, retention.ErrPolicyExists), errors.Is(err, retention.ErrPolicyNotFound),
		errors.Is(err, retention.ErrPolicyTooShort), errors.Is(err, retention.ErrTooManyPolicies):
		return err
	}
	return fmt.Errorf("retention policy: %w", err)
}
