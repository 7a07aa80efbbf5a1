package backup

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/klauspost/compress/zstd"
)

// Restore writes the files of backup name in dest (empty: the latest)
// into dataDir, which must be empty or missing, checking each file's
// checksum. It returns the backup's manifest.
func Restore(dest, name, dataDir string, opts Options) (*Manifest, error) {
	m, err := ReadManifest(dest, name)
	if err != nil {
		return nil, err
	}
	if err := checkEmpty(dataDir); err != nil {
		return nil, err
	}
	dec, err := zstd.NewReader(nil)
	if err != nil {
		return nil, err
	}
	defer dec.Close()
	dirs := map[string]bool{dataDir: true}
	p := Progress{FilesTotal: len(m.Files), BytesTotal: m.Bytes()}
	for _, f := range m.Files {
		path := filepath.Join(dataDir, filepath.FromSlash(f.Path))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return m, fmt.Errorf("restore: %w", err)
		}
		dirs[filepath.Dir(path)] = true
		if err := restoreFile(dest, f, path, dec); err != nil {
			return m, err
		}
		p.Files++
		p.Bytes += f.Size
		if opts.Progress != nil {
			opts.Progress(p)
		}
	}
	for d := range dirs {
		if err := syncDir(d); err != nil {
			return m, fmt.Errorf("restore: sync %s: %w", d, err)
		}
	}
	return m, nil
}

// checkEmpty refuses a data directory with anything in it.
func checkEmpty(dir string) error {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return os.MkdirAll(dir, 0o755)
	}
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	if len(ents) > 0 {
		return fmt.Errorf("%w: %s holds %s (restore writes only into an empty or new directory)", ErrNotEmpty, dir, ents[0].Name())
	}
	return nil
}

// restoreFile decompresses f's object to path, checking its checksum
// before it takes its final name.
func restoreFile(dest string, f File, path string, dec *zstd.Decoder) error {
	tmp := path + ".tmp"
	out, err := os.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	err = copyObject(out, dest, f, dec)
	if err == nil {
		err = out.Sync()
	}
	if err = errors.Join(err, out.Close()); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("restore %s: %w", f.Path, err)
	}
	return os.Rename(tmp, path)
}

// copyObject decompresses f's object into w and checks its size and
// SHA-256.
func copyObject(w io.Writer, dest string, f File, dec *zstd.Decoder) error {
	obj := objectPath(dest, f.SHA256)
	in, err := os.Open(obj)
	if err != nil {
		return err
	}
	defer in.Close()
	if err := dec.Reset(in); err != nil {
		return fmt.Errorf("%s: %w", obj, err)
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(w, h), dec)
	if err != nil {
		return fmt.Errorf("%s: %w", obj, err)
	}
	if sum := hex.EncodeToString(h.Sum(nil)); n != f.Size || sum != f.SHA256 {
		return fmt.Errorf("%w: %s: %d bytes with SHA-256 %s, the manifest says %d bytes with %s",
			ErrChecksum, obj, n, sum, f.Size, f.SHA256)
	}
	return nil
}
