package main

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/lightningdb/lightningdb/downsample"
	"github.com/lightningdb/lightningdb/engine"
	"github.com/lightningdb/lightningdb/ingest"
	"github.com/lightningdb/lightningdb/ingest/lineproto"
	"github.com/lightningdb/lightningdb/tagindex"
)

// influxDeleter maps InfluxQL deletions onto the engine the way line
// protocol maps writes: measurement m with field f is the series named
// m<separator>f (or m alone with skip_single_field), its tags are labels,
// and the database is the db label.
type influxDeleter struct {
	db         *engine.DB
	ds         *downsampleSetup // the rollup tiers; nil without
	sep        string
	dbLabel    string
	skipSingle bool
}

func newInfluxDeleter(db *engine.DB, ds *downsampleSetup, cfg InfluxConfig) influxDeleter {
	def := lineproto.DefaultOptions()
	d := influxDeleter{db: db, ds: ds, sep: cfg.Separator, dbLabel: cfg.DBLabel, skipSingle: cfg.SkipSingleField}
	if d.sep == "" {
		d.sep = def.Separator
	}
	if d.dbLabel == "" {
		d.dbLabel = def.DBLabel
	}
	return d
}

// DeleteInflux implements ingest.InfluxDeleter.
func (d influxDeleter) DeleteInflux(ctx context.Context, x ingest.InfluxDelete) error {
	dbm, err := tagindex.NewMatcher(tagindex.MatchEqual, d.dbLabel, x.Database)
	if err != nil {
		return err
	}
	base := []*tagindex.Matcher{dbm}
	for _, c := range x.Tags {
		typ := tagindex.MatchEqual
		if c.Not {
			typ = tagindex.MatchNotEqual
		}
		m, err := tagindex.NewMatcher(typ, c.Key, c.Value)
		if err != nil {
			return fmt.Errorf("tag %q: %w", c.Key, err)
		}
		base = append(base, m)
	}
	sets := [][]*tagindex.Matcher{base}
	if len(x.Measurements) > 0 {
		sets = sets[:0]
	}
	for _, m := range x.Measurements {
		re := regexp.QuoteMeta(m+d.sep) + ".+"
		if d.skipSingle {
			re = "(?:" + regexp.QuoteMeta(m) + "|" + re + ")"
		}
		name, err := tagindex.NewMatcher(tagindex.MatchRegexp, "__name__", re)
		if err != nil {
			return fmt.Errorf("measurement %q: %w", m, err)
		}
		sets = append(sets, append(slices.Clip(base), name))
	}
	return deleteEverywhere(ctx, d.db, d.ds, sets, x.MinT, x.MaxT, nil)
}

// tieredDeleter is delete_series' query.Deleter over the raw engine and
// the rollup tiers.
type tieredDeleter struct {
	db *engine.DB
	ds *downsampleSetup
}

func (d tieredDeleter) Delete(ctx context.Context, ids *roaring.Bitmap, minT, maxT int64) error {
	return d.db.Delete(ctx, ids, minT, maxT)
}

func (d tieredDeleter) CleanTombstones(ctx context.Context) error {
	errs := []error{d.db.CleanTombstones(ctx)}
	if d.ds != nil {
		for _, t := range d.ds.tiers {
			errs = append(errs, t.CleanTombstones(ctx))
		}
	}
	return errors.Join(errs...)
}

func (d tieredDeleter) DeleteSelected(ctx context.Context, ids *roaring.Bitmap, sets [][]*tagindex.Matcher, minT, maxT int64) error {
	return deleteEverywhere(ctx, d.db, d.ds, sets, minT, maxT, ids)
}

// deleteEverywhere deletes the samples of the series sets select in
// [minT, maxT] (ns) from the raw engine (ids, when not nil, are those
// series, resolved already) and the records of the rollup intervals
// holding them from every tier (downsample.RecordsHolding: a record of the
// interval (end-I, end] is stored a nanosecond before end, so the range
// starts before minT when minT ends an interval). The builder is
// paused throughout, tiers first: no build step reads raw samples before
// the deletion and appends their records after it. A deletion that cuts
// through a rollup interval removes the interval's record: queries over
// that tier lack the interval's other samples (docs/deletion.md).
func deleteEverywhere(ctx context.Context, db *engine.DB, ds *downsampleSetup, sets [][]*tagindex.Matcher, minT, maxT int64, ids *roaring.Bitmap) error {
	if ds != nil && len(ds.tiers) > 0 {
		resume := ds.builder.Pause()
		defer resume()
		for iv, t := range ds.tiers {
			lo, hi := downsample.RecordsHolding(minT, maxT, iv)
			if err := deleteSets(ctx, t, sets, lo, hi, nil); err != nil {
				return fmt.Errorf("delete from the %v rollup tier: %w", iv, err)
			}
		}
	}
	return deleteSets(ctx, db, sets, minT, maxT, ids)
}

// deleteSets deletes in one tombstone the samples in [minT, maxT] of the
// series any of sets selects in db (ids, when not nil, are those series,
// resolved already).
func deleteSets(ctx context.Context, db *engine.DB, sets [][]*tagindex.Matcher, minT, maxT int64, ids *roaring.Bitmap) error {
	if ids == nil {
		ids = roaring.New()
		for _, ms := range sets {
			bm, err := db.Index().Postings(minT, maxT, ms...)
			if err != nil {
				return fmt.Errorf("delete: %w", err)
			}
			ids.Or(bm)
		}
	}
	return db.Delete(ctx, ids, minT, maxT)
}
