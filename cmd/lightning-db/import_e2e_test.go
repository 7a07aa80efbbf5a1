package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestExportImportRoundTrip exports typed series from one real server
// with lightning-admin export, imports them into another with
// lightning-admin import, and finds the same export there; it imports
// VictoriaMetrics' export lines (milliseconds) and influx_inspect export
// output (databases from its context comments), and exports line
// protocol.
func TestExportImportRoundTrip(t *testing.T) {
	admin := buildAdmin(t)
	a := startServer(t, t.TempDir())
	writeLines(t, a, "x", "m,host=a f=1.5,i=-3i,u=7u,b=true,s=\"x y\" 1700000000000000001\n"+
		"m,host=a f=-2e-9,i=9223372036854775807i,u=18446744073709551615u,b=false,s=\"q\\\"\" 1700000000000000002\n")
	file := filepath.Join(t.TempDir(), "x.jsonl")
	if out, errOut, code := runAdmin(t, admin, "export", "--url", "http://"+a.addr, "--output", file); code != 0 {
		t.Fatalf("export: %d %s %s", code, out, errOut)
	}
	lp, errOut, code := runAdmin(t, admin, "export", "--url", "http://"+a.addr, "--match", `{__name__=~"m_.*"}`, "--format", "lp")
	if code != 0 || !strings.Contains(lp, "m_f,db=x,host=a value=1.5 1700000000000000001\n") ||
		!strings.Contains(lp, "m_i,db=x,host=a value=9223372036854775807i 1700000000000000002\n") ||
		!strings.Contains(lp, `m_s,db=x,host=a value="q\"" 1700000000000000002`) {
		t.Fatalf("export --format lp: %d %s\n%s", code, errOut, lp)
	}

	b := startServer(t, t.TempDir())
	if out, errOut, code := runAdmin(t, admin, "import", "--url", "http://"+b.addr, file); code != 0 {
		t.Fatalf("import: %d %s %s", code, out, errOut)
	}
	want, got := a.export(`{__name__=~"m_.*"}`), b.export(`{__name__=~"m_.*"}`)
	if len(want) != 5 || !reflect.DeepEqual(want, got) {
		t.Fatalf("after the round trip:\n%v\nwant\n%v", got, want)
	}

	vm := filepath.Join(t.TempDir(), "vm.jsonl")
	influx := filepath.Join(t.TempDir(), "influx.lp")
	writeFile(t, vm, `{"metric":{"__name__":"vmm","job":"j"},"values":[1,2.5],"timestamps":[1700000000000,1700000001000]}`+"\n")
	writeFile(t, influx, "# INFLUXDB EXPORT: 1677-09-21T00:12:43Z - 2262-04-11T23:47:16Z\n# DDL\nCREATE DATABASE old WITH NAME autogen\n"+
		"# DML\n# CONTEXT-DATABASE:old\n# CONTEXT-RETENTION-POLICY:autogen\n# writing tsm data\ncpu,host=z usage=5 1700000000000000000\n")
	for _, f := range []string{vm, influx} {
		if out, errOut, code := runAdmin(t, admin, "import", "--url", "http://"+b.addr, f); code != 0 {
			t.Fatalf("import %s: %d %s %s", f, code, out, errOut)
		}
	}
	if e := b.export("vmm")["vmm{job=j}"]; !reflect.DeepEqual(e.Timestamps, []int64{1700000000000000000, 1700000001000000000}) {
		t.Fatalf("VictoriaMetrics lines: %+v", b.export("vmm"))
	}
	if e := b.export("cpu_usage"); len(e) != 1 || len(e["cpu_usage{db=old,host=z}"].Values) != 1 {
		t.Fatalf("influx_inspect export: %+v", e)
	}
	conflict := filepath.Join(t.TempDir(), "conflict.jsonl")
	writeFile(t, conflict, `{"metric":{"__name__":"m_i","db":"x","host":"a"},"type":"float","values":[1],"timestamps":[1]}`+"\n"+
		`{"metric":{"__name__":"ok"},"type":"float","values":[1],"timestamps":[1]}`+"\n")
	if _, errOut, code := runAdmin(t, admin, "import", "--url", "http://"+b.addr, conflict); code != 1 ||
		!strings.Contains(errOut, "1 series rejected") || len(b.export("ok")) != 1 {
		t.Fatalf("import of a type conflict: %d %s", code, errOut)
	}
	if _, errOut, code := runAdmin(t, admin, "import", "--url", "http://"+b.addr, "--format", "lp", vm); code != 1 || !strings.Contains(errOut, "no database") {
		t.Fatalf("lp without a database: %d %s", code, errOut)
	}
}

func writeFile(t *testing.T, name, s string) {
	t.Helper()
	if err := os.WriteFile(name, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}
