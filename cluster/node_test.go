package cluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"

	"github.com/lightningdb/lightningdb/series"
)

// startNATS starts one nats-server with JetStream on a free loopback
// port and returns its URL; it skips when nats-server is absent locally
// (CI installs it, .ci/run).
func startNATS(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("nats-server")
	if err != nil {
		if bin, err = exec.LookPath("/usr/sbin/nats-server"); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatal("nats-server not installed (.ci/run installs Debian's nats-server)")
			}
			t.Skip("nats-server not installed: apt-get install nats-server to run this test")
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cmd := exec.Command(bin, "-a", "127.0.0.1", "-p", fmt.Sprint(port), "-js", "-sd", t.TempDir())
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	url := fmt.Sprintf("nats://127.0.0.1:%d", port)
	eventually(t, 10*time.Second, func() error {
		nc, err := nats.Connect(url)
		if err == nil {
			nc.Close()
		}
		return err
	})
	return url
}

func eventually(t *testing.T, d time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// fakeEngine records what it stores; its first failures appends fail
// with series.ErrOverloaded.
type fakeEngine struct {
	mu       sync.Mutex
	failures int
	appends  int
	samples  map[string]int // canonical labels + timestamp -> times stored
}

func (f *fakeEngine) Append(_ context.Context, b *series.Batch) (series.AppendResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.appends++
	if f.failures > 0 {
		f.failures--
		return series.AppendResult{}, fmt.Errorf("%w: test", series.ErrOverloaded)
	}
	for i := range b.Len() {
		canon, _, ts, _ := b.Series(i)
		for _, t := range ts {
			f.samples[fmt.Sprintf("%x@%d", canon, t)]++
		}
	}
	return series.AppendResult{Accepted: b.Samples()}, nil
}

func (f *fakeEngine) stored() (distinct, total int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, n := range f.samples {
		total += n
	}
	return len(f.samples), total
}

func TestNodePublishesStoresRetriesAndLeaves(t *testing.T) {
	for _, linger := range []time.Duration{-1, 5 * time.Millisecond} {
		t.Run(fmt.Sprintf("linger=%s", linger), func(t *testing.T) { testNode(t, linger) })
	}
}

func testNode(t *testing.T, linger time.Duration) {
	url := startNATS(t)
	eng := &fakeEngine{failures: 2, samples: map[string]int{}}
	o := Options{URLs: []string{url}, NodeID: "n1", Ingest: true, Storage: true, AdvertiseURL: "http://n1:8086",
		Partitions: 4, Replicas: 1, MemberTTL: 2 * time.Second, AckWait: time.Second, StartTimeout: 10 * time.Second,
		PublishLinger: linger}
	n, err := Open(context.Background(), o, eng)
	require.NoError(t, err)

	var b series.Batch
	for i := range 20 {
		b.AddSeries(series.Labels{{Name: "__name__", Value: "m"}, {Name: "i", Value: fmt.Sprint(i)}}, series.TypeFloat)
		b.AppendFloat(1000, float64(i))
		b.AppendFloat(2000, float64(i))
	}
	res, err := n.Publisher().Append(context.Background(), &b)
	require.NoError(t, err)
	require.Equal(t, 40, res.Accepted)
	// Concurrent writes (gathered into shared messages with a linger).
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			var b series.Batch
			for i := range 20 {
				b.AddSeries(series.Labels{{Name: "__name__", Value: "c"}, {Name: "w", Value: fmt.Sprint(w)}, {Name: "i", Value: fmt.Sprint(i)}}, series.TypeInt)
				b.AppendInt(int64(w), int64(i))
			}
			_, err := n.Publisher().Append(context.Background(), &b)
			require.NoError(t, err)
		})
	}
	wg.Wait()
	// The first two appends fail (overloaded): their messages are nak'ed
	// and come back; every sample ends up stored.
	eventually(t, 20*time.Second, func() error {
		if d, _ := eng.stored(); d != 200 {
			return fmt.Errorf("%d of 200 samples stored", d)
		}
		return nil
	})

	// A corrupt message is terminated and counted, not retried.
	nc, err := nats.Connect(url)
	require.NoError(t, err)
	defer nc.Close()
	_, err = nc.Request(Subject("LIGHTNING", 0), []byte("LB\x01\x00garbage"), 5*time.Second)
	require.NoError(t, err) // the PubAck
	eventually(t, 10*time.Second, func() error {
		var d dto.Metric
		n.m.corruptMsgs.Write(&d)
		if v := d.GetCounter().GetValue(); v != 1 {
			return fmt.Errorf("corrupt messages counted: %v", v)
		}
		return nil
	})

	eventually(t, 10*time.Second, func() error {
		peers, missing := n.QueryPeers()
		if len(missing) > 0 || len(peers) != 1 || peers[0] != (PeerInfo{"n1", "http://n1:8086"}) {
			return fmt.Errorf("peers %v, missing %q", peers, missing)
		}
		return nil
	})
	st := n.Status()
	require.Len(t, st.Owned, 4)
	require.Equal(t, []string{"n1", "n1", "n1", "n1"}, st.Assignment.Owners)

	// A second node with another partition count refuses to start.
	o2 := o
	o2.NodeID, o2.Partitions = "n2", 8
	_, err = Open(context.Background(), o2, eng)
	require.ErrorContains(t, err, "cluster.partitions 8 differs from the cluster's 4")

	require.NoError(t, n.Close(context.Background()))
	// Deregistered: the members bucket holds no live entry.
	js, _ := jetstreamFor(nc)
	kv, err := js.KeyValue(context.Background(), "LIGHTNING_members")
	require.NoError(t, err)
	_, err = kv.Get(context.Background(), "n1")
	require.True(t, errors.Is(err, errKeyNotFound()), "member entry after Close: %v", err)
}
