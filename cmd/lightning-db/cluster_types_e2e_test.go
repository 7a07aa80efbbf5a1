package main

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestClusterTypeConflict: an ingest node refuses a sample whose type
// conflicts with its series (400 naming the line, the rest of the write
// stored), as a single node does, instead of acknowledging what the
// storage node will reject. A second ingest node that never saw the
// series acknowledges one conflicting write (the storage node rejects
// it), learns the stored type from the storage node's correction, and
// then refuses conflicts and accepts the stored type.
func TestClusterTypeConflict(t *testing.T) {
	needNATSServer(t)
	urls := natsURLs(startNATSCluster(t, 3))
	s1 := clusterNode(t, t.TempDir(), "s1", urls, "storage", 4)
	i1 := clusterNode(t, t.TempDir(), "i1", urls, "ingest", 4)
	i2 := clusterNode(t, t.TempDir(), "i2", urls, "ingest", 4)
	waitClusterComplete(t, i1, "s1")
	waitApplied(t, s1)
	write := func(p *proc, body string) (int, string) {
		t.Helper()
		resp := post(t, p.url("/write?db=x"), "text/plain", []byte(body), nil)
		return resp.StatusCode, readBody(t, resp)
	}
	if code, msg := write(i1, "tc,k=a v=1i 1000000000\n"); code != http.StatusNoContent {
		t.Fatalf("first write: %d %s", code, msg)
	}
	code, msg := write(i1, "ok,k=b v=2 2000000000\ntc,k=a v=1.5 2000000000\n")
	if code != http.StatusBadRequest || !strings.Contains(msg, "line 2") || !strings.Contains(msg, "conflict") {
		t.Fatalf("type conflict through the ingest node: %d %s", code, msg)
	}
	// The other ingest node has not seen tc{k=a}: the storage node
	// rejects its float and tells the ingest nodes the series holds
	// integers.
	if code, msg := write(i2, "tc,k=a v=2.5 3000000000\n"); code != http.StatusNoContent {
		t.Fatalf("first write through i2: %d %s", code, msg)
	}
	poll(t, 20*time.Second, 100*time.Millisecond, func() string {
		code, msg := write(i2, "tc,k=a v=3.5 4000000000\n")
		if code != http.StatusBadRequest || !strings.Contains(msg, "conflict") {
			return fmt.Sprintf("i2 has not learnt the stored type: %d %s", code, msg)
		}
		return ""
	})
	if code, msg := write(i2, "tc,k=a v=5i 5000000000\n"); code != http.StatusNoContent {
		t.Fatalf("the stored type through i2: %d %s", code, msg)
	}
	poll(t, 20*time.Second, 100*time.Millisecond, func() string {
		got := s1.export(`{__name__=~"tc_v|ok_v"}`)
		tc, ok := got["tc_v{db=x,k=a}"], got["ok_v{db=x,k=b}"]
		if len(got) != 2 || len(tc.Values) != 2 || len(ok.Values) != 1 {
			return fmt.Sprintf("stored: %v", got)
		}
		return ""
	})
}
