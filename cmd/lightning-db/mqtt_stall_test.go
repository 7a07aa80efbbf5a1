package main

import (
	"context"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/lightningdb/lightningdb/engine"
	"github.com/lightningdb/lightningdb/ingest/mqtt"
	"github.com/lightningdb/lightningdb/internal/mosquittotest"
)

// stallFS is the engine's OS file system with an fsync that blocks while
// a gate is set: the WAL group commit cannot finish.
type stallFS struct {
	engine.OSFS
	mu      sync.Mutex
	gate    chan struct{} // mu; nil: fsync runs
	blocked chan struct{} // mu; closed when an fsync waits at gate
}

func (s *stallFS) stall() {
	s.mu.Lock()
	s.gate, s.blocked = make(chan struct{}), make(chan struct{})
	s.mu.Unlock()
}

func (s *stallFS) release() {
	s.mu.Lock()
	if s.gate != nil {
		close(s.gate)
		s.gate = nil
	}
	s.mu.Unlock()
}

func (s *stallFS) OpenFile(name string, flag int, perm os.FileMode) (engine.File, error) {
	f, err := s.OSFS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &stallFile{File: f, fs: s}, nil
}

type stallFile struct {
	engine.File
	fs *stallFS
}

func (f *stallFile) Sync() error {
	f.fs.mu.Lock()
	g := f.fs.gate
	if g != nil {
		select {
		case <-f.fs.blocked:
		default:
			close(f.fs.blocked)
		}
	}
	f.fs.mu.Unlock()
	if g != nil {
		<-g
	}
	return f.File.Sync()
}

// runSubscriber wires an Ingestor and a Subscriber over db, as the server
// does; stop ends both without acknowledging what is pending.
func runSubscriber(t *testing.T, db *engine.DB, brokerAddr string) (*mqtt.Ingestor, func()) {
	t.Helper()
	in, err := mqtt.New(db, mqtt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { in.Run(ctx); close(done) }()
	sub, err := mqtt.NewSubscriber(in, mqtt.SubscriberOptions{Name: "stall", Brokers: []string{"tcp://" + brokerAddr},
		ClientID: "ldb-stall", Rules: []mqtt.Rule{{Filter: "lp/#"}}})
	if err != nil {
		t.Fatal(err)
	}
	go sub.Run()
	waitFor(t, func() bool { return in.Stats().Connects == 1 })
	var once sync.Once
	stop := func() {
		once.Do(func() {
			sub.Close()
			cancel()
		})
	}
	t.Cleanup(func() { stop(); <-done })
	return in, stop
}

// TestMQTTNoAckBeforeCommit stalls the WAL fsync: the subscriber receives
// the QoS 1 messages but acknowledges none. Then the process "crashes"
// (the subscriber goes away unacknowledged and the unsynced WAL group is
// lost: a fresh data directory), and the broker redelivers every message
// to the restarted consumer, which stores each exactly once.
func TestMQTTNoAckBeforeCommit(t *testing.T) {
	m := mosquittotest.Start(t)
	fs := &stallFS{}
	db1, err := engine.Open(t.TempDir(), engine.Options{FS: fs})
	if err != nil {
		t.Fatal(err)
	}
	in1, stop1 := runSubscriber(t, db1, m.Addr)
	fs.stall()
	const n = 20
	publishLines(t, m.Addr, "lp/k", 0, n) // mosquitto_pub got its PUBACKs from mosquitto
	waitFor(t, func() bool { return in1.Stats().Messages == n })
	select { // the messages' commit waits for the WAL fsync: an early ack went out before
	case <-fs.blocked:
	case <-time.After(20 * time.Second):
		t.Fatal("no WAL fsync after the messages arrived")
	}
	if st := in1.Stats(); st.Acked != 0 || st.Samples != 0 {
		t.Fatalf("acknowledged %d messages (%d samples) while the WAL fsync stalled", st.Acked, st.Samples)
	}
	stop1()
	t.Cleanup(func() { fs.release(); db1.Close() })

	db2, err := engine.Open(t.TempDir(), engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	in2, _ := runSubscriber(t, db2, m.Addr)
	waitFor(t, func() bool { return in2.Stats().Acked == n })
	if st := in2.Stats(); st.Samples != n || st.Messages != n {
		t.Fatalf("after redelivery: %+v, want %d messages and samples", st, n)
	}
	if got := db2.Stats().Series; got != 1 {
		t.Fatalf("%d series, want 1", got)
	}
}
