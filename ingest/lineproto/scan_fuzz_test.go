package lineproto

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/influxdata/line-protocol/v2/lineprotocol"

	"github.com/lightningdb/lightningdb/series"
)

// outcome is one entry of a body as either decoder sees it, rendered to a
// comparable string.
type outcome struct {
	ok   bool
	text string
}

func (o outcome) String() string {
	if !o.ok {
		return "ERROR"
	}
	return o.text
}

var refPrecisions = []struct {
	ours Precision
	ref  lineprotocol.Precision
}{
	{Nanosecond, lineprotocol.Nanosecond},
	{Microsecond, lineprotocol.Microsecond},
	{Millisecond, lineprotocol.Millisecond},
	{Second, lineprotocol.Second},
}

// referenceDecode decodes body with the reference library.
func referenceDecode(body []byte, prec lineprotocol.Precision, now int64) []outcome {
	var out []outcome
	dec := lineprotocol.NewDecoderWithBytes(body)
	for dec.Next() {
		text, err := referenceEntry(dec, prec, now)
		out = append(out, outcome{ok: err == nil, text: text})
	}
	return out
}

func referenceEntry(dec *lineprotocol.Decoder, prec lineprotocol.Precision, now int64) (string, error) {
	var b strings.Builder
	m, err := dec.Measurement()
	if err != nil {
		return "", err
	}
	fmt.Fprintf(&b, "m=%q", m)
	for {
		k, v, err := dec.NextTag()
		if err != nil {
			return "", err
		}
		if k == nil {
			break
		}
		fmt.Fprintf(&b, " t:%q=%q", k, v)
	}
	for {
		k, v, err := dec.NextField()
		if err != nil {
			return "", err
		}
		if k == nil {
			break
		}
		fmt.Fprintf(&b, " f:%q=%s", k, refValue(v))
	}
	t, err := dec.Time(prec, time.Unix(0, now))
	if err != nil {
		return "", err
	}
	if !series.InRange(t.UnixNano()) {
		// The reference takes any int64; we keep InfluxDB's range.
		return "", series.CheckTime(t.UnixNano())
	}
	fmt.Fprintf(&b, " ts=%d", t.UnixNano())
	return b.String(), nil
}

func refValue(v lineprotocol.Value) string {
	switch v.Kind() {
	case lineprotocol.Float:
		return fmt.Sprintf("float:%x", math.Float64bits(v.FloatV()))
	case lineprotocol.Int:
		return fmt.Sprintf("int:%d", v.IntV())
	case lineprotocol.Uint:
		return fmt.Sprintf("uint:%d", v.UintV())
	case lineprotocol.Bool:
		return fmt.Sprintf("bool:%t", v.BoolV())
	}
	return fmt.Sprintf("string:%q", v.BytesV())
}

// ourDecode decodes body with our scanner.
func ourDecode(body []byte, prec Precision, now int64) []outcome {
	var out []outcome
	var s scanner
	s.reset(body, now, prec)
	for {
		more, err := s.next()
		if !more {
			return out
		}
		if err != nil {
			out = append(out, outcome{})
			continue
		}
		if !series.InRange(s.e.ts) { // never equal to a reference outcome
			out = append(out, outcome{ok: true, text: fmt.Sprintf("timestamp %d out of range accepted", s.e.ts)})
			continue
		}
		out = append(out, outcome{ok: true, text: renderEntry(&s.e)})
	}
}

func renderEntry(e *entry) string {
	var b strings.Builder
	fmt.Fprintf(&b, "m=%q", e.measurement)
	for _, t := range e.tags {
		fmt.Fprintf(&b, " t:%q=%q", t.key, t.value)
	}
	for _, f := range e.fields {
		fmt.Fprintf(&b, " f:%q=%s", f.key, ourValue(f))
	}
	fmt.Fprintf(&b, " ts=%d", e.ts)
	return b.String()
}

func ourValue(f field) string {
	switch f.typ {
	case series.TypeFloat:
		return fmt.Sprintf("float:%x", f.raw)
	case series.TypeInt:
		return fmt.Sprintf("int:%d", int64(f.raw))
	case series.TypeUint:
		return fmt.Sprintf("uint:%d", f.raw)
	case series.TypeBool:
		return fmt.Sprintf("bool:%t", f.raw != 0)
	}
	return fmt.Sprintf("string:%q", f.str)
}

func compareWithReference(t *testing.T, body []byte) {
	t.Helper()
	const now = 1_700_000_000_123_456_789
	for _, p := range refPrecisions {
		want := referenceDecode(body, p.ref, now)
		got := ourDecode(body, p.ours, now)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("precision %v, body %q:\n got %v\nwant %v", p.ref, body, got, want)
		}
	}
}

// fuzzSeeds covers every branch of the grammar: escapes, comments, types,
// separators, CR handling and bad input of each kind.
var fuzzSeeds = []string{
	"",
	"cpu value=1",
	"cpu,host=a,region=eu usage=1.5,n=3i,u=4u,b=t,s=\"x\" 1700000000000000000\n",
	"m\\ e\\,a\\=s,t\\ k\\,\\==t\\ v\\,\\= f\\ k\\,\\==1\n",
	"m f=\"a \\\" b \\\\ c \\n \\r \\t \\x\"\n",
	"m f=\"multi\nline\" 1\nm f=2\n",
	"# comment\n  # indented comment\n\n   \nm f=1\r\nm f=2\r",
	"#\tbad comment\nm f=1",
	"m f=TRUE,g=True,h=true,i=T,j=t,k=FALSE,l=False,m=false,n=F,o=f",
	"m f=tru",
	"m f=1.2.3",
	"m f=9223372036854775808i",
	"m f=-9223372036854775808i",
	"m f=18446744073709551615u",
	"m f=18446744073709551616u",
	"m f=-1u",
	"m f=1e400",
	"m f=-Inf",
	"m f=0x1p-2",
	"m f=1 9223372036854775807",
	"m f=1 9223372036854775806",
	"m f=1 9223372036854775808",
	"m f=1 -9223372036854775808",
	"m f=1 -9223372036854775807",
	"m f=1 -9223372036854775806",
	"m f=1 9223372036",
	"m f=1 9223372037",
	"m f=1 -9223372037",
	"m f=1 -1",
	"m f=1 1e9",
	"m f=1 \"1\"",
	"m f=1 1 extra",
	"m f=1  1  \n",
	"m,t=v f=1",
	"m,t= f=1",
	"m,=v f=1",
	"m, f=1",
	"m,t=v",
	"m",
	"m ",
	"m f",
	"m f=",
	"m f=1,",
	"m f=1,g",
	"m f=\"unterminated\nm f=1\n",
	"m f=\"s\"x",
	"\xff f=1",
	"m f=\"\xff\"\nm f=1",
	"m,t=\xfe f=1",
	",t=v f=1",
	" m f=1",
	"m\\ f=1",
	"m f=1\\",
	"m\\",
	"m f=1 123\r",
	"m f=1 123\rx",
	"m f=1\rx",
	"m f=-",
	"m f=.",
	"m f=1 --",
	"m f=\"a\",g=1i 5\nn,x=y z=\"q\" 6\n",
	"m=1,t=v f=1",
	"\x00 f=1\nm f=1",
	"cpu,hostname=host_0,region=eu-central-1 usage_user=58i,usage_system=2i 1451606400000000000\n",
}

func FuzzParserMatchesReference(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		compareWithReference(t, body)
	})
}

func TestScannerMatchesReferenceSeeds(t *testing.T) {
	for _, s := range fuzzSeeds {
		compareWithReference(t, []byte(s))
	}
	// Every seed joined into one body exercises recovery across lines.
	compareWithReference(t, []byte(strings.Join(fuzzSeeds, "\n")))
}

func TestScannerErrorsAreReasons(t *testing.T) {
	var s scanner
	s.reset([]byte("m f=x"), 0, Nanosecond)
	_, err := s.next()
	var r reason
	if !errors.As(err, &r) || r != errInvalidField {
		t.Fatalf("got %v, want %v", err, errInvalidField)
	}
	if !bytes.Equal(s.buf[s.e.start:s.e.end], []byte("m f=x")) {
		t.Fatalf("line text %q", s.buf[s.e.start:s.e.end])
	}
}
