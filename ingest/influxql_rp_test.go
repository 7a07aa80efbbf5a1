package ingest

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

// fakeRPs is an in-memory RetentionPolicies.
type fakeRPs struct{ m map[string][]RetentionPolicy }

func (f *fakeRPs) CreateRetentionPolicy(db string, rp RetentionPolicy) error {
	if rp.ShardGroupDuration == 0 {
		rp.ShardGroupDuration = 24 * time.Hour
	}
	f.m[db] = append(f.m[db], rp)
	return nil
}

func (f *fakeRPs) AlterRetentionPolicy(db, name string, c RetentionPolicyChange) error {
	for i, rp := range f.m[db] {
		if rp.Name == name {
			if c.Duration != nil {
				f.m[db][i].Duration = *c.Duration
			}
			return nil
		}
	}
	return errors.New("retention policy not found: " + name)
}

func (f *fakeRPs) DropRetentionPolicy(db, name string) error {
	delete(f.m, db)
	return nil
}

func (f *fakeRPs) RetentionPolicies(db string) ([]RetentionPolicy, error) { return f.m[db], nil }

func TestRetentionPolicyStatements(t *testing.T) {
	rps := &fakeRPs{m: map[string][]RetentionPolicy{}}
	h := newTestHandler(t, newFakeAppender(), func(o *InfluxOptions) { o.RetentionPolicies = rps })
	do := func(q, db string) (int, string) {
		req := httptest.NewRequest(http.MethodPost, "/query?db="+db, strings.NewReader(url.Values{"q": {q}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code, strings.TrimSpace(rec.Body.String())
	}
	steps := []struct {
		q, db      string
		wantStatus int
		wantBody   string
	}{
		{`CREATE RETENTION POLICY "week" ON "b" DURATION 7d REPLICATION 1 SHARD DURATION 1h DEFAULT`, "", 200, `{"results":[{"statement_id":0}]}`},
		{`show retention policies on b`, "", 200, `{"results":[{"statement_id":0,"series":[{"columns":["name","duration","shardGroupDuration","replicaN","default"],"values":[["week","168h0m0s","1h0m0s",1,true]]}]}]}`},
		{`ALTER RETENTION POLICY week ON b DURATION 2w`, "", 200, `{"results":[{"statement_id":0}]}`},
		{`SHOW RETENTION POLICIES`, "b", 200, `{"results":[{"statement_id":0,"series":[{"columns":["name","duration","shardGroupDuration","replicaN","default"],"values":[["week","336h0m0s","1h0m0s",1,true]]}]}]}`},
		{`ALTER RETENTION POLICY nope ON b DURATION 2w`, "", 200, `{"results":[{"statement_id":0,"error":"retention policy not found: nope"}]}`},
		{`SHOW RETENTION POLICIES`, "", 200, `{"results":[{"statement_id":0,"error":"database name required"}]}`},
		{`DROP RETENTION POLICY "week" ON "b"; SHOW RETENTION POLICIES ON "b"`, "", 200, `{"results":[{"statement_id":0},{"statement_id":1,"series":[{"columns":["name","duration","shardGroupDuration","replicaN","default"]}]}]}`},
		{`CREATE RETENTION POLICY week ON b DURATION 7x REPLICATION 1`, "", 400, `{"error":"error parsing query: invalid duration \"7x\""}`},
		{`CREATE RETENTION POLICY week ON b DURATION 7d`, "", 400, `{"error":"error parsing query: CREATE RETENTION POLICY: DURATION and REPLICATION are required"}`},
		{`CREATE RETENTION POLICY week b DURATION 7d REPLICATION 1`, "", 400, `{"error":"error parsing query: CREATE RETENTION POLICY: want CREATE RETENTION POLICY name ON database ..."}`},
		{`ALTER RETENTION POLICY week ON b`, "", 400, `{"error":"error parsing query: ALTER RETENTION POLICY: nothing to change (DURATION, REPLICATION, SHARD DURATION or DEFAULT)"}`},
		{`CREATE RETENTION POLICY week ON b DURATION 7d REPLICATION 0`, "", 400, `{"error":"error parsing query: CREATE RETENTION POLICY: REPLICATION \"0\": want a positive integer"}`},
		{`DROP RETENTION POLICY week ON b now`, "", 400, `{"error":"error parsing query: DROP RETENTION POLICY: unexpected \"now\""}`},
		{`CREATE DATABASE "d" WITH DURATION 3d REPLICATION 1 NAME "three"; SHOW RETENTION POLICIES ON d`, "", 200,
			`{"results":[{"statement_id":0},{"statement_id":1,"series":[{"columns":["name","duration","shardGroupDuration","replicaN","default"],"values":[["three","72h0m0s","24h0m0s",1,true]]}]}]}`},
		{`CREATE DATABASE e WITH DURATION 3q`, "", 200, `{"results":[{"statement_id":0,"error":"invalid duration \"3q\""}]}`},
		{`CREATE DATABASE f`, "", 200, `{"results":[{"statement_id":0}]}`},
	}
	for i, s := range steps {
		code, body := do(s.q, s.db)
		if code != s.wantStatus || body != s.wantBody {
			t.Errorf("step %d %q: got %d %s\nwant %d %s", i, s.q, code, body, s.wantStatus, s.wantBody)
		}
	}
}

func TestParseInfluxDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{"INF": 0, "inf": 0, "7d": 7 * 24 * time.Hour, "1h30m": 90 * time.Minute,
		"2w": 14 * 24 * time.Hour, "10ms": 10 * time.Millisecond, "5u": 5 * time.Microsecond, "3ns": 3} {
		if got, err := parseInfluxDuration(in); err != nil || got != want {
			t.Errorf("%q: %v %v, want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "7", "d", "7y", "99999999999999999999d", "-1d"} {
		if _, err := parseInfluxDuration(in); err == nil {
			t.Errorf("%q accepted", in)
		}
	}
}

// FuzzRetentionPolicyStatement: the policy statement parser never panics,
// and what it accepts has a name and a database (or is SHOW).
func FuzzRetentionPolicyStatement(f *testing.F) {
	for _, s := range []string{
		`CREATE RETENTION POLICY "week" ON "b" DURATION 7d REPLICATION 1 SHARD DURATION 1h DEFAULT`,
		`ALTER RETENTION POLICY week ON b DURATION INF DEFAULT`, `DROP RETENTION POLICY "a\"b" ON "c"`,
		`SHOW RETENTION POLICIES ON "x"`, `SHOW RETENTION POLICIES`, `CREATE RETENTION POLICY "`,
		`CREATE RETENTION POLICY a ON b DURATION 1h30m REPLICATION 99999999999999999999`,
	} {
		f.Add(s)
	}
	f.Add(`CREATE DATABASE "d" WITH DURATION 3d REPLICATION 1 SHARD DURATION 1h NAME "three"`)
	f.Fuzz(func(t *testing.T, s string) {
		if rp, ok, err := parseCreateDatabaseWith(s); ok && err == nil && (rp.Name == "" || !rp.Default || rp.Duration < 0) {
			t.Fatalf("%q: CREATE DATABASE WITH gave %+v", s, rp)
		}
		st, ok, err := parseRPStatement(s)
		if !ok || err != nil {
			return
		}
		if st.kind != stmtShowRPs && (st.name == "" || st.db == "") {
			t.Fatalf("%q accepted without name or database: %+v", s, st)
		}
		if st.rp.Duration < 0 || st.rp.ShardGroupDuration < 0 {
			t.Fatalf("%q: negative duration %+v", s, st.rp)
		}
	})
}
