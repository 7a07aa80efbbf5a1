package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lightningdb/lightningdb/auth"
)

// TestTokenCreateListRevoke: create prints the token once and stores only
// its hash; list shows the ID, scopes and limits; revoke removes it.
func TestTokenCreateListRevoke(t *testing.T) {
	file := filepath.Join(t.TempDir(), "tokens.yaml")
	var out, errb bytes.Buffer
	if rc := run([]string{"token", "create", "--file", file, "--scope", "read", "--db", "a,b", "--match", `{team="x"}`, "--user", "u1", "--description", "grafana"}, &out, &errb); rc != 0 {
		t.Fatalf("create: %d %s", rc, errb.String())
	}
	secret := strings.TrimSpace(out.String())
	if !strings.HasPrefix(secret, auth.TokenPrefix) {
		t.Fatalf("printed %q", secret)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(data), secret[len(auth.TokenPrefix)+13:]) {
		t.Fatal("the token file holds the secret")
	}
	if st, _ := os.Stat(file); st.Mode().Perm() != 0o600 {
		t.Fatalf("token file mode %v", st.Mode())
	}
	f, err := auth.ReadTokenFile(file)
	if err != nil {
		t.Fatal(err)
	}
	st, err := auth.NewStore(f, nil, "db")
	if err != nil {
		t.Fatal(err)
	}
	p, ok := st.Authenticate(secret)
	if !ok || p.ID != f.Tokens[0].ID || !p.Has(auth.Read) || p.Has(auth.Write) || len(p.Databases) != 2 {
		t.Fatalf("authenticated %v %+v", ok, p)
	}
	out.Reset()
	if rc := run([]string{"token", "list", "--file", file}, &out, &errb); rc != 0 ||
		!strings.Contains(out.String(), p.ID) || !strings.Contains(out.String(), `{team="x"}`) || strings.Contains(out.String(), "sha256") {
		t.Fatalf("list: %d %s", rc, out.String())
	}
	if rc := run([]string{"token", "revoke", "--file", file, "nope"}, &out, &errb); rc != 1 {
		t.Fatalf("revoke of an unknown ID: %d", rc)
	}
	if rc := run([]string{"token", "revoke", "--file", file, p.ID}, &out, &errb); rc != 0 {
		t.Fatalf("revoke: %d %s", rc, errb.String())
	}
	if f, _ := auth.ReadTokenFile(file); len(f.Tokens) != 0 {
		t.Fatalf("after revoke: %+v", f.Tokens)
	}
	if rc := run([]string{"token", "create", "--file", file, "--scope", "root"}, &out, &errb); rc != 2 {
		t.Fatalf("a bad scope: %d", rc)
	}
}
