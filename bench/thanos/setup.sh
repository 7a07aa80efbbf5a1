#!/usr/bin/env bash
# Builds the throwaway module in which the Prometheus engine and the Thanos
# engine (github.com/thanos-io/promql-engine) are measured side by side over
# our query adapter (bench/thanos/README.md). Main's go.mod is not touched:
# everything happens in a git worktree (default /tmp/thanos-exp).
#
#   bash bench/thanos/setup.sh [dir] [commit]
#   cd /tmp/thanos-exp
#   go test -tags thanos -count 1 -run 'TestThanos' -v ./query/
#   go test -tags thanos -run '^$' -bench ThanosTSBS -benchtime 20x -count 3 ./query/
#   git -C <main> worktree remove --force /tmp/thanos-exp   # when done
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
main=$(git -C "$here" rev-parse --show-toplevel)
dir=${1:-/tmp/thanos-exp}
commit=${2:-HEAD}

PROM=v0.308.0                                   # what the Thanos engine builds against
THANOS=v0.0.0-20260513095632-c5f6038078e3

if [ -e "$dir" ]; then
  echo "$dir exists; remove it first (git -C $main worktree remove --force $dir)" >&2
  exit 1
fi
git -C "$main" worktree add --detach "$dir" "$commit"
cd "$dir"

# util/kahansum (used by pushdown's exact sums) is not in v0.308.0, where the
# same function is promql's unexported kahanSumInc: copy v0.316.0's package
# into the throwaway module before downgrading.
go mod download github.com/prometheus/prometheus
src=$(go list -m -f '{{.Dir}}' github.com/prometheus/prometheus)
mkdir -p internal/kahansum
cp "$src/util/kahansum/kahansum.go" internal/kahansum/
chmod u+w internal/kahansum/kahansum.go

go get "github.com/prometheus/prometheus@$PROM" \
  "github.com/thanos-io/promql-engine@$THANOS" \
  "github.com/thanos-io/promql-engine/engine@$THANOS"

# v0.308.0's API differences in our code, as substitutions rather than a
# patch so that they survive changes around them (README, "What v0.308.0
# changes"):
#  - no parser.NewParser(parser.Options{}) / Parser methods taking the
#    input / EngineOpts.Parser: package-level ParseExpr, ParseMetricSelector;
#  - NewPrometheusQueryOpts takes two arguments;
#  - util/kahansum does not exist: internal/kahansum (copied above);
#  - the XOR chunk Appender.Append has no start-timestamp argument;
#  - API.ng becomes the promql.QueryEngine interface, so that the test can
#    put the Thanos engine behind the HTTP API.
files=$(grep -rlE 'parser\.NewParser|parser\.Parser|util/kahansum|NewPrometheusQueryOpts|app\.Append\(0,|ng +\*promql\.Engine' --include='*.go' .)
perl -0pi -e '
  s/parser\.NewParser\(parser\.Options\{\}\)\.(ParseExpr|ParseMetricSelector)\(/parser.$1(/g;
  s/(\bparser\s+)parser\.Parser\b/${1}promParser/g;
  s/parser\.NewParser\(parser\.Options\{\}\)/promParser{}/g;
  s/\n\s*Parser:\s+p,//g;
  s/NewPrometheusQueryOpts\(([^,()]+), ([^,()]+), nil\)/NewPrometheusQueryOpts($1, $2)/g;
  s/github\.com\/prometheus\/prometheus\/util\/kahansum/github.com\/lightningdb\/lightningdb\/internal\/kahansum/g;
  s/\bapp\.Append\(0, /app.Append(/g;
  s/(\bng\s+)\*promql\.Engine\b/${1}promql.QueryEngine/g;
' $files
cat > query/promparser_v0308.go <<'GO'
package query

import (
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
)

// promParser gives v0.308.0's package-level parser functions the
// v0.316.0 Parser methods our code calls (bench/thanos only).
type promParser struct{}

func (promParser) ParseExpr(s string) (parser.Expr, error) { return parser.ParseExpr(s) }
func (promParser) ParseMetricSelector(s string) ([]*labels.Matcher, error) {
	return parser.ParseMetricSelector(s)
}
GO
gofmt -w $files
git diff --stat
cp "$here/thanos_bench_test.go.in" query/thanos_bench_test.go

go build ./...
go vet -tags thanos ./query/
echo "ready: cd $dir && go test -tags thanos -run '^\$' -bench ThanosTSBS -benchtime 20x -count 3 ./query/"
