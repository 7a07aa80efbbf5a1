package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	influxdb2 "github.com/influxdata/influxdb-client-go/v2"
	"github.com/influxdata/influxdb-client-go/v2/domain"
)

// TestBucketsAPIE2E drives /api/v2/buckets of a real server with
// influxdb-client-go's BucketsAPI: a bucket is a database's retention
// policy ("db/rp"), created with a retention rule, found by name and ID,
// listed, its rule changed (which is the database's retention: data older
// than the new rule is dropped), deleted; the buckets survive a restart,
// bad rules and duplicates are refused with a message saying why, and a
// wrong token is refused.
func TestBucketsAPIE2E(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "..", "buckets.yaml")
	if err := os.WriteFile(cfg, []byte("retention:\n  check_interval: 100ms\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"--config", cfg, "--auth-tokens", "s3cret"}
	p := startServer(t, dir, args...)
	p.token = "s3cret" // --auth-tokens guards every route
	client := influxdb2.NewClient(p.url(""), "s3cret")
	defer client.Close()
	api := client.BucketsAPI()
	ctx := context.Background()
	const org = "0000000000000001"
	expire := domain.RetentionRuleTypeExpire
	rule := func(s int64) domain.RetentionRule { return domain.RetentionRule{Type: &expire, EverySeconds: s} }

	b, err := api.CreateBucketWithNameWithID(ctx, org, "factory/week", rule(7*86400))
	if err != nil {
		t.Fatal(err)
	}
	if b.Name != "factory/week" || b.Rp == nil || *b.Rp != "week" || len(b.RetentionRules) != 1 ||
		b.RetentionRules[0].EverySeconds != 7*86400 || *b.RetentionRules[0].ShardGroupDurationSeconds != 86400 || len(*b.Id) != 16 {
		t.Fatalf("created bucket %s", mustJSON(b))
	}
	id := *b.Id
	for _, c := range []struct {
		name string
		rule domain.RetentionRule
		want string
	}{
		{"factory/week", rule(7 * 86400), "bucket with name factory/week already exists"},
		{"factory/short", rule(1800), "retention policy duration must be at least 1h0m0s"},
		{"/x", rule(0), `bucket name "/x": want db/rp or db`},
	} {
		if _, err := api.CreateBucketWithNameWithID(ctx, org, c.name, c.rule); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("create %s: %v, want %q", c.name, err, c.want)
		}
	}
	for _, name := range []string{"factory/week", "factory"} { // "db": the default policy
		if f, err := api.FindBucketByName(ctx, name); err != nil || *f.Id != id {
			t.Errorf("find %s: %v %v", name, err, f)
		}
	}
	all, err := api.GetBuckets(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, b := range *all {
		names = append(names, b.Name)
	}
	if got := strings.Join(names, ","); got != "factory/autogen,factory/week" {
		t.Errorf("buckets %s", got)
	}
	if got := showRPs(t, p); !strings.Contains(got, `["week","168h0m0s","24h0m0s",1,true]`) {
		t.Errorf("SHOW RETENTION POLICIES: %s", got)
	}

	// Write through the bucket, then shorten its rule: it is the
	// database's retention, and the samples older than it go.
	w := client.WriteAPIBlocking(org, "factory/week")
	now := time.Now()
	for i := range 30 {
		ts := now.Add(-time.Hour + time.Duration(i)*time.Minute)
		if i < 20 {
			ts = now.Add(-3*24*time.Hour + time.Duration(i)*time.Minute)
		}
		if err := w.WriteRecord(ctx, fmt.Sprintf("m v=%d %d", i, ts.UnixNano())); err != nil {
			t.Fatal(err)
		}
	}
	count := func() string {
		r := p.queryRange(`count_over_time(m_v{db="factory"}[5d])`, now, now, time.Minute)
		return string(r.Result)
	}
	if got := count(); !strings.Contains(got, `"30"`) {
		t.Fatalf("before the change: %s", got)
	}
	p.stop() // flushes: retention drops segments
	p = startServer(t, dir, args...)
	p.token = "s3cret"
	client = influxdb2.NewClient(p.url(""), "s3cret")
	defer client.Close()
	api = client.BucketsAPI()
	b.RetentionRules = domain.RetentionRules{rule(2 * 86400)}
	up, err := api.UpdateBucket(ctx, b)
	if err != nil || up.RetentionRules[0].EverySeconds != 2*86400 || *up.Id != id {
		t.Fatalf("update: %v %s", err, mustJSON(up))
	}
	waitMetric(t, p, "lightningdb_retention_dropped_samples_total", 20)
	if got := count(); !strings.Contains(got, `"10"`) {
		t.Fatalf("after the rule became 2 days: %s", got)
	}
	b.Name = "factory/renamed"
	if _, err := api.UpdateBucket(ctx, b); err == nil || !strings.Contains(err.Error(), "renaming a bucket") {
		t.Errorf("rename: %v", err)
	}

	bad := influxdb2.NewClient(p.url(""), "wrong")
	defer bad.Close()
	if _, err := bad.BucketsAPI().GetBuckets(ctx); err == nil || !strings.Contains(err.Error(), "unauthorized") {
		t.Errorf("wrong token: %v", err)
	}

	p.stop()
	p = startServer(t, dir, args...)
	p.token = "s3cret"
	client2 := influxdb2.NewClient(p.url(""), "s3cret")
	defer client2.Close()
	api = client2.BucketsAPI()
	if f, err := api.FindBucketByID(ctx, id); err != nil || f.Name != "factory/week" || f.RetentionRules[0].EverySeconds != 2*86400 {
		t.Fatalf("after a restart: %v %s", err, mustJSON(f))
	}
	if err := api.DeleteBucketWithID(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, err := api.FindBucketByID(ctx, id); err == nil || !strings.Contains(err.Error(), "bucket not found") {
		t.Errorf("deleted bucket found: %v", err)
	}
	if err := api.DeleteBucketWithID(ctx, id); err == nil || !strings.Contains(err.Error(), "bucket not found") {
		t.Errorf("second delete: %v", err)
	}
	if got := showRPs(t, p); strings.Contains(got, "week") {
		t.Errorf("SHOW RETENTION POLICIES after the delete: %s", got)
	}
	p.stop()
}

// showRPs returns SHOW RETENTION POLICIES ON factory.
func showRPs(t *testing.T, p *proc) string {
	t.Helper()
	_, body := adminCall(t, p, http.MethodPost, "/query", url.Values{"q": {"SHOW RETENTION POLICIES ON factory"}}, "Authorization", "Token s3cret")
	return body
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
