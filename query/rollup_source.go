package query

import (
	"context"
	"fmt"

	"github.com/lightningdb/lightningdb/downsample"
	"github.com/lightningdb/lightningdb/series"
)

// RollupSource returns st as the raw data of a downsample.Builder: every
// numeric series over a range, as PromQL sees its samples (the same
// decoding pushdown uses, so records fold exactly like raw samples), once
// the range's samples are all in segments (downsample.ErrNotSealed).
func RollupSource(st Storage) downsample.Source { return rollupSource{st} }

type rollupSource struct{ st Storage }

func (s rollupSource) MinTime() (int64, bool) {
	parts := s.st.Index().Partitions()
	if len(parts) == 0 {
		return 0, false
	}
	return parts[0].MinT(), true
}

func (s rollupSource) Scan(ctx context.Context, minT, maxT int64, fn func(canonical []byte, ts []int64, vs []float64) error) error {
	ids, err := s.st.Index().Postings(minT, maxT)
	if err != nil {
		return err
	}
	eq, err := s.st.Querier(minT, maxT)
	if err != nil {
		return fmt.Errorf("open querier: %w", err)
	}
	defer eq.Close()
	reg := s.st.Registry()
	// Build from sealed data only: a memtable's samples of the range may
	// still be joined by more (a backfill in progress).
	it := ids.Iterator()
	for it.HasNext() {
		if _, ok := eq.Fingerprint(it.Next(), minT, maxT); !ok {
			return downsample.ErrNotSealed
		}
	}
	w := pdWorker{eq: eq, acct: &pushdownAccount{}}
	it = ids.Iterator()
	for k := 0; it.HasNext(); k++ {
		if k%256 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		id := it.Next()
		canon := reg.Labels(id)
		if canon == nil || reg.Type(id) == series.TypeString {
			continue
		}
		w.ts, w.vs = w.ts[:0], w.vs[:0]
		off, n, err := w.decodeInto(id, minT, maxT)
		if err != nil {
			return err
		}
		if n == 0 {
			continue
		}
		if err := fn(canon, w.ts[off:off+n], w.vs[off:off+n]); err != nil {
			return err
		}
	}
	return nil
}
