package lineproto

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/lightningdb/lightningdb/series"
)

const testNow = 1_700_000_000_123_456_789

var testNowTime = time.Unix(0, testNow)

// dump renders every series of a batch as "line labels type value@ts".
func dump(t *testing.T, p *Parser, b *series.Batch) []string {
	t.Helper()
	var out []string
	var ls series.Labels
	for i := 0; i < b.Len(); i++ {
		canon, typ, ts, vals := b.Series(i)
		var err error
		ls, err = series.UnmarshalLabels(ls, canon)
		if err != nil {
			t.Fatalf("series %d: %v", i, err)
		}
		if len(ts) != 1 {
			t.Fatalf("series %d has %d samples", i, len(ts))
		}
		var v string
		switch typ {
		case series.TypeString:
			v = fmt.Sprintf("%q", b.Str(vals[0]))
		case series.TypeInt:
			v = fmt.Sprint(int64(vals[0]))
		case series.TypeFloat:
			v = fmt.Sprint(math.Float64frombits(vals[0]))
		default:
			v = fmt.Sprint(vals[0])
		}
		out = append(out, fmt.Sprintf("%d %s %s %s@%d", p.Line(i), ls, typ, v, ts[0]))
	}
	return out
}

func TestParse(t *testing.T) {
	cases := []struct {
		name   string
		opts   Options
		body   string
		db     string
		prec   Precision
		want   []string
		errors []string // "line: reason prefix"
	}{
		{
			name: "types and tags",
			body: "cpu,host=a,region=eu f=1.5,i=-3i,u=7u,b=T,s=\"hi\" 1700000000000000000\n",
			db:   "telegraf",
			want: []string{
				`1 cpu_f{db="telegraf", host="a", region="eu"} float 1.5@1700000000000000000`,
				`1 cpu_i{db="telegraf", host="a", region="eu"} integer -3@1700000000000000000`,
				`1 cpu_u{db="telegraf", host="a", region="eu"} unsigned 7@1700000000000000000`,
				`1 cpu_b{db="telegraf", host="a", region="eu"} boolean 1@1700000000000000000`,
				`1 cpu_s{db="telegraf", host="a", region="eu"} string "hi"@1700000000000000000`,
			},
		},
		{
			name: "booleans in every spelling",
			body: "m a=t,b=T,c=true,d=True,e=TRUE,f=f,g=F,h=false,i=False,j=FALSE 1",
			want: []string{
				`1 m_a{} boolean 1@1`, `1 m_b{} boolean 1@1`, `1 m_c{} boolean 1@1`, `1 m_d{} boolean 1@1`, `1 m_e{} boolean 1@1`,
				`1 m_f{} boolean 0@1`, `1 m_g{} boolean 0@1`, `1 m_h{} boolean 0@1`, `1 m_i{} boolean 0@1`, `1 m_j{} boolean 0@1`,
			},
		},
		{
			name: "escapes",
			body: `we\ ird\,m,t\ k\=\,=v\ a\=l\,ue f\ k\==1i,s="q\"b\\s\n" 5`,
			want: []string{
				`1 we ird,m_f k={t k=,="v a=l,ue"} integer 1@5`,
				"1 we ird,m_s{t k=,=\"v a=l,ue\"} string \"q\\\"b\\\\s\\n\"@5",
			},
		},
		{
			name: "literal backslashes",
			body: `m\\x,t=a\b f=1 1`,
			want: []string{`1 m\\x_f{t="a\\b"} float 1@1`},
		},
		{
			name: "comments blank lines and CRLF",
			body: "# header\r\n\r\n  # indented\n\nm f=1 2\r\n   \nm g=2 3",
			want: []string{`5 m_f{} float 1@2`, `7 m_g{} float 2@3`},
		},
		{
			name: "server time rounded to precision",
			body: "m f=1\nm f=2 3",
			prec: Second,
			want: []string{`1 m_f{} float 1@1700000000000000000`, `2 m_f{} float 2@3000000000`},
		},
		{
			name: "precisions",
			body: "m f=1 2",
			prec: Hour,
			want: []string{`1 m_f{} float 1@7200000000000`},
		},
		{
			name: "db tag wins over db parameter",
			body: "m,db=own f=1 1",
			db:   "param",
			want: []string{`1 m_f{db="own"} float 1@1`},
		},
		{
			name: "separator and single field",
			opts: Options{Separator: ".", SkipSingleField: true},
			body: "m f=1 1\nm f=1,g=2 1",
			want: []string{`1 m{} float 1@1`, `2 m.f{} float 1@1`, `2 m.g{} float 2@1`},
		},
		{
			name: "string spanning lines keeps line numbers",
			body: "m s=\"a\nb\" 1\nm f=1 2",
			want: []string{"1 m_s{} string \"a\\nb\"@1", `3 m_f{} float 1@2`},
		},
		{
			name: "partial write keeps good lines",
			body: "m f=1 1\nm f=1 x\nm f=\nm,t=v\nm f=1,g=tru 1\nm f=3 3\n",
			want: []string{`1 m_f{} float 1@1`, `6 m_f{} float 3@3`},
			errors: []string{
				"2: bad timestamp", "3: missing field value", "4: missing fields", "5: invalid boolean",
			},
		},
		{
			name: "numbers out of range",
			body: "m f=9223372036854775808i\nm f=18446744073709551616u\nm f=1e999\nm f=1 9223372036854775806\nm f=1 9223372036854775808\n",
			prec: Nanosecond,
			want: []string{`4 m_f{} float 1@9223372036854775806`},
			errors: []string{
				"1: integer out of range", "2: unsigned integer out of range", "3: float out of range", "5: timestamp out of range",
			},
		},
		{
			// InfluxDB's range: MinInt64 and MinInt64+1 and MaxInt64 are
			// sentinels; a sample there once stopped every flush.
			name: "timestamps outside the stored range",
			body: "m f=1 -9223372036854775808\nm f=1 -9223372036854775807\nm f=1 -9223372036854775806\n" +
				"m f=1 9223372036854775807\nm f=1 9223372036854775806\nm f=1 -9223372036854775809\n",
			want: []string{`3 m_f{} float 1@-9223372036854775806`, `5 m_f{} float 1@9223372036854775806`},
			errors: []string{
				"1: timestamp out of range: -9223372036854775808 at precision ns is outside 1677-09-21T00:12:43.145224194Z..2262-04-11T23:47:16.854775806Z",
				"2: timestamp out of range: -9223372036854775807", "4: timestamp out of range: 9223372036854775807",
				"6: timestamp out of range: -9223372036854775809",
			},
		},
		{
			name:   "seconds past the range",
			body:   "m f=1 9223372036\nm f=1 9223372037\nm f=1 -9223372036\nm f=1 -9223372037\nm f=1 9223372036854775807\n",
			prec:   Second,
			want:   []string{`1 m_f{} float 1@9223372036000000000`, `3 m_f{} float 1@-9223372036000000000`},
			errors: []string{"2: timestamp out of range: 9223372037 at precision s", "4: timestamp out of range: -9223372037", "5: timestamp out of range"},
		},
		{
			name:   "timestamp overflow by precision",
			body:   "m f=1 9223372036854776",
			prec:   Millisecond,
			errors: []string{"1: timestamp out of range"},
		},
		{
			name:   "invalid UTF-8",
			body:   "m,t=\xff f=1\nm s=\"\xfe\"\nm f=1 1",
			want:   []string{`3 m_f{} float 1@1`},
			errors: []string{"1: invalid UTF-8", "2: invalid UTF-8"},
		},
		{
			name:   "duplicate tags",
			body:   "m,a=1,a=2 f=1 1",
			errors: []string{"1: invalid labels: duplicate label name"},
		},
		{
			name:   "line too long",
			opts:   Options{MaxLineBytes: 10},
			body:   "m f=1 1\nmmmmmmmmm f=1 1",
			want:   []string{`1 m_f{} float 1@1`},
			errors: []string{"2: line too long"},
		},
		{
			name:   "NaN and unknown values",
			body:   "m f=-Inf\nm f=x\nm f=1.2.3",
			errors: []string{"1: invalid number: NaN", "2: invalid field format", "3: invalid number"},
		},
		{
			name:   "unbalanced quotes swallow the rest",
			body:   "m s=\"open\nm f=1 1\n",
			errors: []string{"1: unbalanced quotes"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := NewParser(c.opts)
			var b series.Batch
			res := p.Parse(&b, []byte(c.body), c.db, testNow, c.prec)
			got := dump(t, p, &b)
			if strings.Join(got, "\n") != strings.Join(c.want, "\n") {
				t.Errorf("series:\n got %q\nwant %q", got, c.want)
			}
			if res.Rejected != len(c.errors) || len(p.Errors()) != len(c.errors) {
				t.Fatalf("rejected %d lines (%v), want %d", res.Rejected, p.Errors(), len(c.errors))
			}
			for i, e := range p.Errors() {
				got := fmt.Sprintf("%d: %s", e.Line, e.Reason)
				if !strings.HasPrefix(got, c.errors[i]) {
					t.Errorf("error %d: got %q, want prefix %q", i, got, c.errors[i])
				}
				if !errors.Is(e, ErrInvalidLine) {
					t.Errorf("error %d does not wrap ErrInvalidLine", i)
				}
			}
			if err := b.Validate(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestLineErrorMessage(t *testing.T) {
	p := NewParser(Options{})
	var b series.Batch
	p.Parse(&b, []byte("m f=1 1\ncpu usage=fals 1\n"), "", testNow, Nanosecond)
	want := "line 2: unable to parse 'cpu usage=fals 1': invalid boolean"
	if len(p.Errors()) != 1 || p.Errors()[0].Error() != want {
		t.Fatalf("got %v, want %q", p.Errors(), want)
	}
}

func TestMaxErrors(t *testing.T) {
	p := NewParser(Options{MaxErrors: 2})
	var b series.Batch
	res := p.Parse(&b, []byte("x\ny\nz\nm f=1"), "", testNow, Nanosecond)
	if res.Rejected != 3 || res.Accepted != 1 || len(p.Errors()) != 2 {
		t.Fatalf("got %+v with %d errors", res, len(p.Errors()))
	}
}

func TestParsePrecision(t *testing.T) {
	for s, want := range map[string]int64{"": 1, "n": 1, "ns": 1, "u": 1e3, "us": 1e3, "µ": 1e3, "ms": 1e6, "s": 1e9, "m": 60e9, "h": 3600e9} {
		p, err := ParsePrecision(s)
		if err != nil || p.Nanoseconds() != want {
			t.Errorf("%q: got %v %v, want %d", s, p.Nanoseconds(), err, want)
		}
	}
	if _, err := ParsePrecision("d"); err == nil {
		t.Error("precision d accepted")
	}
}
