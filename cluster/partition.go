package cluster

import (
	"fmt"

	"github.com/lightningdb/lightningdb/series"
)

// maxRawBytes bounds the raw body of one message, before compression:
// nats-server refuses payloads over its max_payload (1 MiB by default),
// and zstd never grows a body by more than a few bytes per block.
const maxRawBytes = 900 << 10

// PartitionOf returns the partition of a series: its canonical labels'
// hash (series.HashCanonical, stable across processes and versions)
// modulo the partition count.
func PartitionOf(canonical []byte, partitions int) int {
	return int(series.HashCanonical(canonical) % uint64(partitions))
}

// Subject returns the subject of partition p of stream.
func Subject(stream string, p int) string { return fmt.Sprintf("%s.p.%02d", stream, p) }

// split groups the series of b by partition and cuts each group into
// messages of at most about maxRaw raw bytes; a series with more samples
// than fit is cut across messages. The series skip names (in index
// order) are left out. It returns, per message, the partition and its
// spans.
func split(b *series.Batch, partitions, maxRaw int, skip []series.Rejection) []part {
	byPart := make(map[int][]span)
	var order []int
	for i := range b.Len() {
		if len(skip) > 0 && skip[0].Index == i {
			skip = skip[1:]
			continue
		}
		canon, _, ts, _ := b.Series(i)
		p := PartitionOf(canon, partitions)
		if _, ok := byPart[p]; !ok {
			order = append(order, p)
		}
		byPart[p] = append(byPart[p], span{i: i, lo: 0, hi: len(ts)})
	}
	var out []part
	for _, p := range order {
		cur := part{p: p}
		size := 0
		for _, s := range byPart[p] {
			for s.lo < s.hi {
				n := spanRawBytes(b, s)
				if size+n <= maxRaw {
					cur.spans = append(cur.spans, s)
					size += n
					break
				}
				if len(cur.spans) > 0 { // close the message, retry in a new one
					out = append(out, cur)
					cur, size = part{p: p}, 0
					continue
				}
				// The series alone is too big: take the samples that fit.
				k := fitSamples(b, s, maxRaw)
				out = append(out, part{p: p, spans: []span{{s.i, s.lo, s.lo + k}}})
				s.lo += k
			}
		}
		if len(cur.spans) > 0 {
			out = append(out, cur)
		}
	}
	return out
}

type part struct {
	p     int
	spans []span
}

// fitSamples returns how many samples of s, from s.lo, fit in maxRaw
// bytes: one at least.
func fitSamples(b *series.Batch, s span, maxRaw int) int {
	lo, hi := 1, s.hi-s.lo
	for lo < hi { // largest k with spanRawBytes(k) <= maxRaw
		mid := (lo + hi + 1) / 2
		if spanRawBytes(b, span{s.i, s.lo, s.lo + mid}) <= maxRaw {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return lo
}
