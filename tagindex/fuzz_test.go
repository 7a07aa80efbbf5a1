package tagindex

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"testing"

	"github.com/lightningdb/lightningdb/series"
)

func fuzzSeed(tb testing.TB) []byte {
	p := NewPartition(0, 99)
	for id, nv := range [][]string{
		{"__name__", "up", "job", "api"},
		{"__name__", "up", "job", "db", "ü", "日本"},
		{"__name__", "cpu", "host", "a"},
	} {
		if err := p.Add(series.ID(id+1), series.FromStrings(nv...).AppendCanonical(nil)); err != nil {
			tb.Fatal(err)
		}
	}
	var b bytes.Buffer
	if _, err := p.WriteTo(&b); err != nil {
		tb.Fatal(err)
	}
	return b.Bytes()
}

// fixChecksums rewrites every checksum of a file so the fuzzer's mutations
// reach the block decoders instead of stopping at a CRC mismatch.
func fixChecksums(data []byte) {
	if len(data) < headerSize+footerSize {
		return
	}
	end := len(data) - footerSize
	f := data[end:]
	binary.LittleEndian.PutUint32(f[4:], crc32.Checksum(data[:headerSize], castagnoli))
	binary.LittleEndian.PutUint64(f[8:], uint64(end-headerSize))
	for pos := headerSize; pos+blockHdrSize <= end; {
		n := int(binary.LittleEndian.Uint32(data[pos:]))
		if n > end-pos-blockHdrSize {
			break
		}
		payload := data[pos+blockHdrSize : pos+blockHdrSize+n]
		binary.LittleEndian.PutUint32(data[pos+4:], crc32.Checksum(payload, castagnoli))
		pos += blockHdrSize + n + pad8(n)
	}
	binary.LittleEndian.PutUint32(f[16:], crc32.Checksum(f[:16], castagnoli))
}

// FuzzDecodePartition feeds arbitrary bytes, raw and with checksums fixed,
// to the decoder: it must return a partition or an error, never panic, and
// a partition it returns must re-encode to a file that decodes equal.
func FuzzDecodePartition(f *testing.F) {
	seed := fuzzSeed(f)
	f.Add(seed, false)
	f.Add(seed, true)
	f.Add(seed[:len(seed)/2], true)
	f.Add([]byte{}, false)
	f.Fuzz(func(t *testing.T, data []byte, fix bool) {
		data = bytes.Clone(data)
		if fix {
			fixChecksums(data)
		}
		p, err := DecodePartition("fuzz", data)
		if err != nil {
			return
		}
		var b bytes.Buffer
		if _, err := p.WriteTo(&b); err != nil {
			t.Fatal(err)
		}
		q, err := DecodePartition("again", b.Bytes())
		if err != nil {
			t.Fatalf("re-encoded partition does not decode: %v", err)
		}
		if q.NumSeries() != p.NumSeries() || len(q.labelNames(nil)) != len(p.labelNames(nil)) {
			t.Fatal("round trip changed the partition")
		}
		all, _ := p.Postings()
		_, _ = p.Postings(MustNewMatcher(MatchRegexp, "job", "a.*"), MustNewMatcher(MatchNotEqual, "host", ""))
		_ = p.Stats(3)
		if all.GetCardinality() != uint64(p.NumSeries()) {
			t.Fatal("series count differs from the series bitmap")
		}
	})
}
