package retention

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/lightningdb/lightningdb/internal/atomicfile"

	"github.com/lightningdb/lightningdb/internal/encrypt"
)

// StoreFile is the name of the file, in the data directory, that holds
// the InfluxDB retention policies. Store is its only owner.
const StoreFile = "retention_policies.json"

// MinPolicyDuration is the shortest finite policy duration InfluxDB 1.x
// accepts (also the shortest shard group duration).
const MinPolicyDuration = time.Hour

// Limits on the store: every CREATE rewrites the whole file, so a client
// must not be able to grow it without bound.
const (
	MaxPoliciesPerDatabase = 64
	MaxPolicyDatabases     = 4096
	MaxPolicyNameLen       = 255
)

// RP is an InfluxDB retention policy. Duration Forever is INF.
type RP struct {
	Name               string        `json:"name"`
	Duration           time.Duration `json:"duration"`
	ShardGroupDuration time.Duration `json:"shard_group_duration"`
	ReplicaN           int           `json:"replica_n"`
	Default            bool          `json:"default"`
}

// dbPolicies are one database's stored policies. AutogenDropped records a
// DROP of the implicit "autogen" policy.
type dbPolicies struct {
	Policies       []RP `json:"policies"`
	AutogenDropped bool `json:"autogen_dropped,omitempty"`
}

// Store keeps the retention policies created with InfluxQL, durably in
// one file written atomically (write a temporary file, fsync, rename,
// fsync the directory). A database without stored policies shows an
// implicit "autogen" policy whose duration is the configured retention.
// OnChange, when set, is called with Defaults after every change and
// once by OpenStore.
type Store struct {
	dir      string
	keys     *encrypt.Keyring // nil: the file is plain
	onChange func(map[string]time.Duration)

	mu  sync.Mutex // protects dbs and the file
	dbs map[string]*dbPolicies
}

// OpenStore reads dir/StoreFile (absent: no policies).
func OpenStore(dir string, onChange func(map[string]time.Duration)) (*Store, error) {
	return OpenSealedStore(dir, nil, onChange)
}

// OpenSealedStore is OpenStore with the file sealed by keys (encryption
// at rest, docs/security.md); a plain file written before is still read.
func OpenSealedStore(dir string, keys *encrypt.Keyring, onChange func(map[string]time.Duration)) (*Store, error) {
	s := &Store{dir: dir, keys: keys, onChange: onChange, dbs: map[string]*dbPolicies{}}
	b, err := encrypt.ReadFile(keys, filepath.Join(dir, StoreFile))
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("read retention policies: %w", err)
	default:
		if err := json.Unmarshal(b, &s.dbs); err != nil {
			return nil, fmt.Errorf("read retention policies %s: %w", filepath.Join(dir, StoreFile), err)
		}
	}
	s.notify()
	return s, nil
}

// DefaultShardGroupDuration is InfluxDB 1.x's shard group duration for a
// policy of duration d.
func DefaultShardGroupDuration(d time.Duration) time.Duration {
	switch {
	case d == Forever || d >= 180*24*time.Hour:
		return 7 * 24 * time.Hour
	case d >= 2*24*time.Hour:
		return 24 * time.Hour
	}
	return time.Hour
}

// normalize checks rp's durations and fills the shard group duration.
func normalize(rp *RP) error {
	if rp.Duration != Forever && rp.Duration < MinPolicyDuration {
		return ErrPolicyTooShort
	}
	switch {
	case rp.ShardGroupDuration == 0:
		rp.ShardGroupDuration = DefaultShardGroupDuration(rp.Duration)
	case rp.ShardGroupDuration < MinPolicyDuration:
		rp.ShardGroupDuration = MinPolicyDuration
	}
	if rp.Duration != Forever && rp.ShardGroupDuration > rp.Duration {
		return errors.New("retention policy duration must be greater than the shard duration")
	}
	if rp.ReplicaN < 1 {
		rp.ReplicaN = 1
	}
	return nil
}

// Create adds a policy to database db. Creating an identical policy again
// is not an error (as in InfluxDB); one with other settings is
// ErrPolicyExists.
func (s *Store) Create(db string, rp RP) error {
	if err := normalize(&rp); err != nil {
		return err
	}
	if len(rp.Name) > MaxPolicyNameLen || len(db) > MaxPolicyNameLen {
		return fmt.Errorf("%w: names are at most %d bytes", ErrTooManyPolicies, MaxPolicyNameLen)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dbs[db] == nil && len(s.dbs) >= MaxPolicyDatabases {
		return fmt.Errorf("%w: at most %d databases have retention policies", ErrTooManyPolicies, MaxPolicyDatabases)
	}
	d := s.db(db)
	if i := d.index(rp.Name); i >= 0 {
		old := d.Policies[i]
		if old.Duration == rp.Duration && old.ShardGroupDuration == rp.ShardGroupDuration &&
			old.ReplicaN == rp.ReplicaN && (!rp.Default || old.Default) {
			return nil
		}
		return ErrPolicyExists
	}
	if len(d.Policies) >= MaxPoliciesPerDatabase {
		return fmt.Errorf("%w: at most %d retention policies per database", ErrTooManyPolicies, MaxPoliciesPerDatabase)
	}
	d.Policies = append(d.Policies, rp)
	if rp.Default {
		d.setDefault(rp.Name)
	}
	return s.commitLocked()
}

// Alter changes the given settings (nil: unchanged) of policy name.
func (s *Store) Alter(db, name string, dur, shard *time.Duration, replicaN *int, makeDefault bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dbs[db] == nil && (name != "autogen" || len(s.dbs) >= MaxPolicyDatabases) {
		return fmt.Errorf("%w: %s", ErrPolicyNotFound, name)
	}
	d := s.db(db)
	i := d.index(name)
	if i < 0 && name == "autogen" && !d.AutogenDropped { // the implicit one: store it
		d.Policies = append(d.withAutogen(Forever).Policies[:1:1], d.Policies...)
		i = 0
	}
	if i < 0 {
		return fmt.Errorf("%w: %s", ErrPolicyNotFound, name)
	}
	rp := d.Policies[i]
	if dur != nil {
		rp.Duration = *dur
	}
	if shard != nil {
		rp.ShardGroupDuration = *shard
	}
	if replicaN != nil {
		rp.ReplicaN = *replicaN
	}
	if err := normalize(&rp); err != nil {
		return err
	}
	d.Policies[i] = rp
	if makeDefault {
		d.setDefault(name)
	}
	return s.commitLocked()
}

// Drop removes policy name; dropping an absent one is not an error.
func (s *Store) Drop(db, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.dbs[db]
	if d == nil {
		if name != "autogen" || len(s.dbs) >= MaxPolicyDatabases {
			return nil
		}
		d = s.db(db) // dropping the implicit autogen is remembered
	}
	i := d.index(name)
	if i < 0 && name != "autogen" {
		return nil
	}
	if i >= 0 {
		d.Policies = slices.Delete(d.Policies, i, i+1)
	}
	if name == "autogen" {
		d.AutogenDropped = true
	}
	return s.commitLocked()
}

// DropDatabase forgets every policy of db (DROP DATABASE); forgetting a
// database without stored policies is not an error.
func (s *Store) DropDatabase(db string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.dbs[db]; !ok {
		return nil
	}
	delete(s.dbs, db)
	return s.commitLocked()
}

// List returns db's policies; implicit gives the implicit autogen policy's
// duration (the configured retention of db).
func (s *Store) List(db string, implicit time.Duration) []RP {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.dbs[db]
	if d == nil {
		d = &dbPolicies{}
	}
	return slices.Clone(d.withAutogen(implicit).Policies)
}

// Databases returns the databases that have stored policies.
func (s *Store) Databases() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for db := range s.dbs {
		out = append(out, db)
	}
	slices.Sort(out)
	return out
}

// Defaults returns the duration of each database's stored default policy.
func (s *Store) Defaults() map[string]time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.defaultsLocked()
}

func (s *Store) defaultsLocked() map[string]time.Duration {
	out := map[string]time.Duration{}
	for db, d := range s.dbs {
		for _, rp := range d.Policies {
			if rp.Default {
				out[db] = rp.Duration
			}
		}
	}
	return out
}

// db returns db's policies, created empty when absent.
func (s *Store) db(db string) *dbPolicies {
	d := s.dbs[db]
	if d == nil {
		d = &dbPolicies{}
		s.dbs[db] = d
	}
	return d
}

// withAutogen returns d with the implicit autogen policy in front when d
// has none stored.
func (d *dbPolicies) withAutogen(implicit time.Duration) *dbPolicies {
	if d.AutogenDropped || d.index("autogen") >= 0 {
		return d
	}
	hasDefault := slices.ContainsFunc(d.Policies, func(rp RP) bool { return rp.Default })
	auto := RP{Name: "autogen", Duration: implicit, ShardGroupDuration: DefaultShardGroupDuration(implicit), ReplicaN: 1, Default: !hasDefault}
	return &dbPolicies{Policies: append([]RP{auto}, d.Policies...)}
}

func (d *dbPolicies) index(name string) int {
	return slices.IndexFunc(d.Policies, func(rp RP) bool { return rp.Name == name })
}

func (d *dbPolicies) setDefault(name string) {
	for i := range d.Policies {
		d.Policies[i].Default = d.Policies[i].Name == name
	}
}

// commitLocked writes the file atomically and notifies OnChange.
func (s *Store) commitLocked() error {
	b, err := json.MarshalIndent(s.dbs, "", "  ")
	if err != nil {
		return fmt.Errorf("encode retention policies: %w", err)
	}
	if b, err = encrypt.SealIf(s.keys, b); err != nil {
		return fmt.Errorf("seal retention policies: %w", err)
	}
	if err := atomicfile.Write(s.dir, StoreFile, b); err != nil {
		return fmt.Errorf("write retention policies: %w", err)
	}
	if s.onChange != nil {
		s.onChange(s.defaultsLocked())
	}
	return nil
}

func (s *Store) notify() {
	if s.onChange != nil {
		s.onChange(s.Defaults())
	}
}
