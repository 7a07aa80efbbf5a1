package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lightningdb/lightningdb/engine"
	"github.com/lightningdb/lightningdb/internal/encrypt"
	"github.com/lightningdb/lightningdb/series"
)

// TestReencrypt: a directory written partly in clear, partly with key A,
// is resealed with B by reencrypt, then opens with B alone; verify and
// inspect read it with the key file; keygen prints a usable line.
func TestReencrypt(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "data")
	a, b := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
	write := func(opts engine.Options, v float64) {
		db, err := engine.Open(dir, opts)
		if err != nil {
			t.Fatal(err)
		}
		var bt series.Batch
		bt.AddSeries(series.FromStrings("__name__", "m", "host", "h"), series.TypeFloat)
		bt.AppendFloat(int64(v), v)
		if _, err := db.Append(context.Background(), &bt); err != nil {
			t.Fatal(err)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
	}
	ringA, _ := encrypt.NewKeyring("a", a)
	write(engine.Options{DisableCompaction: true}, 1) // plain
	write(engine.Options{DisableCompaction: true, FS: engine.NewEncFS(engine.OSFS{}, ringA)}, 2)
	keyFile := filepath.Join(root, "keys")
	os.WriteFile(keyFile, []byte(hex.EncodeToString(a)+"\n"+hex.EncodeToString(b)+"\n"), 0o600)
	var stdout, stderr bytes.Buffer
	if code := run([]string{"reencrypt", "--data-dir", dir, "--encryption-key-file", keyFile}, &stdout, &stderr); code != 0 {
		t.Fatalf("reencrypt: %d %s %s", code, stdout.String(), stderr.String())
	}
	t.Log(stdout.String())
	idB := encrypt.IDOf(b)
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() == "LOCK" {
			return err
		}
		h, _ := os.ReadFile(p)
		if len(h) < encrypt.HeaderSize || !encrypt.IsSealed(h) || encrypt.KeyID(binary.LittleEndian.Uint32(h[8:12])) != idB {
			t.Errorf("%s not sealed with B after reencrypt", p)
		}
		return nil
	})
	onlyB := filepath.Join(root, "keyB")
	os.WriteFile(onlyB, b, 0o600)
	ringB, _ := encrypt.LoadKeyFile(onlyB)
	db, err := engine.Open(dir, engine.Options{FS: engine.NewEncFS(engine.OSFS{}, ringB)})
	if err != nil {
		t.Fatalf("open with B only: %v", err)
	}
	id, ok := db.Lookup(series.FromStrings("__name__", "m", "host", "h"))
	n := 0
	for it := db.Select(id, 0, 10, nil); ok && it.Next(); {
		n++
	}
	db.Close()
	if n != 2 {
		t.Fatalf("%d samples with B only, want 2", n)
	}
	for _, cmd := range []string{"verify", "inspect"} {
		stdout.Reset()
		if code := run([]string{cmd, "--data-dir", dir, "--encryption-key-file", onlyB}, &stdout, &stderr); code != 0 {
			t.Fatalf("%s: %d %s", cmd, code, stderr.String())
		}
	}
	stdout.Reset()
	if code := run([]string{"verify", "--data-dir", dir}, &stdout, &stderr); code == 0 || !strings.Contains(stderr.String(), "sealed with key") {
		t.Fatalf("verify without a key: %d %s", code, stderr.String())
	}
	stdout.Reset()
	if code := run([]string{"keygen"}, &stdout, &stderr); code != 0 {
		t.Fatal(code)
	}
	if _, err := encrypt.ParseKeyFile("keygen", stdout.Bytes()); err != nil {
		t.Fatalf("keygen output %q: %v", stdout.String(), err)
	}
}
