package influxql

import (
	"math"
	"testing"

	ql "github.com/influxdata/influxql"

	"github.com/lightningdb/lightningdb/series"
)

// TestCompileCondMatchesEval: the compiled WHERE test answers what
// evaluating the condition answers, point by point, for float and integer
// fields, NaN, missing points, tags and mixed AND/OR.
func TestCompileCondMatchesEval(t *testing.T) {
	f, n := &col{typ: series.TypeFloat}, &col{typ: series.TypeInt}
	for i, v := range []float64{-1, 0, 90, 90.5, math.NaN(), 100} {
		f.push(int64(i), v)
		if i%2 == 0 {
			n.push(int64(i), int64(i*30))
		}
	}
	sd := &seriesData{key: "k", tags: []tag{{"host", "a"}}, cols: map[string]*col{"f": f, "n": n}}
	conds := []string{"f > 90", "f >= 90", "f < 90.0", "f <= 0", "f = 90", "f != 90", "f != 90.5",
		"n > 30", "n = 60", "host = 'a' AND f > 0", "host = 'b' OR f < 0", "(f > 50 OR n > 100) AND host =~ /a/",
		"f > n", "nosuch = 'x' OR f = 100", "f + 1 > 91"}
	for _, s := range conds {
		ex, err := ql.ParseExpr(s)
		if err != nil {
			t.Fatal(err)
		}
		ql.WalkFunc(ex, func(nd ql.Node) {
			if r, ok := nd.(*ql.VarRef); ok {
				switch r.Val {
				case "f":
					r.Type = ql.Float
				case "n":
					r.Type = ql.Integer
				case "host":
					r.Type = ql.Tag
				}
			}
		})
		env := newRowEnv(sd)
		pred := compileCond(ex, env)
		for _, ts := range unionTimes(sd) {
			env.seek(ts)
			if got, want := pred(), truthy(evalExpr(ex, env)); got != want {
				t.Errorf("%s at %d: compiled %v, evaluated %v", s, ts, got, want)
			}
		}
	}
}
