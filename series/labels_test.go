package series

import (
	"errors"
	"strings"
	"testing"
)

func TestLabelsValidate(t *testing.T) {
	cases := []struct {
		name string
		ls   Labels
		want string // substring of the error, "" for valid
	}{
		{"ok", FromStrings("__name__", "cpu", "host", "a"), ""},
		{"unicode", FromStrings("__name__", "température", "pièce", "salle à manger"), ""},
		{"no name", FromStrings("host", "a"), "missing metric name"},
		{"empty value", Labels{{"__name__", "x"}, {"host", ""}}, `label "host" has an empty value`},
		{"empty name", Labels{{"", "v"}, {"__name__", "x"}}, "empty label name"},
		{"dup", Labels{{"__name__", "x"}, {"a", "1"}, {"a", "2"}}, `duplicate label name "a"`},
		{"unsorted", Labels{{"b", "1"}, {"__name__", "x"}}, "not sorted"},
		{"bad utf8", Labels{{"__name__", "x\xff"}}, "not valid UTF-8"},
		{"long value", Labels{{"__name__", strings.Repeat("x", MaxLabelValueLen+1)}}, "at most"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.ls.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, ErrInvalidLabels) {
				t.Fatalf("error %v, want one containing %q wrapping ErrInvalidLabels", err, tc.want)
			}
		})
	}
}

func TestCanonicalRoundTripAndHash(t *testing.T) {
	ls := FromStrings("__name__", "cpu_usage", "host", "h1", "region", "eu-west-1", "ü", "ÿ")
	b := ls.AppendCanonical(nil)
	got, err := UnmarshalLabels(nil, b)
	if err != nil {
		t.Fatal(err)
	}
	if got.String() != ls.String() {
		t.Fatalf("round trip: got %s want %s", got, ls)
	}
	if ls.Hash() != HashCanonical(b) {
		t.Fatal("Hash differs from HashCanonical")
	}
	other := FromStrings("__name__", "cpu_usage", "host", "h2", "region", "eu-west-1", "ü", "ÿ")
	if other.Hash() == ls.Hash() {
		t.Fatal("different label sets hash equal")
	}
	if string(CanonicalName(b)) != "cpu_usage" {
		t.Fatalf("CanonicalName = %q", CanonicalName(b))
	}
}

func TestBuilderMatchesLabels(t *testing.T) {
	var bld Builder
	bld.Add([]byte("zone"), []byte("z"))
	bld.Add([]byte("__name__"), []byte("m"))
	bld.Add([]byte("empty"), nil) // skipped
	bld.Add([]byte("app"), []byte("a"))
	got, err := bld.AppendCanonical(nil)
	if err != nil {
		t.Fatal(err)
	}
	want := FromStrings("__name__", "m", "app", "a", "zone", "z").AppendCanonical(nil)
	if string(got) != string(want) {
		t.Fatalf("builder form %q, want %q", got, want)
	}
	bld.Add([]byte("app"), []byte("b"))
	if _, err := bld.AppendCanonical(nil); err == nil || !strings.Contains(err.Error(), "duplicate") {
		t.Fatalf("duplicate not caught: %v", err)
	}
	bld.Reset()
	bld.Add([]byte("host"), []byte("h"))
	if _, err := bld.AppendCanonical(nil); err == nil || !strings.Contains(err.Error(), "missing metric name") {
		t.Fatalf("missing name not caught: %v", err)
	}
}

func TestBuilderNoAllocs(t *testing.T) {
	var bld Builder
	buf := make([]byte, 0, 1024)
	names := [][]byte{[]byte("host"), []byte("__name__"), []byte("region"), []byte("dc")}
	vals := [][]byte{[]byte("h1"), []byte("cpu"), []byte("eu"), []byte("d1")}
	allocs := testing.AllocsPerRun(100, func() {
		bld.Reset()
		for i := range names {
			bld.Add(names[i], vals[i])
		}
		var err error
		if buf, err = bld.AppendCanonical(buf[:0]); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per build, want 0", allocs)
	}
}

func FuzzUnmarshalLabels(f *testing.F) {
	f.Add(FromStrings("__name__", "a", "b", "c").AppendCanonical(nil))
	f.Add([]byte{0x05, 'a'})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		ls, err := UnmarshalLabels(nil, data)
		if err != nil {
			return
		}
		// A valid decode re-encodes to the same bytes: the form is canonical.
		if again := ls.AppendCanonical(nil); string(again) != string(data) {
			t.Fatalf("re-encoding %q gave %q", data, again)
		}
	})
}
