package engine

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// write writes b to rel in the checkpoint, synced.
func (c *checkpointer) write(rel string, b []byte) error {
	f, err := c.db.fs.OpenFile(filepath.Join(c.dir, rel), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if err = errors.Join(err, f.Close()); err != nil {
		return fmt.Errorf("checkpoint: write %s: %w", rel, err)
	}
	c.count(int64(len(b)))
	return nil
}

func (c *checkpointer) count(n int64) {
	c.st.Files++
	c.st.Bytes += n
	c.lastSize = n
}

// copyIfExists copies the file rel of the database, its first limit bytes
// when limit >= 0, to the checkpoint. A missing file is skipped.
func (c *checkpointer) copyIfExists(rel string, limit int64) error {
	src, err := c.db.fs.OpenFile(filepath.Join(c.db.dir, rel), os.O_RDONLY, 0)
	if errors.Is(err, fs.ErrNotExist) {
		c.lastSize = 0
		return nil
	}
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	defer src.Close()
	size, err := src.Seek(0, io.SeekEnd)
	if err != nil {
		return fmt.Errorf("checkpoint: size of %s: %w", rel, err)
	}
	if limit >= 0 && limit < size {
		size = limit
	}
	dst, err := c.db.fs.OpenFile(filepath.Join(c.dir, rel), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	_, err = io.Copy(dst, io.NewSectionReader(src, 0, size))
	if err == nil {
		err = dst.Sync()
	}
	if err = errors.Join(err, dst.Close()); err != nil {
		return fmt.Errorf("checkpoint: copy %s: %w", rel, err)
	}
	c.count(size)
	return nil
}

// link hard-links the immutable file rel into the checkpoint, or copies it
// when the file system has no hard links there (another device, or an FS
// other than the operating system's).
func (c *checkpointer) link(rel string) error {
	if onOS(c.db.fs) {
		src := filepath.Join(c.db.dir, rel)
		if err := os.Link(src, filepath.Join(c.dir, rel)); err == nil {
			fi, err := os.Stat(src)
			if err != nil {
				return fmt.Errorf("checkpoint: %w", err)
			}
			c.count(fi.Size())
			c.st.Linked++
			return nil
		}
	}
	return c.copyIfExists(rel, -1)
}

// syncDirs fsyncs the checkpoint's directories.
func (c *checkpointer) syncDirs() error {
	for _, d := range []string{segDir, walDir, indexDir, "."} {
		if err := c.db.fs.SyncDir(filepath.Join(c.dir, d)); err != nil {
			return fmt.Errorf("checkpoint: sync %s: %w", d, err)
		}
	}
	return nil
}

// onOS reports whether fsys is the operating system's file system, bare
// or sealing files (EncFS): a sealed file is self-describing, so a hard
// link of it is a valid copy.
func onOS(fsys FS) bool {
	if e, ok := fsys.(*EncFS); ok {
		fsys = e.FS
	}
	_, ok := fsys.(OSFS)
	return ok
}
