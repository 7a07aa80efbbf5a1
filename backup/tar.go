package backup

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
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
