package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// The cluster tests run real processes: a 3-node nats-server cluster
// with JetStream (R=3) on loopback, three storage nodes and one ingest
// node of our binary, all over HTTP. The storage nodes' own export API is
// the read path (query fan-out is query/fanout's).

const clusterSel = `{__name__=~"clu_.*"}`

type testCluster struct {
	nats    []*natsServer
	urls    []string
	storage []*proc
	dirs    []string
	ingest  *proc
}

func startTestCluster(t *testing.T) *testCluster {
	t.Helper()
	c := &testCluster{nats: startNATSCluster(t, 3)}
	c.urls = natsURLs(c.nats)
	for i := range 3 {
		c.dirs = append(c.dirs, t.TempDir())
		c.storage = append(c.storage, clusterNode(t, c.dirs[i], fmt.Sprintf("s%d", i+1), c.urls, "storage", 16))
	}
	c.ingest = clusterNode(t, t.TempDir(), "i1", c.urls, "ingest", 16)
	waitClusterComplete(t, c.ingest, "s1", "s2", "s3")
	waitApplied(t, c.storage...)
	return c
}

func TestClusterIngestReadBackAndLeave(t *testing.T) {
	c := startTestCluster(t)
	rev0 := assignmentRevision(t, c.ingest)
	acked := map[string]string{}
	for i := range 50 { // line protocol: 50 requests of 20 series
		ts := int64(1_700_000_000_000+i) * int64(time.Millisecond)
		var b strings.Builder
		for k := range 20 {
			fmt.Fprintf(&b, "clu,host=h%d v=%d %d\n", k, i*100+k, ts)
		}
		resp := post(t, c.ingest.url("/write?db=c"), "text/plain", []byte(b.String()), nil)
		if resp.StatusCode != http.StatusNoContent {
			t.Fatalf("write %d: %d %s", i, resp.StatusCode, readBody(t, resp))
		}
		resp.Body.Close()
		for k := range 20 {
			acked[fmt.Sprintf("clu_v{db=c,host=h%d}@%d", k, ts)] = strconv.Itoa(i*100 + k)
		}
	}
	for i := range 20 { // remote write: 20 requests of 10 series
		tsMs := int64(1_700_000_100_000 + i)
		if code := clusterRemoteWrite(t, c.ingest, 10, tsMs, float64(i*100)); code != http.StatusNoContent {
			t.Fatalf("remote write %d: %d", i, code)
		}
		for k := range 10 {
			acked[fmt.Sprintf("clu_rw{host=h%d}@%d", k, tsMs*int64(time.Millisecond))] = strconv.Itoa(i*100 + k)
		}
	}
	waitAllStored(t, acked, clusterSel, c.storage...)

	// Exactly once: each sample is on one node only (its partition's
	// owner), and each series on one node, unless the assignment changed
	// meanwhile (a heartbeat late on a loaded machine moves partitions:
	// then two nodes hold them, and only the deduplicated union above is
	// exact).
	if rev := assignmentRevision(t, c.ingest); rev != rev0 {
		t.Logf("assignment revision %d -> %d during the writes: per-node check skipped", rev0, rev)
	} else {
		checkOneOwner(t, c.storage, len(acked))
	}
	if m := metricValue(t, c.ingest, "lightningdb_cluster_publish_duration_seconds_count"); m < 70 {
		t.Fatalf("publish latency histogram counted %v writes, want 70", m)
	}

	// A query node (role query) answers for the cluster: its peers are
	// the live storage members, its warnings the partitions none holds.
	q := clusterNode(t, t.TempDir(), "q1", c.urls, "query", 16)
	waitClusterComplete(t, q, "s1", "s2", "s3")
	const at = "1700000100.019" // the last remote write; the line protocol samples are within the lookback
	if n, warn := countQuery(t, q, at); n != 30 || len(warn) > 0 {
		t.Fatalf("query node: count %v, warnings %q; want 30 series, no warning", n, warn)
	}
	// A frozen storage node: a warning, never a silently short answer.
	c.storage[1].cmd.Process.Signal(syscall.SIGSTOP)
	n, warn := countQuery(t, q, at)
	c.storage[1].cmd.Process.Signal(syscall.SIGCONT)
	if len(warn) == 0 {
		t.Fatalf("s2 frozen: count %v without a warning", n)
	}
	t.Logf("s2 frozen: count %v, warnings %q", n, warn)
	poll(t, 30*time.Second, 200*time.Millisecond, func() string {
		if n, warn := countQuery(t, q, at); n != 30 || len(warn) > 0 {
			return fmt.Sprintf("after SIGCONT: count %v, warnings %q", n, warn)
		}
		return ""
	})

	// A storage node leaves gracefully: its partitions move, and their new
	// owners replay them from the stream.
	c.storage[2].stop()
	waitClusterComplete(t, c.ingest, "s1", "s2")
	waitAllStored(t, acked, clusterSel, c.storage[:2]...)
	poll(t, 30*time.Second, 200*time.Millisecond, func() string {
		if n, warn := countQuery(t, q, at); n != 30 || len(warn) > 0 {
			return fmt.Sprintf("after s3 left: count %v, warnings %q", n, warn)
		}
		return ""
	})
	t.Logf("%d samples acknowledged; all on s1+s2 after s3 left, and the query node answers for them", len(acked))
}

// checkOneOwner checks that the nodes hold want samples in all, each
// series on one node only.
func checkOneOwner(t *testing.T, nodes []*proc, want int) {
	t.Helper()
	total, owner := 0, map[string]string{}
	for _, p := range nodes {
		for key, e := range p.export(clusterSel) {
			total += len(e.Timestamps)
			if o, ok := owner[key]; ok {
				var diag []string
				for _, q := range nodes {
					st, _ := clusterStatus(q)
					diag = append(diag, fmt.Sprintf("%s at %s: %d samples, revision %d, owns %v", st.Data.Node, q.addr,
						len(q.export(clusterSel)[key].Timestamps), st.Data.Assignment.Revision, st.Data.Owned))
				}
				t.Fatalf("series %s on both %s and %s:\n%s", key, o, p.addr, strings.Join(diag, "\n"))
			}
			owner[key] = p.addr
		}
	}
	if total != want {
		t.Fatalf("the storage nodes hold %d samples, %d were acknowledged", total, want)
	}
}

func assignmentRevision(t *testing.T, p *proc) uint64 {
	t.Helper()
	st, err := clusterStatus(p)
	if err != nil {
		t.Fatal(err)
	}
	return st.Data.Assignment.Revision
}

func TestClusterKill9StorageAndNATSUnderLoad(t *testing.T) {
	c := startTestCluster(t)
	var target atomic.Pointer[proc]
	target.Store(c.ingest)

	// kill -9 a storage node under load, then restart it.
	load := startLoad(&target, 4, 1_700_000_000_000*int64(time.Millisecond))
	load.waitAcks(t, 50, "before the kill")
	c.storage[1].kill()
	load.waitAcks(t, 50, "with s2 killed")
	// Its member entry expires, s1 and s3 take its partitions and replay
	// them; then it comes back, takes them back and resumes its durable
	// consumers from their ack floors.
	waitClusterComplete(t, c.ingest, "s1", "s3")
	c.storage[1] = clusterNode(t, c.dirs[1], "s2", c.urls, "storage", 16)
	load.waitAcks(t, 50, "after s2 restarted")
	acked := load.stopLoad()
	waitClusterComplete(t, c.ingest, "s1", "s2", "s3")
	waitAllStored(t, acked, clusterSel, c.storage...)
	t.Logf("storage kill -9: %d samples acknowledged (%d writes refused), all stored", len(acked), load.fails.Load())

	// kill -9 a NATS server under load: at R=3 the stream keeps a quorum.
	load = startLoad(&target, 4, 1_800_000_000_000*int64(time.Millisecond))
	load.waitAcks(t, 50, "before the NATS kill")
	victim := natsServerOf(t, c.nats, "i1") // the ingest node's own server: it must reconnect
	victim.kill()
	load.waitAcks(t, 100, "with "+victim.name+" killed")
	acked2 := load.stopLoad()
	waitAllStored(t, acked2, clusterSel, c.storage...)
	for k, v := range acked {
		acked2[k] = v
	}
	waitAllStored(t, acked2, clusterSel, c.storage...)
	t.Logf("NATS kill -9 (%s): %d samples acknowledged in all (%d writes refused), all stored", victim.name, len(acked2), load.fails.Load())

	// Two of three NATS servers down: no quorum, no PubAck, so no 204:
	// the write is refused with 503 and Retry-After once publish_timeout
	// has passed.
	for _, s := range c.nats {
		if s != victim {
			s.kill()
			break
		}
	}
	start := time.Now()
	resp := post(t, c.ingest.url("/write?db=c"), "text/plain", []byte("clu,host=noquorum v=1 1\n"), nil)
	body := readBody(t, resp)
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" || !strings.Contains(body, "did not acknowledge") {
		t.Fatalf("write without a NATS quorum: %d %q (Retry-After %q), want 503", resp.StatusCode, body, resp.Header.Get("Retry-After"))
	}
	t.Logf("without a NATS quorum: 503 after %s: %s", time.Since(start).Round(time.Millisecond), strings.TrimSpace(body))
}

// natsServerOf returns the NATS server that node's connection is on.
func natsServerOf(t *testing.T, ss []*natsServer, node string) *natsServer {
	t.Helper()
	for _, s := range ss {
		resp, err := http.Get("http://" + s.mon + "/connz")
		if err != nil {
			t.Fatal(err)
		}
		var cz struct {
			Connections []struct {
				Name string `json:"name"`
			} `json:"connections"`
		}
		err = json.NewDecoder(resp.Body).Decode(&cz)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cz.Connections {
			if c.Name == "lightning-db "+node {
				return s
			}
		}
	}
	t.Fatalf("no NATS server has a connection of %s", node)
	return nil
}
