package mqtt

import (
	"errors"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/lightningdb/lightningdb/series"
)

const now = int64(1_700_000_000_000_000_000)

// decodeAll runs rule r on one message and returns the series as text.
func decodeAll(t testing.TB, r Rule, topic, payload string) ([]string, error) {
	t.Helper()
	o := DefaultOptions()
	o.fill()
	c, err := compileRule(r, &o)
	require.NoError(t, err)
	var b series.Batch
	derr := c.dec.decode(&b, topic, []byte(payload), now)
	var out []string
	for i := 0; i < b.Len(); i++ {
		canon, typ, ts, vals := b.Series(i)
		ls, err := series.UnmarshalLabels(nil, canon)
		require.NoError(t, err)
		for j := range ts {
			v := ""
			if typ == series.TypeString {
				v = `"` + string(b.Str(vals[j])) + `"`
			} else {
				v = typ.String() + ":" + fmtFloat(series.AsFloat64(typ, vals[j]))
			}
			out = append(out, ls.String()+"@"+itoa(ts[j]-now)+"="+v)
		}
	}
	return out, derr
}

func TestValueFormat(t *testing.T) {
	r := Rule{Format: FormatValue, Template: "sensors/+site/+device/+measurement"}
	for _, tc := range []struct{ payload, want string }{
		{"21.5", `temperature{db="mqtt", device="d7", site="north"}@0=float:21.5`},
		{" 3i\n", `temperature{db="mqtt", device="d7", site="north"}@0=integer:3`},
		{"7u", `temperature{db="mqtt", device="d7", site="north"}@0=unsigned:7`},
		{"true", `temperature{db="mqtt", device="d7", site="north"}@0=boolean:1`},
		{"on", `temperature{db="mqtt", device="d7", site="north"}@0="on"`},
		{`"12"`, `temperature{db="mqtt", device="d7", site="north"}@0="12"`},
		{"NaN", `temperature{db="mqtt", device="d7", site="north"}@0="NaN"`},
	} {
		got, err := decodeAll(t, r, "sensors/north/d7/temperature", tc.payload)
		require.NoError(t, err, tc.payload)
		require.Equal(t, []string{tc.want}, got, tc.payload)
	}
	_, err := decodeAll(t, r, "sensors/north/d7", "1")
	require.ErrorIs(t, err, ErrTopic)
	_, err = decodeAll(t, r, "sensors/north/d7/t/x", "1")
	require.ErrorIs(t, err, ErrTopic)
	_, err = decodeAll(t, r, "sensors/north/d7/t", "")
	require.ErrorIs(t, err, ErrSyntax)
	_, err = decodeAll(t, Rule{Format: FormatValue, Name: "x", Type: "integer"}, "a", "1.5")
	require.ErrorIs(t, err, ErrSyntax)
	got, err := decodeAll(t, Rule{Format: FormatValue, Template: "home/+room/#field", Name: "home", DB: "-"}, "home/kitchen/power/l1", "5")
	require.NoError(t, err)
	require.Equal(t, []string{`home_power/l1{room="kitchen"}@0=float:5`}, got)
}

func TestJSONFormat(t *testing.T) {
	r := Rule{Format: FormatJSON, Template: "tele/+device/+measurement", JSON: JSONMapping{
		TagKeys: []string{"id"}, TimeKey: "t", TimeFormat: "unix_ms", Path: "values",
		Types: map[string]string{"count": "integer"},
	}}
	payload := `{"timestamp":1,"values":[{"id":"pi.x","v":7,"t":1700000000001,"count":3,"ok":true,"env":{"temp":20.5,"hum":40}},{"id":"pi.y","v":8.5,"note":"ignored"}]}`
	got, err := decodeAll(t, r, "tele/dev1/state", payload)
	require.NoError(t, err)
	require.Equal(t, []string{
		`state_count{db="mqtt", device="dev1", id="pi.x"}@1000000=integer:3`,
		`state_env_hum{db="mqtt", device="dev1", id="pi.x"}@1000000=float:40`,
		`state_env_temp{db="mqtt", device="dev1", id="pi.x"}@1000000=float:20.5`,
		`state_ok{db="mqtt", device="dev1", id="pi.x"}@1000000=boolean:1`,
		`state_v{db="mqtt", device="dev1", id="pi.x"}@1000000=float:7`,
		`state_v{db="mqtt", device="dev1", id="pi.y"}@0=float:8.5`,
	}, got)

	// Explicit fields take strings; a layout for string times; measurement key.
	r2 := Rule{Format: FormatJSON, JSON: JSONMapping{MeasurementKey: "type", FieldKeys: []string{"fw", "batt"},
		TimeKey: "ts", TimeFormat: "2006-01-02T15:04:05Z07:00", Separator: "."}}
	got, err = decodeAll(t, r2, "x", `{"type":"node","fw":"v1.2","batt":3.3,"other":1,"ts":"2023-11-14T22:13:20Z"}`)
	require.NoError(t, err)
	require.Equal(t, []string{`node_batt{db="mqtt"}@0=float:3.3`, `node_fw{db="mqtt"}@0="v1.2"`}, got)

	// Auto time unit by magnitude.
	for _, ts := range []string{"1700000000", "1700000000000", "1700000000000000", "1700000000000000000", "1700000000.0"} {
		got, err = decodeAll(t, Rule{Format: FormatJSON, Name: "m", JSON: JSONMapping{TimeKey: "t"}}, "x", `{"t":`+ts+`,"v":1}`)
		require.NoError(t, err, ts)
		require.Equal(t, []string{`m_v{db="mqtt"}@0=float:1`}, got, ts)
	}
	for _, tc := range []struct {
		payload string
		want    error
	}{
		{`{"v":`, ErrSyntax},
		{`{"v":1} {}`, ErrSyntax},
		{`[1,2]`, ErrMapping},
		{`"x"`, ErrMapping},
		{`{"s":"only strings"}`, ErrMapping},
		{`{"v":1,"t":"x"}`, ErrTimestamp},
		{`{"v":1,"t":1e300}`, ErrTimestamp},
	} {
		_, err := decodeAll(t, Rule{Format: FormatJSON, Name: "m", JSON: JSONMapping{TimeKey: "t"}}, "x", tc.payload)
		require.True(t, errors.Is(err, tc.want), "%s: %v", tc.payload, err)
	}
}

func TestLineFormatPartial(t *testing.T) {
	got, err := decodeAll(t, Rule{DB: "plant"}, "any", "m,a=1 f=1 0\nbad line\nm g=2i 5")
	require.ErrorIs(t, err, ErrSyntax)
	require.Equal(t, []string{`m_f{a="1", db="plant"}@-1700000000000000000=float:1`, `m_g{db="plant"}@-1699999999999999995=integer:2`}, got)
}

func TestTemplateAndFilter(t *testing.T) {
	for _, tc := range []struct {
		filter, topic string
		want          bool
	}{
		{"#", "a/b", true}, {"#", "$SYS/x", false}, {"a/+/c", "a/b/c", true}, {"a/+/c", "a/b/d", false},
		{"a/#", "a", true}, {"a/#", "a/b/c", true}, {"a/+", "a", false}, {"+/+", "a/b", true},
		{"$share/g/a/+", "a/b", true}, {"a", "a/b", false}, {"a/b", "a", false},
	} {
		require.Equal(t, tc.want, matchFilter(tc.filter, tc.topic), "%s %s", tc.filter, tc.topic)
	}
	tp, err := ParseTemplate("sensors/+site/+/#rest")
	require.NoError(t, err)
	require.Equal(t, "sensors/+/+/#", tp.Filter())
	for _, bad := range []string{"", "a/#x/b", "a/b+", "+a/+a"} {
		_, err := ParseTemplate(bad)
		require.Error(t, err, bad)
	}
	for _, bad := range []string{"", "a/#/b", "a/b+", "$share/g"} {
		require.Error(t, validFilter(bad), bad)
	}
}

func fmtFloat(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }
func itoa(i int64) string       { return strconv.FormatInt(i, 10) }
