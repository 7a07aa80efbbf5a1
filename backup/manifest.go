package backup

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// manifestVersion is the format version of backup manifests.
const manifestVersion = 1

const (
	objectsDir = "objects"
	backupsDir = "backups"
	objectExt  = ".zst"
	// TarManifest is the name of the manifest entry at the end of a tar
	// stream (WriteTar).
	TarManifest = "BACKUP-MANIFEST.json"
)

// Manifest lists the files of one backup.
type Manifest struct {
	Version int       `json:"version"`
	Name    string    `json:"name"`
	Created time.Time `json:"created"`
	// Source is the directory the backup was taken from.
	Source string `json:"source"`
	Files  []File `json:"files"`
}

// File is one file of a backup: its path in the data directory (slash
// separated), its size and the SHA-256 of its bytes, which names its
// object.
type File struct {
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// Bytes returns the total size of the files.
func (m *Manifest) Bytes() int64 {
	var n int64
	for _, f := range m.Files {
		n += f.Size
	}
	return n
}

// objectPath returns the path of the object of the SHA-256 sum (hex).
func objectPath(dest, sum string) string {
	return filepath.Join(dest, objectsDir, sum[:2], sum+objectExt)
}

// checkName refuses a backup name that is not a plain file name.
func checkName(name string) error {
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, `/\`) {
		return fmt.Errorf("%w %q", ErrBadName, name)
	}
	return nil
}

// List returns the names of the backups in dest, oldest first (names
// begin with their time).
func List(dest string) ([]string, error) {
	ents, err := os.ReadDir(filepath.Join(dest, backupsDir))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list backups: %w", err)
	}
	var names []string
	for _, e := range ents {
		if n, ok := strings.CutSuffix(e.Name(), ".json"); ok && e.Type().IsRegular() {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return names, nil
}

// ReadManifest reads the manifest of backup name in dest; an empty name
// is the latest backup.
func ReadManifest(dest, name string) (*Manifest, error) {
	if name == "" {
		names, err := List(dest)
		if err != nil {
			return nil, err
		}
		if len(names) == 0 {
			return nil, fmt.Errorf("%w in %s", ErrNoBackup, dest)
		}
		name = names[len(names)-1]
	}
	if err := checkName(name); err != nil {
		return nil, err
	}
	b, err := os.ReadFile(filepath.Join(dest, backupsDir, name+".json"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w %q in %s", ErrNoBackup, name, dest)
	}
	if err != nil {
		return nil, fmt.Errorf("read backup manifest: %w", err)
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("backup manifest %s: %w", name, err)
	}
	if m.Version != manifestVersion {
		return nil, fmt.Errorf("backup manifest %s: version %d, want %d", name, m.Version, manifestVersion)
	}
	return &m, checkPaths(&m)
}

// checkPaths refuses a manifest whose paths leave the data directory.
func checkPaths(m *Manifest) error {
	for _, f := range m.Files {
		p := filepath.FromSlash(f.Path)
		if !filepath.IsLocal(p) || len(f.SHA256) != 64 {
			return fmt.Errorf("backup manifest %s: bad entry %q", m.Name, f.Path)
		}
	}
	return nil
}
