package backup

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/klauspost/compress/zstd"
)

// Options are the options of Create, Restore and Verify. The zero value
// is the default.
type Options struct {
	// Name names the backup; empty: the time, as 20060102T150405Z.
	Name string
	// Full writes every object even when the backup directory has it.
	Full bool
	// Progress, when set, is called after each file.
	Progress func(Progress)
}

// Progress is how far an operation is.
type Progress struct {
	Files, FilesTotal int
	Bytes, BytesTotal int64
}

// Stats is what Create wrote.
type Stats struct {
	Name  string
	Files int
	Bytes int64 // size of the backup's files
	// Written is the number of objects written (the others were in the
	// backup directory already), WrittenBytes their compressed size.
	Written      int
	WrittenBytes int64
}

// Create backs up src, a snapshot (or a stopped data directory), into
// dest. Objects dest has already are not written again unless
// opts.Full.
func Create(src, dest string, opts Options) (Stats, error) {
	name := opts.Name
	if name == "" {
		name = time.Now().UTC().Format("20060102T150405Z")
	}
	if err := checkName(name); err != nil {
		return Stats{}, err
	}
	if _, err := os.Stat(filepath.Join(dest, backupsDir, name+".json")); err == nil {
		return Stats{}, fmt.Errorf("backup %q exists in %s: %w", name, dest, fs.ErrExist)
	}
	files, total, err := scan(src)
	if err != nil {
		return Stats{}, err
	}
	l, err := lockDest(dest)
	if err != nil {
		return Stats{}, err
	}
	defer l.Close()
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest))
	if err != nil {
		return Stats{}, err
	}
	defer enc.Close()
	m := &Manifest{Version: manifestVersion, Name: name, Created: time.Now().UTC(), Source: src}
	st := Stats{Name: name}
	p := Progress{FilesTotal: len(files), BytesTotal: total}
	for _, rel := range files {
		f, wrote, err := backupFile(src, dest, rel, enc, opts.Full)
		if err != nil {
			return st, err
		}
		m.Files = append(m.Files, f)
		st.Files++
		st.Bytes += f.Size
		if wrote >= 0 {
			st.Written++
			st.WrittenBytes += wrote
		}
		p.Files++
		p.Bytes += f.Size
		if opts.Progress != nil {
			opts.Progress(p)
		}
	}
	return st, writeManifest(dest, m)
}

// scan lists the files of src to back up (slash-separated paths, sorted)
// and their total size: everything but the lock, temporary files and the
// snapshots directory.
func scan(src string) ([]string, int64, error) {
	var files []string
	var total int64
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		switch {
		case d.IsDir() && rel == "snapshots":
			return filepath.SkipDir
		case !d.Type().IsRegular() || rel == "LOCK" || strings.HasSuffix(rel, ".tmp"):
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		files = append(files, filepath.ToSlash(rel))
		total += info.Size()
		return nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("scan %s: %w", src, err)
	}
	return files, total, nil
}

// backupFile hashes src/rel and writes its object unless dest has it (and
// !full). It returns the file's entry and the compressed bytes written
// (-1: none).
func backupFile(src, dest, rel string, enc *zstd.Encoder, full bool) (File, int64, error) {
	path := filepath.Join(src, filepath.FromSlash(rel))
	in, err := os.Open(path)
	if err != nil {
		return File{}, 0, fmt.Errorf("backup: %w", err)
	}
	defer in.Close()
	h := sha256.New()
	size, err := io.Copy(h, in)
	if err != nil {
		return File{}, 0, fmt.Errorf("backup: read %s: %w", path, err)
	}
	f := File{Path: rel, Size: size, SHA256: hex.EncodeToString(h.Sum(nil))}
	obj := objectPath(dest, f.SHA256)
	if _, err := os.Stat(obj); err == nil && !full {
		return f, -1, nil
	}
	if _, err := in.Seek(0, io.SeekStart); err != nil {
		return f, 0, err
	}
	n, err := writeObject(obj, io.LimitReader(in, size), enc)
	if err != nil {
		return f, 0, fmt.Errorf("backup %s: %w", path, err)
	}
	return f, n, nil
}

// writeObject compresses r into the object file obj (temporary name,
// fsync, rename) and returns its size.
func writeObject(obj string, r io.Reader, enc *zstd.Encoder) (int64, error) {
	if err := os.MkdirAll(filepath.Dir(obj), 0o755); err != nil {
		return 0, err
	}
	tmp := obj + ".tmp"
	out, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return 0, err
	}
	cw := &countWriter{w: out}
	enc.Reset(cw)
	_, err = io.Copy(enc, r)
	err = errors.Join(err, enc.Close())
	if err == nil {
		err = out.Sync()
	}
	if err = errors.Join(err, out.Close()); err != nil {
		os.Remove(tmp)
		return 0, err
	}
	if err := os.Rename(tmp, obj); err != nil {
		return 0, err
	}
	return cw.n, syncDir(filepath.Dir(obj))
}

// writeManifest writes m as dest/backups/NAME.json (temporary name,
// fsync, rename, fsync the directory): the commit point of a backup.
func writeManifest(dest string, m *Manifest) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	dir := filepath.Join(dest, backupsDir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := syncDir(filepath.Join(dest, objectsDir)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	name := filepath.Join(dir, m.Name+".json")
	if err := os.WriteFile(name+".tmp", b, 0o644); err != nil {
		return fmt.Errorf("write backup manifest: %w", err)
	}
	if err := syncFile(name + ".tmp"); err != nil {
		return err
	}
	if err := os.Rename(name+".tmp", name); err != nil {
		return fmt.Errorf("write backup manifest: %w", err)
	}
	return syncDir(dir)
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

func syncFile(name string) error {
	f, err := os.OpenFile(name, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	return errors.Join(f.Sync(), f.Close())
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	return errors.Join(f.Sync(), f.Close())
}
