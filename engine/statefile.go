package engine

import "io"

// WriteFileAtomic writes data to name through fs: a temporary file,
// fsynced, renamed into place, the directory fsynced. A crash leaves the
// old file or the new one. It is the engine's own atomic write, exported
// for the small state files kept beside engines on the same seam (the
// rollup builder's progress, downsample.Builder), so that the power-cut
// tests cover them.
func WriteFileAtomic(fs FS, name string, data []byte) error {
	return writeFileAtomic(fs, name, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}
