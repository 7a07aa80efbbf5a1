package encoding

import (
	"github.com/klauspost/compress/huff0"
	"github.com/klauspost/compress/zstd"
)

// MaxBlockSamples is the most samples one encoded block may hold. Decoders
// reject blocks that claim more, which bounds what a corrupt block can make
// them allocate.
const MaxBlockSamples = 1 << 17

// MaxStringBlockBytes bounds the raw size of a string block (its lengths and
// bytes before zstd).
const MaxStringBlockBytes = 64 << 20

// Codec bytes: the first byte of every encoded stream. A new layout gets a
// new codec byte; old ones stay decodable.
const (
	codecTimestamps = 0x01 // timestamps v1: GCD-scaled deltas, integer body
	codecInt        = 0x02 // int64 and uint64 v1: integer body
	codecDecimal    = 0x03 // float v1: decimal scale byte, integer body
	codecGorilla    = 0x04 // float v1: Gorilla XOR bit stream
	codecBoolBits   = 0x05 // bool v1: one bit per sample
	codecBoolRuns   = 0x06 // bool v1: run lengths
	codecStrPlain   = 0x07 // string v1: lengths and bytes
	codecStrDict    = 0x08 // string v1: dictionary and integer body of indexes
	codecTimesRef   = 0x09 // timestamps: a reference to an earlier block's timestamps (tsref.go)
	codecZstdFlag   = 0x80 // string: the body after the codec byte is zstd-compressed
)

// Encoder encodes blocks. It keeps scratch buffers, a Huffman table and, once
// a string block needed it, a zstd encoder, so reusing one Encoder makes
// encoding allocation-free in steady state.
//
// The zero Encoder is ready to use. An Encoder is not safe for concurrent
// use; give each goroutine its own.
type Encoder struct {
	// Fast skips the Huffman candidates of integer residuals (patched
	// frames only): about half the encoding CPU for larger blocks. The
	// format is the same; the engine sets it for memtable flushes, whose
	// segments compaction rewrites with the full search.
	Fast bool

	res     []uint64 // residuals of the order being tried
	ints    []uint64 // integer view of float or string indexes
	cand    []byte   // candidate encoding being tried
	cand2   []byte   // second candidate (float and string codecs)
	plain   []byte   // plain string body
	huffBuf []byte   // Huffman candidate of a residual stream
	sym     []byte   // Huffman symbols
	exc     []byte   // Huffman exceptions
	huff    *huff0.Scratch
	zstd    *zstd.Encoder
	dict    map[string]int
}

// Decoder decodes blocks. It keeps a Huffman table, scratch buffers, the
// buffer that decoded strings alias and, once needed, a zstd decoder.
//
// The zero Decoder is ready to use. A Decoder is not safe for concurrent use;
// give each goroutine (each iterator) its own.
type Decoder struct {
	huff   *huff0.Scratch
	sym    []byte
	ints   []uint64
	strBuf []byte
	zstd   *zstd.Decoder
}
