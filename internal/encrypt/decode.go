package encrypt

import (
	"fmt"
)

// PlainSize returns the plaintext size of the sealed file data (header
// included) as Decode reads it, and its frames.
func PlainSize(data []byte) (int64, []Frame) {
	var frames []Frame
	var off int64
	pos := HeaderSize
	for pos < len(data) {
		n, ok := FrameLen(data[pos:])
		if !ok {
			// Cut short or a damaged length: the rest of the file is one
			// damaged stretch, as long as its plaintext could have been.
			rest := max(len(data)-pos-FrameOverhead, 0)
			if rest > 0 {
				frames = append(frames, Frame{Phys: int64(pos), Off: off, Len: rest, Damaged: true})
				off += int64(rest)
			}
			break
		}
		frames = append(frames, Frame{Phys: int64(pos), Off: off, Len: n - FrameOverhead})
		off += int64(n - FrameOverhead)
		pos += n
	}
	return off, frames
}

// Decode opens the sealed file data (header included) into dst, which
// must have room for PlainSize bytes, and returns its frames. A frame that
// does not authenticate, or a tail cut short, reads as zeros of its
// plaintext length and is marked Damaged: every format stored in sealed
// files has checksums that zeros fail, so damage takes the path it takes
// in a plain file (a torn WAL tail is cut, a damaged segment block is
// skipped), while a wrong key never yields data (OpenHeader refuses it).
func (c *Cipher) Decode(dst, data []byte) ([]Frame, error) {
	size, frames := PlainSize(data)
	if int64(len(dst)) < size {
		return nil, fmt.Errorf("encrypt: decode buffer of %d bytes for %d", len(dst), size)
	}
	for i := range frames {
		f := &frames[i]
		out := dst[f.Off : f.Off+int64(f.Len)]
		if !f.Damaged {
			end := f.Phys + int64(f.Len+FrameOverhead)
			if _, err := c.OpenFrame(out[:0], data[f.Phys:end], f.Off); err == nil {
				continue
			}
			f.Damaged = true
		}
		clear(out)
	}
	return frames, nil
}

// ReadAll opens a whole sealed file: plain data (not sealed) is returned
// as it is; a sealed file is decoded (Decode) with the keyring, and fails
// when the keyring lacks its key or its header is damaged. damaged counts
// frames that read as zeros.
func (k *Keyring) ReadAll(name string, data []byte) (plain []byte, damaged int, err error) {
	if !IsSealed(data) {
		return data, 0, nil
	}
	c, err := k.OpenHeader(name, data)
	if err != nil {
		return nil, 0, err
	}
	size, _ := PlainSize(data)
	plain = make([]byte, size)
	frames, err := c.Decode(plain, data)
	if err != nil {
		return nil, 0, err
	}
	for _, f := range frames {
		if f.Damaged {
			damaged++
		}
	}
	return plain, damaged, nil
}

// Seal returns plain as a new sealed file with the active key.
func (k *Keyring) Seal(plain []byte) ([]byte, error) {
	c, err := k.NewFile()
	if err != nil {
		return nil, err
	}
	dst := make([]byte, 0, HeaderSize+len(plain)+(len(plain)/MaxFramePlain+1)*FrameOverhead)
	dst = append(dst, c.Header...)
	return c.AppendFrames(dst, plain, 0), nil
}
