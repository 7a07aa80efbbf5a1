package encrypt

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func key(b byte) []byte { return bytes.Repeat([]byte{b}, KeySize) }

func ring(t testing.TB, keys ...[]byte) *Keyring {
	t.Helper()
	k, err := NewKeyring("t", keys...)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestParseKeyFile(t *testing.T) {
	line, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	line2, _ := GenerateKey()
	for _, tc := range []struct {
		name, in string
		keys     int
		err      string
	}{
		{"raw", string(key(0xfe)), 1, ""},
		{"one hex line", line + "\n", 1, ""},
		{"two lines and comments", "# keys\n" + line + "\n\n" + line2 + "\n", 2, ""},
		{"short hex", "abcd\n", 0, "line 1: want 64 hex digits"},
		{"not hex", strings.Repeat("zz", 32), 0, "(not hex)"},
		{"empty", "\n# nothing\n", 0, "no key"},
		{"duplicate", line + "\n" + line + "\n", 0, "appears twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, err := ParseKeyFile("keyfile", []byte(tc.in))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), "keyfile") {
					t.Fatalf("err %v, want %q naming the file", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(k.IDs()) != tc.keys {
				t.Fatalf("%d keys, want %d", len(k.IDs()), tc.keys)
			}
		})
	}
}

func TestSealRoundTripAndRotation(t *testing.T) {
	a, b := ring(t, key(1)), ring(t, key(1), key(2))
	plain := bytes.Repeat([]byte("label=value "), 20000) // several frames
	sealed, err := a.Seal(plain)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte("label=value")) {
		t.Fatal("plaintext in the sealed file")
	}
	for _, k := range []*Keyring{a, b} {
		got, damaged, err := k.ReadAll("f", sealed)
		if err != nil || damaged != 0 || !bytes.Equal(got, plain) {
			t.Fatalf("read back: err %v, damaged %d, equal %v", err, damaged, bytes.Equal(got, plain))
		}
	}
	sealedB, _ := b.Seal(plain)
	_, _, err = a.ReadAll("file-b", sealedB)
	var ke *KeyError
	if !errors.As(err, &ke) || ke.KeyID != IDOf(key(2)) || !strings.Contains(err.Error(), "file-b") {
		t.Fatalf("reading B's file with A: %v", err)
	}
	// A damaged header is damage, not a missing key.
	sealed[9] ^= 1
	if _, _, err := b.ReadAll("f", sealed); !errors.Is(err, ErrDamaged) {
		t.Fatalf("damaged header: %v", err)
	}
	// Plain data passes through.
	if got, _, err := a.ReadAll("p", []byte("LDBMAN")); err != nil || string(got) != "LDBMAN" {
		t.Fatalf("plain: %q %v", got, err)
	}
}

func TestDamagedFrameReadsAsZeros(t *testing.T) {
	k := ring(t, key(1))
	c, _ := k.NewFile()
	f := append([]byte(nil), c.Header...)
	for i := range 4 {
		f = c.AppendFrame(f, bytes.Repeat([]byte{byte('a' + i)}, 100), int64(i*100))
	}
	frame := 100 + FrameOverhead
	for _, tc := range []struct {
		name  string
		pos   int // flipped byte
		zeros [2]int
	}{
		{"ciphertext", HeaderSize + frame + 50, [2]int{100, 200}},
		{"length", HeaderSize + frame + 1, [2]int{100, 200}},
		{"offset", HeaderSize + 2*frame + 5, [2]int{200, 300}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := bytes.Clone(f)
			d[tc.pos] ^= 0x10
			out := make([]byte, MaxPlain(d))
			frames, size, err := c.Decode(out, d)
			if err != nil || size != 400 {
				t.Fatalf("size %d err %v (frames %+v)", size, err, frames)
			}
			for i := range 400 {
				want := byte('a' + i/100)
				if i >= tc.zeros[0] && i < tc.zeros[1] {
					want = 0
				}
				if out[i] != want {
					t.Fatalf("byte %d = %q, want %q (frames %+v)", i, out[i], want, frames)
				}
			}
		})
	}
}

// FuzzDecode feeds arbitrary frames after a valid header: Decode must not
// panic, must stay within MaxPlain, and a file Seal made must read back.
func FuzzDecode(f *testing.F) {
	k, _ := NewKeyring("fuzz", key(5))
	c, _ := k.NewFile()
	hdr := c.Header
	good := c.AppendFrames(nil, []byte("hello sealed world"), 0)
	f.Add(good, []byte("abc"))
	f.Add(append(good, 1, 2, 3), []byte{})
	f.Add([]byte{20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, bytes.Repeat([]byte{'x'}, 70000))
	f.Fuzz(func(t *testing.T, frames, plain []byte) {
		data := append(bytes.Clone(hdr), frames...)
		out := make([]byte, MaxPlain(data))
		fr, size, err := c.Decode(out, data)
		if err != nil || size > int64(len(out)) {
			t.Fatalf("size %d of room %d, err %v", size, len(out), err)
		}
		var off int64
		for _, x := range fr {
			if x.Off != off || x.Len <= 0 {
				t.Fatalf("frames not contiguous: %+v", fr)
			}
			off += int64(x.Len)
		}
		if off != size {
			t.Fatalf("frames cover %d of %d", off, size)
		}
		if _, err := k.OpenHeader("fuzz", data); err != nil {
			t.Fatal(err)
		}
		sealed, err := k.Seal(plain)
		if err != nil {
			t.Fatal(err)
		}
		got, damaged, err := k.ReadAll("fuzz", sealed)
		if err != nil || damaged != 0 || !bytes.Equal(got, plain) {
			t.Fatalf("round trip: damaged %d err %v", damaged, err)
		}
	})
}

// FuzzParseKeyFile: any bytes give a keyring or an error naming the file.
func FuzzParseKeyFile(f *testing.F) {
	line, _ := GenerateKey()
	f.Add([]byte(line))
	f.Add(key(3))
	f.Add([]byte("# c\n" + line + "\nzz"))
	f.Fuzz(func(t *testing.T, b []byte) {
		k, err := ParseKeyFile("kf", b)
		if err != nil {
			if !strings.Contains(err.Error(), "kf") {
				t.Fatalf("error without the file name: %v", err)
			}
			return
		}
		if len(k.IDs()) == 0 {
			t.Fatal("keyring without keys")
		}
	})
}
