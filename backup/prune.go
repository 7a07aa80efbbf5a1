package backup

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// lockName is the lock file of a backup directory: Create and Prune hold
// it, so a prune never deletes the objects of a backup being written.
const lockName = "LOCK"

// lockDest takes the backup directory's lock, creating dest.
func lockDest(dest string) (io.Closer, error) {
	if err := os.MkdirAll(dest, 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(dest, lockName), os.O_CREATE|os.O_RDWR|unix.O_CLOEXEC, 0o644)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: %s", ErrLocked, dest)
		}
		return nil, err
	}
	return f, nil
}

// PruneStats is what Prune deleted.
type PruneStats struct {
	Backups     []string
	Objects     int
	FreedBytes  int64
	KeptBackups int
	KeptObjects int
}

// Prune deletes every backup of dest but the newest keep (keep >= 1), then
// every object that no remaining backup names (among them those of an
// interrupted backup).
func Prune(dest string, keep int) (PruneStats, error) {
	var st PruneStats
	if keep < 1 {
		return st, fmt.Errorf("prune: keep %d: at least the newest backup is kept", keep)
	}
	l, err := lockDest(dest)
	if err != nil {
		return st, err
	}
	defer l.Close()
	names, err := List(dest)
	if err != nil {
		return st, err
	}
	cut := max(len(names)-keep, 0)
	live := map[string]bool{}
	for _, n := range names[cut:] {
		m, err := ReadManifest(dest, n)
		if err != nil {
			return st, err
		}
		for _, f := range m.Files {
			live[f.SHA256] = true
		}
	}
	for _, n := range names[:cut] {
		if err := os.Remove(filepath.Join(dest, backupsDir, n+".json")); err != nil {
			return st, fmt.Errorf("prune: %w", err)
		}
		st.Backups = append(st.Backups, n)
	}
	st.KeptBackups, st.KeptObjects = len(names)-cut, len(live)
	if err := syncDir(filepath.Join(dest, backupsDir)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return st, err
	}
	return st, pruneObjects(dest, live, &st)
}

// pruneObjects deletes the objects (and temporary files) not in live.
func pruneObjects(dest string, live map[string]bool, st *PruneStats) error {
	root := filepath.Join(dest, objectsDir)
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if sum, ok := strings.CutSuffix(d.Name(), objectExt); ok && live[sum] {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if err := os.Remove(path); err != nil {
			return err
		}
		st.Objects++
		st.FreedBytes += info.Size()
		return nil
	})
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("prune: %w", err)
	}
	return nil
}
