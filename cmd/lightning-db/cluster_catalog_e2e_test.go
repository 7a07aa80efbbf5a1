package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// TestClusterCatalogReconcile: an ingest-only node keeps its InfluxQL
// catalog across a restart (it holds no series, and must not prune the
// rows away), and puts the rows the catalog bucket lacks when it starts:
// with the bucket's row purged, as when a put was lost in a crash, the row
// is back, and a query-only node that starts afterwards answers that
// cpu_load_short_term is measurement cpu_load, field short_term.
func TestClusterCatalogReconcile(t *testing.T) {
	needNATSServer(t)
	urls := natsURLs(startNATSCluster(t, 3))
	s1 := clusterNode(t, t.TempDir(), "s1", urls, "storage", 4)
	idir := t.TempDir()
	i1 := clusterNode(t, idir, "i1", urls, "ingest", 4)
	waitClusterComplete(t, i1, "s1")
	waitApplied(t, s1)
	resp := post(t, i1.url("/write?db=c"), "text/plain", []byte("cpu_load,host=a short_term=1.5 1700000000000000000\n"), nil)
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("write: %d %s", resp.StatusCode, readBody(t, resp))
	}
	resp.Body.Close()

	// The bucket holds the row once the write is stored; then it loses
	// it, and the ingest node restarts.
	nc, err := nats.Connect(strings.Join(urls, ","))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	kv, err := js.KeyValue(ctx, "LIGHTNING_catalog")
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	poll(t, 20*time.Second, 100*time.Millisecond, func() string {
		keys = nil
		l, err := kv.ListKeys(ctx)
		if err != nil {
			return err.Error()
		}
		for k := range l.Keys() {
			keys = append(keys, k)
		}
		if len(keys) != 1 {
			return fmt.Sprintf("catalog bucket keys: %q", keys)
		}
		return ""
	})
	i1.stop()
	if err := kv.Purge(ctx, keys[0]); err != nil {
		t.Fatal(err)
	}
	i1 = clusterNode(t, idir, "i1", urls, "ingest", 4)
	// The storage node learnt the row too, but puts it again only when it
	// starts: the row is back in the bucket because the ingest node kept it.
	poll(t, 20*time.Second, 100*time.Millisecond, func() string {
		e, err := kv.Get(ctx, keys[0])
		if err != nil {
			return "the catalog row is not back in the bucket: " + err.Error()
		}
		if !strings.Contains(string(e.Value()), `"f":"short_term"`) {
			return "catalog row: " + string(e.Value())
		}
		return ""
	})
	q := clusterNode(t, t.TempDir(), "q", urls, "query", 4)
	want := `{"results":[{"statement_id":0,"series":[{"name":"cpu_load","columns":["fieldKey","fieldType"],"values":[["short_term","float"]]}]}]}`
	poll(t, 30*time.Second, 100*time.Millisecond, func() string {
		if _, got := influxGet(t, q, url.Values{"db": {"c"}, "q": {`SHOW FIELD KEYS`}}, ""); got != want {
			return "query-only node: " + got
		}
		return ""
	})
}
