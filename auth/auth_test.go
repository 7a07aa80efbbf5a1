package auth

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"
)

// TestCredentialForms: every form clients send a token in is found, and
// a request without one has none.
func TestCredentialForms(t *testing.T) {
	for _, tc := range []struct {
		name string
		set  func(r *http.Request)
		want []string
	}{
		{"influx2 Token", func(r *http.Request) { r.Header.Set("Authorization", "Token s1") }, []string{"s1"}},
		{"influx 1.8 Token user:pw", func(r *http.Request) { r.Header.Set("Authorization", "Token me:s1") }, []string{"me:s1", "s1"}},
		{"Prometheus Bearer", func(r *http.Request) { r.Header.Set("Authorization", "Bearer s1") }, []string{"s1"}},
		{"basic auth", func(r *http.Request) { r.SetBasicAuth("me", "s1") }, []string{"s1"}},
		{"u and p", func(r *http.Request) { r.URL.RawQuery = "u=me&p=s1" }, []string{"s1"}},
		{"none", func(*http.Request) {}, nil},
	} {
		r := httptest.NewRequest(http.MethodGet, "/x", nil)
		tc.set(r)
		require.Equal(t, tc.want, Credentials(r), tc.name)
	}
}

// TestStoreAuthenticates: a created token authenticates with its scopes
// and limits, a wrong secret with its ID does not, a legacy token has
// full access, and the file keeps only the hash.
func TestStoreAuthenticates(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tokens.yaml")
	f, err := ReadTokenFile(path)
	require.NoError(t, err)
	secret, e, err := f.Create(TokenEntry{Scopes: []string{"read"}, Databases: []string{"a.b"}, Matchers: []string{`{team="x"}`}}, time.Now())
	require.NoError(t, err)
	require.NoError(t, f.Write(path))
	f2, err := ReadTokenFile(path)
	require.NoError(t, err)
	st, err := NewStore(f2, []string{"old"}, "db")
	require.NoError(t, err)

	p, ok := st.Authenticate(secret)
	require.True(t, ok)
	require.Equal(t, e.ID, p.ID)
	require.True(t, p.Has(Read))
	require.False(t, p.Has(Write))
	require.True(t, p.Matches(labels.FromStrings("db", "a.b", "team", "x").Get))
	require.False(t, p.Matches(labels.FromStrings("db", "aXb", "team", "x").Get), "a database name is not a regexp")
	require.False(t, p.Matches(labels.FromStrings("db", "a.b").Get))
	_, ok = st.Authenticate(secret[:len(secret)-1] + "A")
	require.False(t, ok || strings.HasSuffix(secret, "A"))
	p, ok = st.Authenticate("old")
	require.True(t, ok && p.Has(Admin|Read|Write) && !p.Limited())
	require.Equal(t, e.ID, ClaimedID(secret))

	require.NoError(t, f2.Revoke(e.ID))
	require.ErrorIs(t, f2.Revoke(e.ID), ErrUnknownToken)
	_, _, err = f2.Create(TokenEntry{Scopes: []string{"root"}}, time.Now())
	require.Error(t, err)
}

// TestScopeSets: a limited principal's scope is added to each set, and
// stands alone when there is none.
func TestScopeSets(t *testing.T) {
	ms, err := compileScope("db", []string{"a"}, nil)
	require.NoError(t, err)
	ctx := NewContext(context.Background(), &Principal{ID: "x", Perm: Read, Scope: ms})
	sets := ScopeSets(ctx, nil)
	require.Len(t, sets, 1)
	require.Equal(t, `db=~"a"`, sets[0][0].String())
	one := []*labels.Matcher{labels.MustNewMatcher(labels.MatchEqual, "__name__", "up")}
	sets = ScopeSets(ctx, [][]*labels.Matcher{one})
	require.Len(t, sets[0], 2)
	require.Len(t, one, 1, "the caller's slice is not changed")
	require.Nil(t, ScopeSets(context.Background(), nil))
}

// FuzzTokenFile: any token file either fails to load or builds a store
// that authenticates without panicking.
func FuzzTokenFile(f *testing.F) {
	f.Add([]byte("tokens:\n  - id: 0123456789ab\n    hash: sha256:"+"00000000000000000000000000000000000000000000000000000000000000aa"+
		"\n    scopes: [read]\n    databases: [a]\n    matchers: ['{x=\"y\"}']\n"), "ldb_0123456789ab_x")
	f.Add([]byte("tokens: []\n"), "")
	f.Fuzz(func(t *testing.T, data []byte, secret string) {
		tf, err := parseTokenFile(data, "fuzz")
		if err != nil {
			return
		}
		st, err := NewStore(tf, []string{"legacy"}, "db")
		if err != nil {
			return
		}
		st.Authenticate(secret)
	})
}
