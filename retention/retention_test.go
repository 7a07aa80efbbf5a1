package retention

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lightningdb/lightningdb/series"
)

const day = 24 * time.Hour

func TestParseDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"30d": 30 * day, "1w": 7 * day, "12h": 12 * time.Hour, "1h30m": 90 * time.Minute,
		"1y": 365 * day, "INF": Forever, "inf": Forever, "0": Forever, "none": Forever,
		"500ms": 500 * time.Millisecond, " 2d ": 2 * day, "1d12h": 36 * time.Hour,
	} {
		got, err := ParseDuration(in)
		if err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "d", "30", "30x", "-1d", "1.5d", "99999999999999999999d", "300000000d", "30d ago"} {
		if _, err := ParseDuration(in); !errors.Is(err, ErrInvalidDuration) {
			t.Errorf("ParseDuration(%q): err %v, want ErrInvalidDuration", in, err)
		}
	}
}

func TestFormatDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{30 * day: "30d", 14 * day: "2w", 36 * time.Hour: "36h", Forever: "INF"} {
		if got := FormatDuration(d); got != want {
			t.Errorf("FormatDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestParseSelector(t *testing.T) {
	ms, err := ParseSelector(`{db="factory", sensor=~"vib.*", host!='a\'b', x!~` + "`y+`" + `}`)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range ms {
		got = append(got, m.String())
	}
	if want := `db="factory" sensor=~"vib.*" host!="a'b" x!~"y+"`; strings.Join(got, " ") != want {
		t.Fatalf("got %s, want %s", strings.Join(got, " "), want)
	}
	ms, err = ParseSelector(`cpu_usage`)
	if err != nil || len(ms) != 1 || ms[0].Name != series.MetricName || ms[0].Value != "cpu_usage" {
		t.Fatalf("bare name: %v %v", ms, err)
	}
	for _, in := range []string{"", "{}", "{db}", `{db="a"`, `{db=a}`, `{db=~"("}`, `{db="a",}x`, `{1a="b"}`, `{db=="a"}`} {
		if _, err := ParseSelector(in); !errors.Is(err, ErrInvalidSelector) {
			t.Errorf("ParseSelector(%q): err %v, want ErrInvalidSelector", in, err)
		}
	}
}

func TestRulesFirstMatchWins(t *testing.T) {
	r, err := Config{
		Default:   "30d",
		Databases: map[string]string{"factory": "90d", "lab": "INF"},
		Rules: []RuleConfig{
			{Match: `{db="factory", sensor=~"vib.*"}`, Keep: "7d"},
			{Match: `{sensor=~"vib.*"}`, Keep: "14d"},
		},
	}.Compile()
	if err != nil {
		t.Fatal(err)
	}
	run := map[string]time.Duration{"b": 3 * day}
	for _, c := range []struct {
		ls   series.Labels
		want time.Duration
	}{
		{series.FromStrings("db", "factory", "sensor", "vib1"), 7 * day},
		{series.FromStrings("db", "home", "sensor", "vib1"), 14 * day},
		{series.FromStrings("db", "factory", "sensor", "temp"), 90 * day},
		{series.FromStrings("db", "lab"), Forever},
		{series.FromStrings("db", "b"), 3 * day},
		{series.FromStrings("db", "other"), 30 * day},
		{series.FromStrings("__name__", "up"), 30 * day},
	} {
		if got := r.For(c.ls, "db", run); got != c.want {
			t.Errorf("%v: %v, want %v", c.ls, got, c.want)
		}
	}
}

func TestCompileErrorsNameTheKey(t *testing.T) {
	_, err := Config{Default: "30 days", Databases: map[string]string{"x": "-1d"},
		Rules: []RuleConfig{{Match: `{db=}`, Keep: "7d"}, {Match: `{a="b"}`, Keep: ""}}}.Compile()
	for _, want := range []string{"retention.default", "retention.databases.x", "retention.rules[0].match", "retention.rules[1].keep"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not name %s", err, want)
		}
	}
}

func TestParseRule(t *testing.T) {
	r, err := ParseRule(`{db="factory", sensor=~"vib.*"}: 7d`)
	if err != nil || r.Keep != 7*day || len(r.Matchers) != 2 {
		t.Fatalf("%+v %v", r, err)
	}
	if _, err := ParseRule(`{db="factory"}`); err == nil {
		t.Fatal("rule without duration accepted")
	}
}

// labelMap is a LabelSource over a map.
type labelMap map[series.ID]series.Labels

func (m labelMap) Labels(id series.ID) []byte {
	ls, ok := m[id]
	if !ok {
		return nil
	}
	return ls.AppendCanonical(nil)
}

func TestPolicyCacheAndRunTimeDatabases(t *testing.T) {
	r, _ := Config{Default: "30d"}.Compile()
	p := NewPolicy(r, "db", labelMap{1: series.FromStrings("db", "b"), 2: series.FromStrings("db", "c")})
	if p.Retention(1) != 30*day || p.Retention(3) != Forever {
		t.Fatal("default not applied")
	}
	p.SetDatabases(map[string]time.Duration{"b": 7 * day})
	if p.Retention(1) != 7*day || p.Retention(2) != 30*day {
		t.Fatalf("run-time database not applied: %v %v", p.Retention(1), p.Retention(2))
	}
	if !p.Bounded() || NewPolicy(nil, "", labelMap{}).Bounded() {
		t.Fatal("Bounded")
	}
}

func TestStoreInfluxSemantics(t *testing.T) {
	dir := t.TempDir()
	var last map[string]time.Duration
	s, err := OpenStore(dir, func(m map[string]time.Duration) { last = m })
	if err != nil {
		t.Fatal(err)
	}
	if got := s.List("b", 30*day); len(got) != 1 || got[0].Name != "autogen" || !got[0].Default || got[0].Duration != 30*day {
		t.Fatalf("implicit autogen: %+v", got)
	}
	if err := s.Create("b", RP{Name: "week", Duration: 7 * day, ReplicaN: 1, Default: true}); err != nil {
		t.Fatal(err)
	}
	if err := s.Create("b", RP{Name: "week", Duration: 7 * day, ReplicaN: 1}); err != nil {
		t.Fatalf("identical CREATE: %v", err)
	}
	if err := s.Create("b", RP{Name: "week", Duration: 8 * day, ReplicaN: 1}); !errors.Is(err, ErrPolicyExists) {
		t.Fatalf("conflicting CREATE: %v", err)
	}
	if err := s.Create("b", RP{Name: "tiny", Duration: time.Minute}); !errors.Is(err, ErrPolicyTooShort) {
		t.Fatalf("1m policy: %v", err)
	}
	if last["b"] != 7*day {
		t.Fatalf("onChange got %v", last)
	}
	d := 2 * day
	if err := s.Alter("b", "week", &d, nil, nil, false); err != nil {
		t.Fatal(err)
	}
	if err := s.Alter("b", "nope", &d, nil, nil, false); !errors.Is(err, ErrPolicyNotFound) {
		t.Fatalf("ALTER of a missing policy: %v", err)
	}
	// Reopen: the file holds what was committed.
	s, err = OpenStore(dir, func(m map[string]time.Duration) { last = m })
	if err != nil {
		t.Fatal(err)
	}
	got := s.List("b", Forever)
	if len(got) != 2 || got[1].Name != "week" || got[1].Duration != 2*day || got[1].ShardGroupDuration != day || !got[1].Default || got[0].Default {
		t.Fatalf("after reopen: %+v", got)
	}
	if last["b"] != 2*day {
		t.Fatalf("onChange at open got %v", last)
	}
	if err := s.Drop("b", "week"); err != nil {
		t.Fatal(err)
	}
	if err := s.Drop("b", "week"); err != nil {
		t.Fatalf("second DROP: %v", err)
	}
	if _, ok := last["b"]; ok {
		t.Fatalf("dropped default still in force: %v", last)
	}
	if _, err := os.Stat(filepath.Join(dir, StoreFile+".tmp")); !os.IsNotExist(err) {
		t.Fatalf("temporary file left: %v", err)
	}
}

func TestStoreLimits(t *testing.T) {
	s, err := OpenStore(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range MaxPoliciesPerDatabase {
		if err := s.Create("db", RP{Name: fmt.Sprint("p", i), Duration: 2 * day}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Create("db", RP{Name: "one_more", Duration: 2 * day}); !errors.Is(err, ErrTooManyPolicies) {
		t.Fatalf("policy %d: %v", MaxPoliciesPerDatabase+1, err)
	}
	if err := s.Create("db2", RP{Name: strings.Repeat("x", MaxPolicyNameLen+1), Duration: 2 * day}); !errors.Is(err, ErrTooManyPolicies) {
		t.Fatalf("long name: %v", err)
	}
}

func TestOpenStoreDamagedFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, StoreFile), []byte("{not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenStore(dir, nil); err == nil || !strings.Contains(err.Error(), StoreFile) {
		t.Fatalf("damaged file: %v", err)
	}
}

func TestShardGroupDefaults(t *testing.T) {
	for d, want := range map[time.Duration]time.Duration{Forever: 7 * day, 365 * day: 7 * day, 7 * day: day, 2 * day: day, 36 * time.Hour: time.Hour} {
		if got := DefaultShardGroupDuration(d); got != want {
			t.Errorf("%v: %v, want %v", d, got, want)
		}
	}
}
