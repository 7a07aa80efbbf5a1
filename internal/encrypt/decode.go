package encrypt

import (
	"fmt"
)

// resyncBudget bounds the frames Scan tries to authenticate while looking
// for the next good frame after damage: bytes crafted to pass the cheap
// checks everywhere cannot make a scan quadratic.
const resyncBudget = 64

// MaxPlain is the room Decode needs for the sealed file data: at most
// its size less the header.
func MaxPlain(data []byte) int { return max(len(data)-HeaderSize, 0) }

// Decode opens the sealed file data (header included) into dst, which
// must have room for MaxPlain(data) bytes, and returns its frames and
// plaintext size. A frame that does not authenticate, a damaged stretch
// (a frame head that does not follow from the frame before, up to the
// next frame that authenticates at the offset expected or beyond:
// resync) and a last frame cut short (a torn write) read as zeros and are
// marked Damaged. Every format stored in sealed files has checksums that
// zeros fail, so damage takes the path it takes in a plain file (a torn
// WAL tail is cut, a damaged segment block is skipped, damage in the
// middle of a WAL stops the open), while a wrong key never yields data
// (OpenHeader refuses it).
func (c *Cipher) Decode(dst, data []byte) (frames []Frame, size int64, err error) {
	if len(dst) < MaxPlain(data) {
		return nil, 0, fmt.Errorf("encrypt: decode buffer of %d bytes for %d", len(dst), MaxPlain(data))
	}
	damaged := func(pos int, l int64) {
		if l > 0 {
			clear(dst[size : size+l])
			frames = append(frames, Frame{Phys: int64(pos), Off: size, Len: int(l), Damaged: true})
			size += l
		}
	}
	pos := HeaderSize
	budget := resyncBudget
	for pos < len(data) {
		n, off, ok := FrameHead(data[pos:])
		if ok && off == size && pos+n <= len(data) {
			plen := n - FrameOverhead
			if _, err := c.OpenFrame(dst[size:size], data[pos:pos+n]); err == nil {
				frames = append(frames, Frame{Phys: int64(pos), Off: off, Len: plen})
				size += int64(plen)
				pos += n
				continue
			}
			// Damaged inside, or its length is: a frame follows where
			// its length says (or the file ends there) only in the first case.
			if nn, noff, ok := FrameHead(data[pos+n:]); pos+n == len(data) || ok && noff == size+int64(plen) && pos+n+nn <= len(data) {
				damaged(pos, int64(plen))
				pos += n
				continue
			}
		}
		next, noff := c.resync(dst[size:], data, pos, size, &budget)
		switch {
		case next >= 0:
			damaged(pos, noff-size)
			pos = next
			continue
		case ok && off == size: // the last frame, cut short (a torn write)
			damaged(pos, int64(min(n, len(data)-pos)-FrameOverhead))
		default: // damage to the end
			damaged(pos, int64(len(data)-pos-FrameOverhead))
		}
		break
	}
	return frames, size, nil
}

// resync returns the position and offset of the first frame after pos
// that authenticates at an offset from size on (and not beyond what the
// bytes in between could hold), or -1.
func (c *Cipher) resync(scratch, data []byte, pos int, size int64, budget *int) (int, int64) {
	for p := pos + 1; p+FrameOverhead <= len(data) && *budget > 0; p++ {
		n, off, ok := FrameHead(data[p:])
		if !ok || off < size || off-size > int64(p-pos) || p+n > len(data) {
			continue
		}
		*budget--
		if _, err := c.OpenFrame(scratch[:0], data[p:p+n]); err == nil {
			return p, off
		}
	}
	return -1, 0
}

// ReadAll opens a whole sealed file: plain data (not sealed) is returned
// as it is; a sealed file is decoded with the keyring, and fails when the
// keyring lacks its key or its header is damaged. damaged counts the
// stretches that read as zeros.
func (k *Keyring) ReadAll(name string, data []byte) (plain []byte, damaged int, err error) {
	if !IsSealed(data) {
		return data, 0, nil
	}
	c, err := k.OpenHeader(name, data)
	if err != nil {
		return nil, 0, err
	}
	plain = make([]byte, MaxPlain(data))
	frames, size, err := c.Decode(plain, data)
	if err != nil {
		return nil, 0, err
	}
	plain = plain[:size]
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
