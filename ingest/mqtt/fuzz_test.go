package mqtt

import (
	"strings"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/lightningdb/lightningdb/series"
)

// FuzzJSONMapping feeds arbitrary payloads through a JSON rule with every
// mapping feature on: it must not panic, and whatever it adds must be a
// valid batch whose series all carry the template's tags.
func FuzzJSONMapping(f *testing.F) {
	for _, s := range []string{
		`{"id":"a","v":1,"t":1700000000000}`,
		`{"values":[{"id":"x","v":7,"t":1541021024193},{"id":"y","v":true}]}`,
		`[{"a":{"b":{"c":1.5}},"s":"str","n":null}]`,
		`{"t":"2023-11-14T22:13:20Z","v":1e308}`, `{}`, `[]`, `1`, `{"v":-0}`,
		`{"t":9223372036854775807,"v":1}`, `{"t":-9223372036854775808,"v":1}`, `{"t":9223372036854775806,"v":1}`,
		`{"t":"1677-09-21T00:12:43.145224193Z","v":1}`, `{"t":"2262-04-11T23:47:16.854775807Z","v":1}`,
	} {
		f.Add("dev/d1/m", s)
	}
	o := DefaultOptions()
	o.fill()
	rules := []Rule{
		{Format: FormatJSON, Template: "dev/+device/+measurement", JSON: JSONMapping{TagKeys: []string{"id"}, TimeKey: "t", FieldKeys: nil}},
		{Format: FormatJSON, Template: "dev/+device/+measurement", JSON: JSONMapping{Path: "values", TagKeys: []string{"id"}, TimeKey: "t", TimeFormat: "unix_ms", Types: map[string]string{"v": "integer"}}},
		{Format: FormatJSON, Template: "dev/+device/+measurement", JSON: JSONMapping{TimeKey: "t", TimeFormat: "2006-01-02T15:04:05Z07:00", FieldKeys: []string{"s", "v", "n", "a.b.c"}, Separator: "."}},
		{Format: FormatJSON, Template: "dev/+device/+measurement", JSON: JSONMapping{TimeKey: "t", TimeFormat: "unix_ns"}},
	}
	var compiled []*rule
	for _, r := range rules {
		c, err := compileRule(r, &o)
		if err != nil {
			f.Fatal(err)
		}
		compiled = append(compiled, c)
	}
	f.Fuzz(func(t *testing.T, topic, payload string) {
		for _, c := range compiled {
			var b series.Batch
			err := c.dec.decode(&b, topic, []byte(payload), now)
			if err != nil && reasonOf(err) == "other" {
				t.Fatalf("error without a reason class: %v", err)
			}
			if b.Len() == 0 {
				continue
			}
			if err := b.Validate(); err != nil {
				t.Fatalf("invalid batch: %v", err)
			}
			device := strings.Split(topic, "/")[1]
			for i := 0; i < b.Len(); i++ {
				canon, _, ts, _ := b.Series(i)
				for _, x := range ts {
					if !series.InRange(x) {
						t.Fatalf("timestamp %d outside the stored range added", x)
					}
				}
				ls, err := series.UnmarshalLabels(nil, canon)
				if err != nil {
					t.Fatal(err)
				}
				if err := ls.Validate(); err != nil {
					t.Fatalf("series %s: %v", ls, err)
				}
				if ls.Get("device") != device {
					t.Fatalf("series %s lacks device=%q of topic %q", ls, device, topic)
				}
			}
		}
	})
}

// FuzzTopicTemplate checks templates against the MQTT filter they
// subscribe with: a topic the template accepts matches the filter, and a
// topic the filter refuses is refused by the template.
func FuzzTopicTemplate(f *testing.F) {
	for _, s := range [][2]string{
		{"sensors/+site/+device/+measurement", "sensors/n/d/t"},
		{"a/+/#rest", "a/b/c/d"}, {"+m", ""}, {"a/#", "a"}, {"x/+f", "x//"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, tmpl, topic string) {
		tp, err := ParseTemplate(tmpl)
		if err != nil {
			return
		}
		if strings.HasPrefix(topic, "$") {
			return // "$" topics match no wildcard filter by design
		}
		caps := map[string]string{}
		merr := tp.match(topic, func(n, v string) {
			if _, dup := caps[n]; dup {
				t.Fatalf("%q captured twice", n)
			}
			if v == "" {
				t.Fatalf("empty capture %q", n)
			}
			caps[n] = v
		})
		fm := matchFilter(tp.Filter(), topic)
		if merr == nil && !fm {
			t.Fatalf("template %q accepts %q but its filter %q does not", tmpl, topic, tp.Filter())
		}
		if !fm && merr == nil {
			t.Fatalf("filter refuses %q, template accepts", topic)
		}
	})
}

// FuzzPresenceStatus feeds arbitrary topics and payloads to a presence
// rule: it must not panic; an error is a classed one; what it adds is one
// valid series named mqtt_client_connected with the topic's client ID and
// a value of 0 or 1.
func FuzzPresenceStatus(f *testing.F) {
	for _, s := range []string{"online", "offline", "1", "0", `"true"`, " OFF \n", "", "maybe", "\xff", `"`} {
		f.Add("devices/d1/status", s)
	}
	f.Add("devices//status", "online")
	f.Add("devices/\xff/status", "online")
	f.Add("other/d1/status", "online")
	o := DefaultOptions()
	o.fill()
	r, err := compileRule(Rule{Template: "devices/+client_id/status", Presence: true}, &o)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, topic, payload string) {
		var b series.Batch
		err := r.dec.decode(&b, topic, []byte(payload), now)
		if err != nil && reasonOf(err) == "other" {
			t.Fatalf("error without a reason class: %v", err)
		}
		if b.Len() == 0 {
			return
		}
		if err != nil || b.Len() != 1 {
			t.Fatalf("%d series with error %v", b.Len(), err)
		}
		if err := b.Validate(); err != nil {
			t.Fatalf("invalid batch: %v", err)
		}
		canon, _, _, vals := b.Series(0)
		ls, err := series.UnmarshalLabels(nil, canon)
		if err != nil {
			t.Fatal(err)
		}
		if ls.Get(series.MetricName) != PresenceMetric || ls.Get(captureClientID) != strings.Split(topic, "/")[1] {
			t.Fatalf("series %s from topic %q", ls, topic)
		}
		if v := series.AsFloat64(series.TypeFloat, vals[0]); v != 0 && v != 1 {
			t.Fatalf("value %v", v)
		}
	})
}

// FuzzMQTT5Decode feeds arbitrary MQTT 5 content types, payload format
// indicators, user properties and payloads through a rule with user
// property labels: it must not panic; an error is a classed one; every
// series added is valid and carries the user property's label unless the
// payload set that label itself.
func FuzzMQTT5Decode(f *testing.F) {
	f.Add("", false, "site", "north", "m v=1 1700000000000000000")
	f.Add("application/json", false, "site", "north", `{"a":1,"site":"x"}`)
	f.Add("", true, "site", "", "42")
	f.Add("text/plain; format=value", true, "site", "s\xff", "on")
	f.Add("text/plain; format=line", false, "other", "x", "m,site=south v=1")
	f.Add("application/vnd.influx.line-protocol;;", true, "site", "n", "\xff")
	o := DefaultOptions()
	o.fill()
	r, err := compileRule(Rule{Filter: "#", Name: "n", UserPropertyLabels: []string{"site"}, JSON: JSONMapping{TagKeys: []string{"site"}}}, &o)
	if err != nil {
		f.Fatal(err)
	}
	in, err := New(newMemAppender(), o)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, ct string, utf bool, key, val, payload string) {
		p := &msgProps{contentType: ct, utf8: utf, user: []packets.UserProperty{{Key: key, Val: val}}}
		var b series.Batch
		err := in.decode(r, &b, "t/1", []byte(payload), time.Unix(0, now), p)
		if err != nil && reasonOf(err) == "other" {
			t.Fatalf("error without a reason class: %v", err)
		}
		if b.Len() == 0 {
			return
		}
		if err := b.Validate(); err != nil {
			t.Fatalf("invalid batch: %v", err)
		}
		for i := 0; i < b.Len(); i++ {
			canon, _, _, _ := b.Series(i)
			ls, err := series.UnmarshalLabels(nil, canon)
			if err != nil {
				t.Fatal(err)
			}
			if key == "site" && val != "" && ls.Get("site") == "" {
				t.Fatalf("series %s lacks the user property's label site=%q", ls, val)
			}
		}
	})
}
