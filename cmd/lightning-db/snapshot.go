package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lightningdb/lightningdb/downsample"
	"github.com/lightningdb/lightningdb/engine"
)

// snapshotDir is where snapshots live under the data directory, one
// directory each, named as Prometheus names them. A snapshot is itself a
// data directory: the server (or lightning-admin restore) opens it as one.
const snapshotDir = "snapshots"

// errBadSnapshotName is the error for a snapshot name that is not one
// this server made (no path separators, no "..").
var errBadSnapshotName = errors.New("invalid snapshot name")

// errNoSnapshot is the error for a snapshot that does not exist.
var errNoSnapshot = errors.New("snapshot not found")

var snapshotNameRE = regexp.MustCompile(`^[0-9A-Za-z][0-9A-Za-z_-]*$`)

// snapshotter makes, lists and deletes the snapshots of a server's data
// directory (docs/operations.md).
type snapshotter struct {
	dataDir string
	db      *engine.DB
	ds      *downsampleSetup // nil without rollup tiers
	log     *slog.Logger

	mu       sync.Mutex // mu serialises snapshot creation and deletion
	created  prometheus.Counter
	duration prometheus.Histogram
}

func newSnapshotter(s *server, reg prometheus.Registerer) *snapshotter {
	sn := &snapshotter{dataDir: s.cfg.DataDir, db: s.db, ds: s.ds, log: s.log.With("component", "snapshot"),
		created: prometheus.NewCounter(prometheus.CounterOpts{Name: "snapshots_created_total",
			Help: "Snapshots made by /api/v1/admin/tsdb/snapshot and /snapshot/create."}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "snapshot_duration_seconds",
			Help: "Time to make a snapshot.", Buckets: prometheus.ExponentialBuckets(0.01, 4, 8)}),
	}
	reg.MustRegister(sn.created, sn.duration)
	sn.removeUnfinished()
	return sn
}

// removeUnfinished removes what a snapshot interrupted by a crash left
// (snapshots/.NAME.tmp).
func (sn *snapshotter) removeUnfinished() {
	root := filepath.Join(sn.dataDir, snapshotDir)
	ents, _ := os.ReadDir(root)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".") {
			err := os.RemoveAll(filepath.Join(root, e.Name()))
			sn.log.Warn("removed an unfinished snapshot", "dir", filepath.Join(root, e.Name()), "err", err)
		}
	}
}

// create makes a snapshot and returns its name: the raw engine's
// checkpoint, then the rollup builder's state, then each tier's
// checkpoint (a tier may hold more than the state says is built, never
// less), then the other state files of the data directory (retention
// policies).
func (sn *snapshotter) create() (string, error) {
	sn.mu.Lock()
	defer sn.mu.Unlock()
	start := time.Now()
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	name := start.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(rnd[:])
	root := filepath.Join(sn.dataDir, snapshotDir)
	if err := os.MkdirAll(root, 0o755); err != nil {
		return "", fmt.Errorf("create snapshot: %w", err)
	}
	tmp := filepath.Join(root, "."+name+".tmp")
	st, err := sn.build(tmp)
	if err == nil {
		err = os.Rename(tmp, filepath.Join(root, name))
	}
	if err != nil {
		return "", errors.Join(fmt.Errorf("create snapshot %s: %w", name, err), os.RemoveAll(tmp))
	}
	sn.created.Inc()
	sn.duration.Observe(time.Since(start).Seconds())
	sn.log.Info("snapshot created", "name", name, "files", st.Files, "bytes", st.Bytes, "linked", st.Linked,
		"took", time.Since(start).Round(time.Millisecond))
	return name, nil
}

// build writes the snapshot into dir.
func (sn *snapshotter) build(dir string) (engine.CheckpointStats, error) {
	st, err := sn.db.Checkpoint(dir)
	if err != nil {
		return st, err
	}
	if sn.ds != nil {
		src, dst := filepath.Join(sn.dataDir, rollupDir), filepath.Join(dir, rollupDir)
		if err := os.Mkdir(dst, 0o755); err != nil {
			return st, err
		}
		if err := copyStateFiles(src, dst); err != nil {
			return st, err
		}
		for d, tier := range sn.ds.tiers {
			if _, err := tier.Checkpoint(filepath.Join(dst, downsample.TierName(d))); err != nil {
				return st, fmt.Errorf("rollup tier %s: %w", downsample.TierName(d), err)
			}
		}
	}
	return st, copyStateFiles(sn.dataDir, dir)
}

// copyStateFiles copies the regular files of src that dst lacks (state
// files such as the retention policies; not the lock, not temporary
// files) to dst.
func copyStateFiles(src, dst string) error {
	ents, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	for _, e := range ents {
		n := e.Name()
		if !e.Type().IsRegular() || n == "LOCK" || strings.HasSuffix(n, ".tmp") {
			continue
		}
		if _, err := os.Lstat(filepath.Join(dst, n)); err == nil {
			continue // the checkpoint wrote it
		}
		if err := copyFileSynced(filepath.Join(src, n), filepath.Join(dst, n)); err != nil {
			return err
		}
	}
	return nil
}

func copyFileSynced(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	if err == nil {
		err = out.Sync()
	}
	return errors.Join(err, out.Close())
}

// list returns the names of the snapshots, sorted (by creation time to
// the second, then by their random suffix).
func (sn *snapshotter) list() ([]string, error) {
	ents, err := os.ReadDir(filepath.Join(sn.dataDir, snapshotDir))
	if errors.Is(err, os.ErrNotExist) {
		return []string{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list snapshots: %w", err)
	}
	names := []string{}
	for _, e := range ents {
		if e.IsDir() && snapshotNameRE.MatchString(e.Name()) {
			names = append(names, e.Name())
		}
	}
	slices.Sort(names)
	return names, nil
}

// delete removes the snapshot name.
func (sn *snapshotter) delete(name string) error {
	if !snapshotNameRE.MatchString(name) {
		return fmt.Errorf("%w %q", errBadSnapshotName, name)
	}
	sn.mu.Lock()
	defer sn.mu.Unlock()
	dir := filepath.Join(sn.dataDir, snapshotDir, name)
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%w: %q", errNoSnapshot, name)
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("delete snapshot %s: %w", name, err)
	}
	sn.log.Info("snapshot deleted", "name", name)
	return nil
}

// deleteAll removes every snapshot.
func (sn *snapshotter) deleteAll() error {
	names, err := sn.list()
	if err != nil {
		return err
	}
	for _, n := range names {
		if err := sn.delete(n); err != nil {
			return err
		}
	}
	return nil
}
