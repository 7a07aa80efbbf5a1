package main

import (
	"bytes"
	binenc "encoding/binary"
	"encoding/hex"
	"fmt"
	"io/fs"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lightningdb/lightningdb/internal/encrypt"
)

// encSecrets are the distinctive bytes an encrypted data directory must
// not hold in clear: label values, the measurement and field names, the
// database name (a label value, and the name of a retention policy's
// database) and a float sample's bytes.
var encSecretFloat = 31415.926535897

func encSecrets() [][]byte {
	return [][]byte{[]byte("zebra-host-unguessable"), []byte("okapi-site-hidden"), []byte("quokkameasure"),
		[]byte("narwhalfield"), []byte("secretdb"), []byte("rp_axolotl"),
		binenc.LittleEndian.AppendUint64(nil, math.Float64bits(encSecretFloat))}
}

// scanForSecrets fails for every file under dir that holds one of the
// secrets or is not sealed, and returns how many files it read.
func scanForSecrets(t *testing.T, dir string) int {
	t.Helper()
	n, found := findSecrets(t, dir, true)
	for _, f := range found {
		t.Error(f)
	}
	return n
}

// findSecrets returns how many files under dir it read and, for each
// secret found in a file (or, with sealed, a file not sealed), a line
// saying so.
func findSecrets(t *testing.T, dir string, sealed bool) (int, []string) {
	t.Helper()
	n := 0
	var found []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		n++
		if sealed && len(b) > 0 && !encrypt.IsSealed(b) {
			found = append(found, fmt.Sprintf("%s (%d bytes) is not sealed: %q", p, len(b), b[:min(len(b), 16)]))
		}
		t.Logf("%s: %d bytes", strings.TrimPrefix(p, dir), len(b))
		for _, s := range encSecrets() {
			if bytes.Contains(b, s) {
				found = append(found, fmt.Sprintf("%s holds %q in clear", p, s))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n, found
}

// startFails runs the server and returns its output once it exits, which
// it must do, with an error, within 20 s.
func startFails(t *testing.T, dataDir string, args ...string) string {
	t.Helper()
	cmd := exec.Command(binary, append([]string{"--data-dir", dataDir, "--http-addr", freeAddr(t), "--mqtt-addr", ""}, args...)...)
	done := make(chan struct{})
	var out []byte
	var err error
	go func() { out, err = cmd.CombinedOutput(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatalf("server did not exit; output:\n%s", out)
	}
	if err == nil {
		t.Fatalf("server exited 0; output:\n%s", out)
	}
	return string(out)
}

// TestEncryptionAtRestE2E runs a real server with encryption on: line
// protocol with distinctive labels and values into a database with a
// retention policy and a rollup tier, restarts (each Close flushes the
// memtable to segments, tag index files and series.snap) until the
// rollup builder has written records, then scans every byte of every file
// of the data directory for the secrets; reads them back over HTTP after a
// restart; rotates to a keyring A+B, writes more, reads everything back;
// and checks that the server refuses to start, naming the file and the
// key ID, without key A, with an unrelated key, and without a key.
func TestEncryptionAtRestE2E(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "data")
	keyA, keyB, keyC := bytes.Repeat([]byte{0xa1}, 32), bytes.Repeat([]byte{0xb2}, 32), bytes.Repeat([]byte{0xc3}, 32)
	keyFile := filepath.Join(root, "keys")
	writeKeys := func(raw []byte, hexKeys ...[]byte) {
		var b []byte = raw
		for _, k := range hexKeys {
			b = append(b, hex.EncodeToString(k)+"\n"...)
		}
		if err := os.WriteFile(keyFile, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	writeKeys(keyA) // raw, as `head -c 32 /dev/urandom > key` makes it
	cfg := filepath.Join(root, "config.yaml")
	yaml := fmt.Sprintf(`encryption:
  key_file: %s
downsample:
  check_interval: 100ms
  rules:
    - match: '{db="secretdb"}'
      tiers:
        - {after: 2h, interval: 1h}
`, keyFile)
	if err := os.WriteFile(cfg, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	now := time.Now().Truncate(time.Minute)
	lines := func(from time.Time, n int, host string) []byte {
		var b strings.Builder
		for i := range n {
			ts := from.Add(time.Duration(i) * time.Minute)
			fmt.Fprintf(&b, "quokkameasure,host=%s,site=okapi-site-hidden narwhalfield=%v %d\n", host, encSecretFloat+float64(i%3), ts.UnixNano())
		}
		return []byte(b.String())
	}
	// The control: without encryption the scan finds the secrets (the
	// label values in segments and series.snap, the float in the WAL).
	plain := filepath.Join(root, "plain")
	p := startServer(t, plain)
	writeLP(t, p.url(""), "secretdb", lines(now.Add(-10*time.Hour), 480, "zebra-host-unguessable"))
	p.stop()
	p = startServer(t, plain)
	writeLP(t, p.url(""), "secretdb", lines(now.Add(-time.Minute), 1, "zebra-host-unguessable"))
	p.kill()
	_, found := findSecrets(t, plain, false)
	if len(found) < 4 {
		t.Fatalf("the scan of a plain data directory found only %v: it would not catch a secret in clear", found)
	}
	t.Logf("control, without encryption: %d secrets found in clear, e.g. %v", len(found), found[:4])

	p = startServer(t, dir, "--config", cfg)
	if code, body := influxQueryDB(t, p, "", `CREATE RETENTION POLICY "rp_axolotl" ON "secretdb" DURATION 30d REPLICATION 1`); code != 200 {
		t.Fatalf("create retention policy: %d %s", code, body)
	}
	writeLP(t, p.url(""), "secretdb", lines(now.Add(-10*time.Hour), 480, "zebra-host-unguessable"))
	p.stop() // flushes: segments, tag index, series.snap, catalog
	p = startServer(t, dir, "--config", cfg)
	poll(t, 20*time.Second, 50*time.Millisecond, func() string {
		if v := metricValue(t, p, "lightningdb_rollup_records_total"); v <= 0 {
			return "no rollup records written"
		}
		return ""
	})
	writeLP(t, p.url(""), "secretdb", lines(now.Add(-time.Minute), 1, "zebra-host-unguessable")) // left in the WAL
	p.kill()
	n := scanForSecrets(t, dir)
	if !exists(filepath.Join(dir, "rollup")) || !exists(filepath.Join(dir, "influx-catalog.json")) || !exists(filepath.Join(dir, "retention_policies.json")) {
		t.Fatalf("the test did not make rollups, the catalog and the policies")
	}
	t.Logf("%d files scanned, no secret in clear", n)

	check := func(p *proc, hosts ...string) {
		t.Helper()
		got := p.export(`{__name__="quokkameasure_narwhalfield"}`)
		for _, h := range hosts {
			k := `quokkameasure_narwhalfield{db=secretdb,host=` + h + `,site=okapi-site-hidden}`
			if e, ok := got[k]; !ok || len(e.Timestamps) < 480 || fmt.Sprint(e.Values[0]) != fmt.Sprint(encSecretFloat) {
				t.Fatalf("series %s: %d samples, first %v; export has %d series", k, len(e.Timestamps), e.Values[:min(1, len(e.Values))], len(got))
			}
		}
		code, body := influxQueryDB(t, p, "secretdb", `SELECT count(narwhalfield) FROM quokkameasure`)
		if code != 200 || !strings.Contains(body, "narwhalfield") && !strings.Contains(body, "count") {
			t.Fatalf("InfluxQL: %d %s", code, body)
		}
	}
	p = startServer(t, dir, "--config", cfg)
	check(p, "zebra-host-unguessable")

	// Rotation: A and B, B seals new files; everything stays readable.
	writeKeys(nil, keyA, keyB)
	p.stop()
	p = startServer(t, dir, "--config", cfg)
	writeLP(t, p.url(""), "secretdb", lines(now.Add(-9*time.Hour), 480, "zebra-host-b"))
	p.stop()
	p = startServer(t, dir, "--config", cfg)
	check(p, "zebra-host-unguessable", "zebra-host-b")
	p.stop()
	scanForSecrets(t, dir)

	idA := encrypt.IDOf(keyA).String()
	writeKeys(nil, keyB) // A removed while files sealed with it remain
	if out := startFails(t, dir, "--config", cfg); !strings.Contains(out, idA) || !strings.Contains(out, "does not hold") || !strings.Contains(out, dir) {
		t.Fatalf("start without key A: want an error naming a file and key %s, got:\n%s", idA, out)
	}
	writeKeys(nil, keyC)
	if out := startFails(t, dir, "--config", cfg); !strings.Contains(out, "does not hold") {
		t.Fatalf("start with an unrelated key: %s", out)
	}
	if out := startFails(t, dir); !strings.Contains(out, "is sealed with key") || !strings.Contains(out, "--encryption-key-file") {
		t.Fatalf("start without a key: %s", out)
	}
	writeKeys(nil, keyA, keyB)
	p = startServer(t, dir, "--encryption-key-file", keyFile)
	check(p, "zebra-host-unguessable", "zebra-host-b")
	p.stop()
}

func exists(p string) bool { _, err := os.Stat(p); return err == nil }
