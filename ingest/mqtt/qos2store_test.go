package mqtt

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestQoS2StorePersists(t *testing.T) {
	dir := t.TempDir()
	s, err := openQoS2Store(dir, 10, 100)
	require.NoError(t, err)
	require.NoError(t, s.put("dev1", 7, 1000))
	require.NoError(t, s.put("dev1", 8, 2000))
	require.NoError(t, s.put("dev2", 7, 3000))
	s.del("dev1", 8)
	require.NoError(t, s.put("dev3", 1, 4000))
	s.dropClient("dev3")
	// No close: what a SIGKILL leaves (deletions are written, not synced).
	s2, err := openQoS2Store(dir, 10, 100)
	require.NoError(t, err)
	defer s2.close()
	ts, ok := s2.lookup("dev1", 7)
	require.True(t, ok)
	require.EqualValues(t, 1000, ts)
	_, ok = s2.lookup("dev1", 8)
	require.False(t, ok, "a released record came back")
	ts, ok = s2.lookup("dev2", 7)
	require.True(t, ok)
	require.EqualValues(t, 3000, ts)
	_, ok = s2.lookup("dev3", 1)
	require.False(t, ok, "a dropped client's record came back")
	require.Equal(t, 2, s2.len())
	require.NoError(t, s.close())
}

// TestQoS2StoreTornTail: a file cut anywhere in its last frame (a crash
// in the middle of a write) opens with the frames before it.
func TestQoS2StoreTornTail(t *testing.T) {
	dir := t.TempDir()
	s, err := openQoS2Store(dir, 10, 100)
	require.NoError(t, err)
	require.NoError(t, s.put("dev1", 1, 10))
	require.NoError(t, s.put("dev1", 2, 20))
	require.NoError(t, s.close())
	path := filepath.Join(dir, qos2FileName)
	full, err := os.ReadFile(path)
	require.NoError(t, err)
	last := len(appendQoS2Frame(nil, qos2Record{op: qos2Put, client: "dev1", pid: 2, ts: 20}))
	for cut := 1; cut <= last; cut++ {
		require.NoError(t, os.WriteFile(path, full[:len(full)-cut], 0o600))
		s, err := openQoS2Store(dir, 10, 100)
		require.NoError(t, err)
		_, ok1 := s.lookup("dev1", 1)
		_, ok2 := s.lookup("dev1", 2)
		require.True(t, ok1, "cut %d", cut)
		require.False(t, ok2, "cut %d", cut)
		require.NoError(t, s.close())
	}
	// A flipped byte in the body fails the checksum: that frame and the
	// rest are dropped.
	bad := append([]byte(nil), full...)
	bad[qos2FrameHeader+2] ^= 0xff
	require.NoError(t, os.WriteFile(path, bad, 0o600))
	s, err = openQoS2Store(dir, 10, 100)
	require.NoError(t, err)
	require.Zero(t, s.len())
	require.NoError(t, s.close())
}

// TestQoS2StoreQuotas: a client keeps at most maxPerClient records and the
// store maxTotal; the oldest go first, and the bounds hold after a reopen.
func TestQoS2StoreQuotas(t *testing.T) {
	dir := t.TempDir()
	s, err := openQoS2Store(dir, 3, 5)
	require.NoError(t, err)
	for pid := range uint16(10) {
		require.NoError(t, s.put("a", pid+1, int64(pid)))
	}
	require.Equal(t, 3, s.len())
	for _, pid := range []uint16{8, 9, 10} {
		_, ok := s.lookup("a", pid)
		require.True(t, ok, "pid %d", pid)
	}
	for i := range 4 {
		require.NoError(t, s.put(fmt.Sprintf("c%d", i), 1, 0))
	}
	require.Equal(t, 5, s.len())
	_, ok := s.lookup("a", 8)
	require.False(t, ok, "the oldest record stays over the total quota")
	require.NoError(t, s.close())
	s, err = openQoS2Store(dir, 3, 5)
	require.NoError(t, err)
	require.Equal(t, 5, s.len())
	require.NoError(t, s.close())
}

// TestQoS2StoreCompacts: a stream of put/del pairs does not grow the file
// without bound.
func TestQoS2StoreCompacts(t *testing.T) {
	dir := t.TempDir()
	s, err := openQoS2Store(dir, 100, 1000)
	require.NoError(t, err)
	id := string(make([]byte, 4000))
	for i := range 700 {
		pid := uint16(i%100 + 1)
		require.NoError(t, s.put(id, pid, int64(i)))
		s.del(id, pid)
	}
	require.NoError(t, s.put(id, 1, 42))
	require.NoError(t, s.close())
	fi, err := os.Stat(filepath.Join(dir, qos2FileName))
	require.NoError(t, err)
	require.Less(t, fi.Size(), int64(2*compactMinBytes), "the file was not compacted")
	s, err = openQoS2Store(dir, 100, 1000)
	require.NoError(t, err)
	defer s.close()
	require.Equal(t, 1, s.len())
	ts, _ := s.lookup(id, 1)
	require.EqualValues(t, 42, ts)
}

// TestQoS2StoreGroupCommit: concurrent puts all return fsynced and share
// fsyncs.
func TestQoS2StoreGroupCommit(t *testing.T) {
	s, err := openQoS2Store(t.TempDir(), 1000, 100_000)
	require.NoError(t, err)
	defer s.close()
	errs := make(chan error, 64)
	start := time.Now()
	for c := range 64 {
		go func() {
			var err error
			for pid := range uint16(50) {
				if err = s.put(fmt.Sprint("c", c), pid+1, 1); err != nil {
					break
				}
			}
			errs <- err
		}()
	}
	for range 64 {
		require.NoError(t, <-errs)
	}
	require.Equal(t, 64*50, s.len())
	t.Logf("64 x 50 puts in %v", time.Since(start))
}

// FuzzQoS2Frame: any bytes decode without a panic, and a record that
// decodes encodes back to the same bytes.
func FuzzQoS2Frame(f *testing.F) {
	f.Add(appendQoS2Frame(nil, qos2Record{op: qos2Put, client: "dev", pid: 7, ts: 1}))
	f.Add(appendQoS2Frame(nil, qos2Record{op: qos2Del, client: "", pid: 65535}))
	f.Add(appendQoS2Frame(nil, qos2Record{op: qos2Drop, client: "x"}))
	f.Add([]byte{0, 0, 0, 1, 0, 0, 0, 0, 9})
	f.Fuzz(func(t *testing.T, data []byte) {
		for len(data) > 0 {
			r, rest, err := unmarshalQoS2Frame(data)
			if err != nil {
				require.ErrorIs(t, err, errQoS2Record)
				return
			}
			require.Less(t, len(rest), len(data), "no progress")
			require.Equal(t, data[:len(data)-len(rest)], appendQoS2Frame(nil, r))
			data = rest
		}
	})
}
