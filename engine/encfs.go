package engine

import (
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"

	"github.com/lightningdb/lightningdb/internal/encrypt"
)

// EncFS is the FS seam with encryption at rest: every file it creates is
// sealed (internal/encrypt: a header naming the key, then frames sealed
// on their own with AES-256-GCM), every sealed file it opens is read with
// the key its header names. Files without the sealed header (written
// before encryption was turned on) are read as they are, so a database
// can turn encryption on and compaction seals the old data as it rewrites
// it. Why this layer rather than the writers: docs/security.md.
//
// Each Write seals its bytes at once (frames of at most 64 KiB), so a
// WAL group is its own frames: a failed write is undone by truncating
// back to the group's start, and a torn last group is a damaged tail frame,
// which reads as zeros and is cut by recovery like a torn plain record.
// Files are append-only: Seek may only move to the end.
//
// MapFile decodes the whole file into an anonymous read-only mapping:
// segments are then read from memory, the cost of not mapping ciphertext.
type EncFS struct {
	FS   FS
	Keys *encrypt.Keyring
}

var _ FS = (*EncFS)(nil)

// NewEncFS returns base with encryption by keys.
func NewEncFS(base FS, keys *encrypt.Keyring) *EncFS { return &EncFS{FS: base, Keys: keys} }

// OpenFile implements FS.
func (e *EncFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	writable := flag&(os.O_WRONLY|os.O_RDWR) != 0
	bflag := flag
	if writable {
		bflag = flag&^os.O_WRONLY | os.O_RDWR // to read existing frames back
	}
	f, err := e.FS.OpenFile(name, bflag, perm)
	if err != nil {
		return nil, err
	}
	if flag&os.O_TRUNC != 0 {
		return e.create(f)
	}
	var hdr [encrypt.HeaderSize]byte
	n, err := f.ReadAt(hdr[:], 0)
	if err != nil && !errors.Is(err, io.EOF) {
		f.Close()
		return nil, err
	}
	switch {
	case n == 0 && writable:
		return e.create(f) // new (O_CREATE), or empty
	case n < encrypt.HeaderSize && encrypt.IsSealed(hdr[:n]):
		// A header cut short: the file was created and never synced.
		if writable {
			if err := f.Truncate(0); err != nil {
				f.Close()
				return nil, err
			}
			return e.create(f)
		}
		return &encFile{f: f, loaded: true, torn: true}, nil
	case !encrypt.IsSealed(hdr[:n]):
		return f, nil // plain: written before encryption was on
	}
	c, err := e.Keys.OpenHeader(name, hdr[:])
	if err != nil {
		f.Close()
		return nil, e.wrap(name, err)
	}
	return &encFile{f: f, c: c}, nil
}

func (e *EncFS) wrap(name string, err error) error {
	if errors.Is(err, encrypt.ErrDamaged) {
		return &CorruptionError{File: name, Err: err}
	}
	return err
}

// create starts the sealed file f: its header, written at once.
func (e *EncFS) create(f File) (File, error) {
	c, err := e.Keys.NewFile()
	if err == nil {
		_, err = f.Write(c.Header)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return &encFile{f: f, c: c, loaded: true, phys: encrypt.HeaderSize}, nil
}

// ReadFile implements FS.
func (e *EncFS) ReadFile(name string) ([]byte, error) {
	data, err := e.FS.ReadFile(name)
	if err != nil || !encrypt.IsSealed(data) {
		return data, err
	}
	if len(data) < encrypt.HeaderSize {
		return []byte{}, nil
	}
	plain, _, err := e.Keys.ReadAll(name, data)
	if err != nil {
		return nil, e.wrap(name, err)
	}
	return plain, nil
}

// MapFile implements FS: a plain file is mapped as it is; a sealed one is
// decoded into an anonymous mapping, made read-only.
func (e *EncFS) MapFile(name string) ([]byte, func() error, error) {
	data, unmap, err := e.FS.MapFile(name)
	if err != nil || !encrypt.IsSealed(data) {
		return data, unmap, err
	}
	defer unmap()
	if len(data) < encrypt.HeaderSize {
		return []byte{}, func() error { return nil }, nil
	}
	c, err := e.Keys.OpenHeader(name, data)
	if err != nil {
		return nil, nil, e.wrap(name, err)
	}
	room := encrypt.MaxPlain(data)
	if room == 0 {
		return []byte{}, func() error { return nil }, nil
	}
	plain, unmapPlain, err := OSFS{}.mapAnon(room)
	if err != nil {
		return nil, nil, &os.PathError{Op: "mmap", Path: name, Err: err}
	}
	_, size, err := c.Decode(plain, data)
	if err != nil {
		unmapPlain()
		return nil, nil, err
	}
	if err := unix.Mprotect(plain, unix.PROT_READ); err != nil {
		unmapPlain()
		return nil, nil, &os.PathError{Op: "mprotect", Path: name, Err: err}
	}
	if size == 0 {
		unmapPlain()
		return []byte{}, func() error { return nil }, nil
	}
	return plain[:size:size], unmapPlain, nil
}

// Remove implements FS.
func (e *EncFS) Remove(name string) error { return e.FS.Remove(name) }

// Rename implements FS.
func (e *EncFS) Rename(oldname, newname string) error { return e.FS.Rename(oldname, newname) }

// MkdirAll implements FS.
func (e *EncFS) MkdirAll(dir string, perm os.FileMode) error { return e.FS.MkdirAll(dir, perm) }

// ReadDir implements FS.
func (e *EncFS) ReadDir(dir string) ([]string, error) { return e.FS.ReadDir(dir) }

// SyncDir implements FS.
func (e *EncFS) SyncDir(dir string) error { return e.FS.SyncDir(dir) }

// Lock implements FS.
func (e *EncFS) Lock(name string) (io.Closer, error) { return e.FS.Lock(name) }

// encFile is an open sealed file. Frames are known from the start for a
// file it created; an existing one is read and decoded whole at its first
// read, seek, truncation or write (copies for checkpoints, recovery's cut
// of a torn WAL tail), which keeps opening a file only to sync it cheap.
type encFile struct {
	f      File
	c      *encrypt.Cipher
	loaded bool
	torn   bool            // header cut short: an empty file, read-only
	frames []encrypt.Frame // loaded: the file's frames
	plain  []byte          // plaintext of an existing file, once loaded
	size   int64           // plaintext size
	phys   int64           // end of the last whole frame in the file
	buf    []byte
}

func (f *encFile) load() error {
	if f.loaded {
		return nil
	}
	end, err := f.f.Seek(0, io.SeekEnd)
	if err != nil {
		return err
	}
	data := make([]byte, end)
	if _, err := f.f.ReadAt(data, 0); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	plain := make([]byte, encrypt.MaxPlain(data))
	frames, size, err := f.c.Decode(plain, data)
	if err != nil {
		return err
	}
	f.plain, f.frames = plain[:size], frames
	f.size, f.phys = size, encrypt.HeaderSize
	if n := len(f.frames); n > 0 {
		last := f.frames[n-1]
		f.phys = last.Phys + int64(last.Len+encrypt.FrameOverhead)
	}
	f.phys = min(f.phys, end)
	if _, err := f.f.Seek(f.phys, io.SeekStart); err != nil {
		return err
	}
	f.loaded = true
	return nil
}

// Write seals p in frames and appends them. On a failed write, the
// whole frames written count; the caller's Truncate cuts the partial one,
// as it would cut a partial plain write.
func (f *encFile) Write(p []byte) (int, error) {
	if f.torn {
		return 0, errors.New("write to an encrypted file with a torn header")
	}
	if err := f.load(); err != nil {
		return 0, err
	}
	f.buf = f.c.AppendFrames(f.buf[:0], p, f.size)
	n, err := f.f.Write(f.buf)
	whole := 0
	for pos := 0; pos < n; {
		k, _, ok := encrypt.FrameHead(f.buf[pos:])
		if !ok || pos+k > n {
			break
		}
		plen := k - encrypt.FrameOverhead
		f.frames = append(f.frames, encrypt.Frame{Phys: f.phys, Off: f.size, Len: plen})
		if f.plain != nil {
			f.plain = append(f.plain, p[whole:whole+plen]...)
		}
		f.phys += int64(k)
		f.size += int64(plen)
		whole += plen
		pos += k
	}
	if err != nil {
		return whole, err
	}
	return len(p), nil
}

// ReadAt implements io.ReaderAt on the plaintext.
func (f *encFile) ReadAt(p []byte, off int64) (int, error) {
	if err := f.load(); err != nil {
		return 0, err
	}
	if f.plain == nil && f.size > 0 {
		return 0, errors.New("read back of an encrypted file being written")
	}
	if off >= int64(len(f.plain)) {
		return 0, io.EOF
	}
	n := copy(p, f.plain[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// Seek supports finding the size (0, io.SeekEnd) and staying at the end.
func (f *encFile) Seek(offset int64, whence int) (int64, error) {
	if err := f.load(); err != nil {
		return 0, err
	}
	var to int64
	switch whence {
	case io.SeekStart:
		to = offset
	case io.SeekCurrent, io.SeekEnd:
		to = f.size + offset
	}
	if to != f.size {
		return 0, fmt.Errorf("seek to %d in encrypted file %s of %d bytes: sealed files are append-only", to, f.Name(), f.size)
	}
	return to, nil
}

// Truncate cuts the plaintext at size: whole frames after it are dropped,
// the frame it falls in is sealed again with its first bytes (or dropped,
// when it is damaged: size then ends up at that frame's start).
func (f *encFile) Truncate(size int64) error {
	if err := f.load(); err != nil {
		return err
	}
	if size > f.size {
		return fmt.Errorf("truncate encrypted file %s of %d bytes to %d: cannot extend", f.Name(), f.size, size)
	}
	i := len(f.frames)
	for i > 0 && f.frames[i-1].Off >= size {
		i--
	}
	var keep []byte
	cut := f.phys
	if i < len(f.frames) {
		cut = f.frames[i].Phys
	}
	if i > 0 && f.frames[i-1].Off+int64(f.frames[i-1].Len) > size {
		fr := f.frames[i-1]
		i--
		cut = fr.Phys
		switch {
		case fr.Damaged:
		case f.plain == nil:
			return fmt.Errorf("truncate encrypted file %s being written to %d, within a frame", f.Name(), size)
		default:
			keep = append([]byte(nil), f.plain[fr.Off:size]...)
		}
	}
	if err := f.f.Truncate(cut); err != nil {
		return err
	}
	if _, err := f.f.Seek(cut, io.SeekStart); err != nil {
		return err
	}
	f.phys = cut
	f.size = 0
	if i > 0 {
		last := f.frames[i-1]
		f.size = last.Off + int64(last.Len)
	}
	f.frames = f.frames[:i]
	if f.plain != nil {
		f.plain = f.plain[:f.size]
	}
	if len(keep) > 0 {
		if _, err := f.Write(keep); err != nil {
			return err
		}
	}
	return nil
}

func (f *encFile) Sync() error  { return f.f.Sync() }
func (f *encFile) Close() error { return f.f.Close() }
func (f *encFile) Name() string { return f.f.Name() }
