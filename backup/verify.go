package backup

import (
	"fmt"
	"io"

	"github.com/klauspost/compress/zstd"
)

// Damage is a file of a backup whose object is missing or does not match
// its checksum.
type Damage struct {
	Backup string
	File   File
	Err    error
}

// VerifyReport is what Verify checked and found.
type VerifyReport struct {
	Backups, Files int
	Bytes          int64
	Damage         []Damage
}

// Verify checks every file of backup name in dest (empty: every backup):
// its object decompresses to bytes of the manifest's size and SHA-256.
// Damage is reported, not returned as an error; an object shared by
// several backups is checked once.
func Verify(dest, name string, opts Options) (*VerifyReport, error) {
	names := []string{name}
	if name == "" {
		var err error
		if names, err = List(dest); err != nil {
			return nil, err
		}
		if len(names) == 0 {
			return nil, fmt.Errorf("%w in %s", ErrNoBackup, dest)
		}
	}
	var ms []*Manifest
	p := Progress{}
	for _, n := range names {
		m, err := ReadManifest(dest, n)
		if err != nil {
			return nil, err
		}
		ms = append(ms, m)
		p.FilesTotal += len(m.Files)
		p.BytesTotal += m.Bytes()
	}
	dec, err := zstd.NewReader(nil)
	if err != nil {
		return nil, err
	}
	defer dec.Close()
	rep := &VerifyReport{Backups: len(ms)}
	checked := map[string]error{}
	for _, m := range ms {
		for _, f := range m.Files {
			err, ok := checked[f.SHA256]
			if !ok {
				err = copyObject(io.Discard, dest, f, dec)
				checked[f.SHA256] = err
			}
			if err != nil {
				rep.Damage = append(rep.Damage, Damage{Backup: m.Name, File: f, Err: err})
			}
			rep.Files++
			rep.Bytes += f.Size
			p.Files++
			p.Bytes += f.Size
			if opts.Progress != nil {
				opts.Progress(p)
			}
		}
	}
	return rep, nil
}
