// Package atomicfile writes small state files so that after a crash a file
// holds its old or its new content, never a mix. The engine has its own,
// through its file-system seam; this one is for the packages beside it
// (retention policies, the rollup builder's progress).
package atomicfile

import (
	"errors"
	"os"
	"path/filepath"
)

// Write writes dir/name through a temporary file, fsyncs it, renames it
// into place and fsyncs the directory.
func Write(dir, name string, data []byte) error {
	tmp := filepath.Join(dir, name+".tmp")
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(dir, name))
	}
	if err != nil {
		_ = os.Remove(tmp)
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	return errors.Join(err, d.Close())
}
