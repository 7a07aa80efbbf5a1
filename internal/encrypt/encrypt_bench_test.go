package encrypt

import (
	"fmt"
	"testing"
)

// BenchmarkSeal and BenchmarkDecode measure the sealing throughput, per
// write size: a WAL group of 8 KiB (1,000 samples at ~8 bytes), a
// 64 KiB frame, a 1 MiB segment-writer buffer.
func BenchmarkSeal(b *testing.B) {
	k, _ := NewKeyring("b", key(1))
	c, _ := k.NewFile()
	for _, n := range []int{8 << 10, 64 << 10, 1 << 20} {
		b.Run(fmt.Sprintf("bytes=%d", n), func(b *testing.B) {
			plain := make([]byte, n)
			var dst []byte
			b.SetBytes(int64(n))
			for range b.N {
				dst = c.AppendFrames(dst[:0], plain, 0)
			}
		})
	}
}

func BenchmarkDecode(b *testing.B) {
	k, _ := NewKeyring("b", key(1))
	c, _ := k.NewFile()
	plain := make([]byte, 4<<20)
	data := c.AppendFrames(append([]byte(nil), c.Header...), plain, 0)
	out := make([]byte, MaxPlain(data))
	b.SetBytes(int64(len(plain)))
	for range b.N {
		if _, _, err := c.Decode(out, data); err != nil {
			b.Fatal(err)
		}
	}
}
