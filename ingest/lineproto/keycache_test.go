package lineproto

import (
	"fmt"
	"testing"

	"github.com/lightningdb/lightningdb/series"
)

// parseDump parses body into a fresh batch and renders series, line
// errors and the result.
func parseDump(t *testing.T, p *Parser, body, db string) ([]string, *series.Batch) {
	t.Helper()
	var b series.Batch
	res := p.Parse(&b, []byte(body), db, testNow, Nanosecond)
	out := dump(t, p, &b)
	for _, e := range p.Errors() {
		out = append(out, fmt.Sprintf("error %d %s", e.Line, e.Reason))
	}
	return append(out, fmt.Sprintf("%+v", res)), &b
}

// checkKeyCache requires a parser with the series key cache to give what
// one without gives, on the first parse (filling the cache) and the second
// (from it), for each database.
func checkKeyCache(t *testing.T, opts Options, body string) {
	t.Helper()
	cached := opts
	cached.SeriesKeyCache = 4
	p := NewParser(cached)
	for _, db := range []string{"a", "", "a"} {
		want, _ := parseDump(t, NewParser(opts), body, db)
		for pass := range 2 {
			got, _ := parseDump(t, p, body, db)
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("db %q, pass %d:\n got %q\nwant %q", db, pass, got, want)
			}
		}
	}
}

func TestKeyCacheParsesLikeParser(t *testing.T) {
	bodies := []string{
		"cpu,host=a,dc=x user=1i,sys=2i 10\ncpu,host=a,dc=x user=3i,sys=4i 20\n",
		"cpu,host=a user=1i 10\ncpu,host=a sys=2,user=3i,idle=4u 20\ncpu,host=a user=5i 30\n",
		"cpu,host=a,host=b user=1 10\ncpu,host=a,host=b user=1 20\n",           // duplicate tag: rejected each time
		"cpu,db=mine,host=a f=1 1\ncpu,db=mine,host=a f=2 2\n",                 // own db tag
		"c\\,pu,ho\\ st=a\\=b f=\"s\",g=t 1\nc\\,pu,ho\\ st=a\\=b f=\"t\" 2\n", // escapes
		"m,__name__=x f=1 1\nm,__name__=x f=1 2\n",                             // reserved tag name
		"m f=1 1\nm f=1 2\nm,t=v f=1 3\n",
		tsbsBodyString(5),
	}
	for _, skip := range []bool{false, true} {
		for i, body := range bodies {
			t.Run(fmt.Sprintf("skip=%v/%d", skip, i), func(t *testing.T) {
				checkKeyCache(t, Options{SkipSingleField: skip}, body)
			})
		}
	}
}

func tsbsBodyString(n int) string { return string(tsbsCPUBody(n)) }

// FuzzKeyCache checks on arbitrary bodies that the cached parse is the
// plain parse.
func FuzzKeyCache(f *testing.F) {
	f.Add("cpu,host=a user=1i,sys=2i 10\ncpu,host=a user=3i 20\n")
	f.Add(tsbsBodyString(3))
	f.Fuzz(func(t *testing.T, body string) { checkKeyCache(t, Options{}, body) })
}

func TestKeyCacheRefs(t *testing.T) {
	p := NewParser(Options{SeriesKeyCache: 16})
	body := "cpu,host=a user=1i,sys=2i 10\ncpu,host=a user=3i,sys=4i 20\n"
	_, b := parseDump(t, p, body, "db")
	for i := range b.Len() {
		if b.Ref(i) != 0 {
			t.Fatalf("series %d has hint %d before any append", i, b.Ref(i))
		}
		b.SetRef(i, uint32(100+i%2)) // what an appender stores: user 100, sys 101
	}
	p.LearnRefs(b)
	_, b = parseDump(t, p, body, "db")
	for i := range b.Len() {
		if want := uint32(100 + i%2); b.Ref(i) != want {
			t.Fatalf("series %d: hint %d, want %d", i, b.Ref(i), want)
		}
	}
	// Another field in first place: no hint is carried over to it.
	_, b = parseDump(t, p, "cpu,host=a idle=1i,sys=2i 30\n", "db")
	if b.Ref(0) != 0 || b.Ref(1) != 101 {
		t.Fatalf("hints %d, %d; want 0, 101", b.Ref(0), b.Ref(1))
	}
	// Another database: another key.
	_, b = parseDump(t, p, body, "other")
	if b.Ref(0) != 0 {
		t.Fatalf("hint %d for another database", b.Ref(0))
	}
}

func TestParseCachedAllocs(t *testing.T) {
	body := tsbsCPUBody(100)
	p := NewParser(Options{SeriesKeyCache: 1024})
	var batch series.Batch
	run := func() {
		batch.Reset()
		p.Parse(&batch, body, "db", testNow, Nanosecond)
		p.LearnRefs(&batch)
	}
	run()
	if allocs := testing.AllocsPerRun(20, run); allocs != 0 {
		t.Fatalf("%v allocations per cached Parse of 100 lines in steady state, want 0", allocs)
	}
}

// TestParseSharesLabelsWithinRequest: lines of one request that repeat a
// series (same key and field) carry its labels once; the parse is the
// same as without the cache (TestKeyCacheParsesLikeParser).
func TestParseSharesLabelsWithinRequest(t *testing.T) {
	one := "cpu,host=a,dc=x user=1i,sys=2i 10\n"
	body := one + "cpu,host=a,dc=x user=3i,sys=4i 20\ncpu,host=a,dc=x user=5i,sys=6i 30\n"
	p := NewParser(Options{SeriesKeyCache: 16})
	var first, b series.Batch
	p.Parse(&first, []byte(one), "db", testNow, Nanosecond)
	for pass := range 2 { // filling the cache, then from it
		b.Reset()
		if res := p.Parse(&b, []byte(body), "db", testNow, Nanosecond); res.Accepted != 3 || b.Len() != 6 {
			t.Fatalf("pass %d: %+v, %d series", pass, res, b.Len())
		}
		if got, want := len(b.LabelBuf()), len(first.LabelBuf()); got != want {
			t.Fatalf("pass %d: %d label bytes for 3 lines of 2 series, want %d (once each)", pass, got, want)
		}
		user, _, _, _ := b.Series(0)
		for _, i := range []int{2, 4} {
			if got, _, ts, _ := b.Series(i); string(got) != string(user) {
				t.Fatalf("pass %d: series %d (ts %v) labels %q, want user's %q", pass, i, ts, got, user)
			}
		}
	}
	// Fields in another order on a later line: still the right labels.
	b.Reset()
	p.Parse(&b, []byte(one+"cpu,host=a,dc=x sys=5i,user=6i 30\n"), "db", testNow, Nanosecond)
	for i, want := range []int{0, 1, 1, 0} {
		got, _, _, _ := b.Series(i)
		w, _, _, _ := first.Series(want)
		if string(got) != string(w) {
			t.Fatalf("reordered fields: series %d labels %q, want %q", i, got, w)
		}
	}
}
