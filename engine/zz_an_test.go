package engine

import (
	"fmt"
	"os"
	"testing"

	"github.com/lightningdb/lightningdb/engine/encoding"
)

func TestZZAnalyze(t *testing.T) {
	path := os.Getenv("SEG")
	data, err := os.ReadFile(path)
	must(t, err)
	x, err := decodeSegIndex(path, data)
	must(t, err)
	var dec encoding.Decoder
	var tsB, refB, valB [3]int
	var n [3]int
	for i := range x.ids {
		f := i % 3
		for _, b := range x.blocks[x.first[i]:x.first[i+1]] {
			p, _ := checkBlock(data, b)
			var rest []byte
			if encoding.IsTimesRef(p) {
				_, rest, _ = encoding.DecodeTimesRef(p)
				refB[f] += len(p) - len(rest)
			} else {
				_, rest, _ = dec.DecodeTimestamps(nil, p)
				tsB[f] += len(p) - len(rest)
			}
			valB[f] += len(rest) + 4
			n[f] += int(b.count)
		}
	}
	idx := len(data) - int(x.blocks[len(x.blocks)-1].off) - int(x.blocks[len(x.blocks)-1].len)
	fmt.Printf("series %d blocks %d samples %d index+footer %d\n", len(x.ids), len(x.blocks), x.nSamples, idx)
	for f := range 3 {
		fmt.Printf("field %d: n %d ts %.3f ref %.3f val(+crc) %.3f B/sample\n", f, n[f], float64(tsB[f])/float64(n[f]), float64(refB[f])/float64(n[f]), float64(valB[f])/float64(n[f]))
	}
}
