package influxql

import (
	"context"

	ql "github.com/influxdata/influxql"
)

func (e *Executor) selectRows(ctx context.Context, s *ql.SelectStatement, p Params) ([]*Row, error) {
	return nil, ErrUnsupported
}

func (e *Executor) explain(s *ql.ExplainStatement, p Params) ([]*Row, error) { return nil, ErrUnsupported }
