package main

import (
	"context"
	"fmt"
	"regexp"

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
	sep        string
	dbLabel    string
	skipSingle bool
}

func newInfluxDeleter(db *engine.DB, cfg InfluxConfig) influxDeleter {
	def := lineproto.DefaultOptions()
	d := influxDeleter{db: db, sep: cfg.Separator, dbLabel: cfg.DBLabel, skipSingle: cfg.SkipSingleField}
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
	if len(x.Measurements) == 0 {
		_, err := d.db.DeleteMatching(ctx, x.MinT, x.MaxT, base...)
		return err
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
		if _, err := d.db.DeleteMatching(ctx, x.MinT, x.MaxT, append(base, name)...); err != nil {
			return err
		}
	}
	return nil
}
