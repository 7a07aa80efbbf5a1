// Package encoding compresses one block of one series: its timestamps and
// its values, each into a self-describing byte stream, and decodes them
// back. The segment writer calls it per block and adds what a block needs
// around it (series ID, time range, CRC); this package does no I/O and
// computes no checksums.
//
// Model:
//   - A block is up to MaxBlockSamples samples of one series. Timestamps are
//     int64 ns; numeric values are raw uint64 bits as package series
//     defines them (float64 bits, int64, uint64, bool 0/1); strings are byte
//     slices.
//   - Every stream starts with a codec byte that names its layout and
//     version, then the sample count, so a stream decodes without outside
//     knowledge except, for values, the series' type (which a decoder checks
//     against the codec byte). Layouts are drawn in the file of each codec
//     and in docs/encoding.md.
//   - Encoders try the layouts that fit and keep the smallest: timestamps
//     and integers choose among frame-of-reference, delta and
//     delta-of-delta, each with a patched bit packing or a Huffman packing
//     of the residuals; floats choose between a decimal (scaled integer)
//     layout and Gorilla XOR; booleans between bits and runs; strings
//     between plain and dictionary, each optionally zstd-compressed.
//   - Every codec is lossless for every input: all integer arithmetic wraps,
//     so any int64/uint64 sequence round-trips, including unsorted or
//     duplicate timestamps (keeping blocks sorted and unique is the
//     caller's job), and floats round-trip bit for bit (NaN payloads, ±Inf,
//     -0). The one normalization: a boolean stores any non-zero value as 1.
//   - Decoders treat their input as untrusted: corrupt or truncated input
//     yields an error wrapping ErrCorrupt, never a panic or a loop, and a
//     block cannot make a decoder allocate more than MaxBlockSamples values
//     (or MaxStringBlockBytes for strings).
//
// Encoders follow AppendX(dst, ...) ([]byte, error); decoders append to a
// caller's slice and return the rest of their input. An Encoder or a Decoder
// holds scratch state and is reused to keep the hot paths allocation-free;
// neither is safe for concurrent use, and the zero value of each is ready.
// There is no package-level mutable state.
package encoding
