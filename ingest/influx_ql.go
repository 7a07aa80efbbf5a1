package ingest

import (
	"context"

	ql "github.com/influxdata/influxql"

	"github.com/lightningdb/lightningdb/ingest/lineproto"
	"github.com/lightningdb/lightningdb/query/influxql"
)

// StatementExecutor runs the InfluxQL statements /query does not answer
// itself; *influxql.Executor is one.
type StatementExecutor interface {
	Execute(ctx context.Context, stmt ql.Statement, p influxql.Params) influxql.Result
}

// FieldCatalog learns line protocol fields (lineproto.FieldObserver) and
// persists what it learnt on Sync; *influxql.Catalog is one.
type FieldCatalog interface {
	lineproto.FieldObserver
	KnowsField(db, metric, measurement, field []byte) bool
	Sync() error
}
