package backup

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// WriteTar writes src, a snapshot (or a stopped data directory), to w as
// an uncompressed tar of the data directory's layout, followed by the
// backup manifest (TarManifest) with every file's SHA-256: `tar -x -C DIR`
// gives a data directory the server opens. It returns the manifest.
func WriteTar(src string, w io.Writer, opts Options) (*Manifest, error) {
	files, total, err := scan(src)
	if err != nil {
		return nil, err
	}
	name := opts.Name
	if name == "" {
		name = time.Now().UTC().Format("20060102T150405Z")
	}
	m := &Manifest{Version: manifestVersion, Name: name, Created: time.Now().UTC(), Source: src}
	tw := tar.NewWriter(w)
	p := Progress{FilesTotal: len(files), BytesTotal: total}
	for _, rel := range files {
		f, err := tarFile(tw, src, rel)
		if err != nil {
			return m, err
		}
		m.Files = append(m.Files, f)
		p.Files++
		p.Bytes += f.Size
		if opts.Progress != nil {
			opts.Progress(p)
		}
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return m, err
	}
	hdr := &tar.Header{Name: TarManifest, Mode: 0o644, Size: int64(len(b)), ModTime: m.Created, Format: tar.FormatPAX}
	if err := tw.WriteHeader(hdr); err != nil {
		return m, fmt.Errorf("tar: %w", err)
	}
	if _, err := tw.Write(b); err != nil {
		return m, fmt.Errorf("tar: %w", err)
	}
	return m, tw.Close()
}

// tarFile writes one file as a tar entry and returns its manifest entry.
func tarFile(tw *tar.Writer, src, rel string) (File, error) {
	path := filepath.Join(src, filepath.FromSlash(rel))
	in, err := os.Open(path)
	if err != nil {
		return File{}, fmt.Errorf("tar: %w", err)
	}
	defer in.Close()
	info, err := in.Stat()
	if err != nil {
		return File{}, fmt.Errorf("tar: %w", err)
	}
	hdr := &tar.Header{Name: rel, Mode: 0o644, Size: info.Size(), ModTime: info.ModTime(), Format: tar.FormatPAX}
	if err := tw.WriteHeader(hdr); err != nil {
		return File{}, fmt.Errorf("tar %s: %w", rel, err)
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tw, h), io.LimitReader(in, info.Size()))
	if err != nil {
		return File{}, fmt.Errorf("tar %s: %w", rel, err)
	}
	if n != info.Size() {
		return File{}, fmt.Errorf("tar %s: file shrank from %d to %d bytes while read", rel, info.Size(), n)
	}
	return File{Path: rel, Size: n, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}

// RestoreTar writes a tar of WriteTar read from r into dataDir, which must
// be empty or missing, and checks every file against the manifest at the
// end of the stream (size and SHA-256; a file missing from the stream or
// not in the manifest is an error too). On an error the directory holds a
// partial restore: discard it.
func RestoreTar(r io.Reader, dataDir string, opts Options) (*Manifest, error) {
	if err := checkEmpty(dataDir); err != nil {
		return nil, err
	}
	got := map[string]File{}
	var m *Manifest
	tr := tar.NewReader(r)
	p := Progress{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("restore: tar: %w", err)
		}
		if h.Name == TarManifest {
			if m, err = readTarManifest(tr); err != nil {
				return nil, err
			}
			continue
		}
		f, err := restoreTarFile(tr, h, dataDir)
		if err != nil {
			return nil, err
		}
		got[f.Path] = f
		p.Files++
		p.Bytes += f.Size
		if opts.Progress != nil {
			opts.Progress(p)
		}
	}
	if m == nil {
		return nil, fmt.Errorf("restore: the tar has no %s: not a lightning-admin backup tar, or cut short", TarManifest)
	}
	return m, checkTarFiles(m, got)
}

func readTarManifest(r io.Reader) (*Manifest, error) {
	var m Manifest
	if err := json.NewDecoder(io.LimitReader(r, 1<<30)).Decode(&m); err != nil {
		return nil, fmt.Errorf("restore: %s: %w", TarManifest, err)
	}
	return &m, checkPaths(&m)
}

// restoreTarFile writes one regular file entry under dataDir.
func restoreTarFile(tr *tar.Reader, h *tar.Header, dataDir string) (File, error) {
	rel := filepath.FromSlash(h.Name)
	if h.Typeflag != tar.TypeReg || !filepath.IsLocal(rel) {
		return File{}, fmt.Errorf("restore: tar entry %q is not a regular file inside the data directory", h.Name)
	}
	path := filepath.Join(dataDir, rel)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return File{}, fmt.Errorf("restore: %w", err)
	}
	out, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return File{}, fmt.Errorf("restore: %w", err)
	}
	h256 := sha256.New()
	n, err := io.Copy(io.MultiWriter(out, h256), tr)
	if err == nil {
		err = out.Sync()
	}
	if err = errors.Join(err, out.Close()); err != nil {
		return File{}, fmt.Errorf("restore %s: %w", h.Name, err)
	}
	return File{Path: h.Name, Size: n, SHA256: hex.EncodeToString(h256.Sum(nil))}, syncDir(filepath.Dir(path))
}

// checkTarFiles compares the files restored with the manifest.
func checkTarFiles(m *Manifest, got map[string]File) error {
	for _, f := range m.Files {
		g, ok := got[f.Path]
		if !ok {
			return fmt.Errorf("restore: %s is in the manifest but not in the tar", f.Path)
		}
		if g != f {
			return fmt.Errorf("%w: %s: %d bytes with SHA-256 %s, the manifest says %d bytes with %s",
				ErrChecksum, f.Path, g.Size, g.SHA256, f.Size, f.SHA256)
		}
		delete(got, f.Path)
	}
	for p := range got {
		return fmt.Errorf("restore: %s is in the tar but not in the manifest", p)
	}
	return nil
}
