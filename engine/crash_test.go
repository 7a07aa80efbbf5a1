package engine

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/lightningdb/lightningdb/series"
	"github.com/lightningdb/lightningdb/tagindex"
)

var crashRounds = flag.Int("crash.rounds", 20, "SIGKILL rounds of TestCrashKill9")

const (
	crashChildEnv   = "LIGHTNINGDB_CRASH_CHILD_DIR"
	crashRoundEnv   = "LIGHTNINGDB_CRASH_ROUND"
	crashLSMEnv     = "LIGHTNINGDB_CRASH_LSM"
	crashWorkers    = 4
	crashSeriesPerB = 10
)

// crashSample is the deterministic content of series j of batch k of worker
// w in a round: the test knows what every acknowledged batch must hold.
func crashSample(w, j int, k int64) (series.Labels, series.ValueType, int64, uint64, []byte) {
	ls := labels("crash", "w", strconv.Itoa(w), "j", strconv.Itoa(j))
	typ := series.ValueType(1 + j%5)
	ts := k * 1000
	if k%7 == 3 {
		ts -= 500 // some samples out of order
	}
	switch typ {
	case series.TypeFloat:
		return ls, typ, ts, math.Float64bits(float64(k) + float64(w)/10), nil
	case series.TypeInt:
		return ls, typ, ts, uint64(-k * int64(w+1)), nil
	case series.TypeUint:
		return ls, typ, ts, uint64(k) * 13, nil
	case series.TypeBool:
		return ls, typ, ts, uint64(k % 2), nil
	}
	return ls, typ, ts, 0, []byte(fmt.Sprintf("v%d-%d", w, k))
}

// crashChild runs in a child process: it appends forever from several
// goroutines and prints "ack w k" after each acknowledged batch.
func crashChild() {
	dir := os.Getenv(crashChildEnv)
	round, _ := strconv.ParseInt(os.Getenv(crashRoundEnv), 10, 64)
	opts := Options{WALSegmentSize: 1 << 16} // small: rotate often
	if os.Getenv(crashLSMEnv) != "" {
		opts = crashLSMOptions()
	}
	db, err := Open(dir, opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, "child open:", err)
		os.Exit(3)
	}
	var mu sync.Mutex
	out := bufio.NewWriter(os.Stdout)
	var wg sync.WaitGroup
	for w := range crashWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var b series.Batch
			for k := round * 1_000_000; ; k++ {
				b.Reset()
				for j := range crashSeriesPerB {
					ls, typ, ts, raw, str := crashSample(w, j, k)
					b.AddSeries(ls, typ)
					if typ == series.TypeString {
						b.AppendString(ts, str)
					} else {
						b.AppendRaw(ts, raw)
					}
				}
				if _, err := db.Append(context.Background(), &b); err != nil {
					fmt.Fprintln(os.Stderr, "child append:", err)
					os.Exit(4)
				}
				mu.Lock()
				fmt.Fprintf(out, "ack %d %d\n", w, k)
				out.Flush()
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
}

// crashLSMOptions make flushes and compactions happen constantly: a 32 KiB
// memtable flushes every few hundred batches, and every flush into the
// (past) partition triggers a compaction of it.
func crashLSMOptions() Options {
	return Options{WALSegmentSize: 1 << 16, MemtableFlushBytes: 32 << 10, CompactionFanIn: 2, BlockSamples: 64}
}

func TestCrashKill9(t *testing.T) {
	runCrash(t, *crashRounds, false)
}

// TestCrashKill9DuringFlushAndCompaction kills the child while it flushes
// and compacts: every acknowledged sample survives, and no orphan or half
// segment is ever read (open removes them; Verify finds no damage).
func TestCrashKill9DuringFlushAndCompaction(t *testing.T) {
	runCrash(t, *crashRounds*3/4, true)
}

func runCrash(t *testing.T, rounds int, lsm bool) {
	if testing.Short() {
		t.Skip("crash test starts child processes")
	}
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(1, uint64(time.Now().UnixNano())))
	acked := map[[2]int64]bool{}
	for round := range rounds {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), crashChildEnv+"="+dir, crashRoundEnv+"="+strconv.Itoa(round))
		if lsm {
			cmd.Env = append(cmd.Env, crashLSMEnv+"=1")
		}
		stdout, err := cmd.StdoutPipe()
		must(t, err)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		must(t, cmd.Start())
		done := make(chan int)
		go func() {
			n := 0
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				var w, k int64
				if _, err := fmt.Sscanf(sc.Text(), "ack %d %d", &w, &k); err == nil {
					acked[[2]int64{w, k}] = true
					n++
				}
			}
			done <- n
		}()
		time.Sleep(time.Duration(30+rng.IntN(250)) * time.Millisecond)
		must(t, cmd.Process.Signal(syscall.SIGKILL))
		n := <-done
		_ = cmd.Wait()
		// The child must have died of the SIGKILL: one that panicked or
		// exited on its own (open or append failed) is a failure, whatever
		// it printed.
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
			t.Fatalf("round %d: child was not killed but ended with %v: %s", round, cmd.ProcessState, stderr.String())
		}
		if lsm {
			// Verify before Open: the directory as the crash left it, with
			// possible orphans, must hold no damage among its live segments.
			rep, err := Verify(dir)
			must(t, err)
			if len(rep.Damage) > 0 {
				t.Fatalf("round %d: live segment damaged: %v", round, rep.Damage[0])
			}
		}
		verifyCrashRound(t, dir, acked)
		if lsm {
			checkNoOrphans(t, dir)
		}
		t.Logf("round %d: %d batches acknowledged, all present", round, n)
	}
	if lsm {
		m, err := readManifest(OSFS{}, dir)
		must(t, err)
		compacted := 0
		for _, s := range m.segs {
			if s.level > 0 {
				compacted++
			}
		}
		t.Logf("%d live segments at the end, %d of them compaction outputs", len(m.segs), compacted)
		if len(m.segs) == 0 {
			t.Fatal("no segment was ever written")
		}
	}
	if len(acked) == 0 {
		t.Fatal("no batch was ever acknowledged")
	}
}

// verifyCrashRound opens the database and checks that every acknowledged
// batch is present with its values, and that every sample present (acked
// or not) holds exactly what was written.
func verifyCrashRound(t *testing.T, dir string, acked map[[2]int64]bool) {
	t.Helper()
	db := mustOpen(t, dir, Options{DisableCompaction: true})
	defer func() { must(t, db.Close()) }()
	it := &Iterator{}
	for w := range crashWorkers {
		for j := range crashSeriesPerB {
			ls, _, _, _, _ := crashSample(w, j, 0)
			present := map[int64]string{}
			if id, ok := db.Lookup(ls); ok {
				it = db.Select(id, math.MinInt64, math.MaxInt64, it)
				for it.Next() {
					present[it.ts[it.i]] = fmtSample(it)
				}
			}
			for key := range acked {
				if key[0] != int64(w) {
					continue
				}
				_, typ, ts, raw, str := crashSample(w, j, key[1])
				want := fmt.Sprintf("%d=%s:%d", ts, typ, raw)
				if typ == series.TypeString {
					want = fmt.Sprintf("%d=%q", ts, str)
				}
				if got := present[ts]; got != want {
					t.Fatalf("acknowledged batch w=%d k=%d series j=%d: got %q want %q", w, key[1], j, got, want)
				}
			}
			if len(present) > 0 {
				checkIndexed(t, db, ls)
			}
			for ts, got := range present {
				k := (ts + 999) / 1000
				_, typ, wts, raw, str := crashSample(w, j, k)
				want := fmt.Sprintf("%d=%s:%d", wts, typ, raw)
				if typ == series.TypeString {
					want = fmt.Sprintf("%d=%q", wts, str)
				}
				if got != want {
					t.Fatalf("unacknowledged sample is corrupt: series w=%d j=%d got %q want %q", w, j, got, want)
				}
			}
		}
	}
}

// checkIndexed checks that the tag index, as recovered after the crash
// (from its partition files, rebuilt, or replayed from the WAL), finds the
// series by its labels, and finds nothing else for them.
func checkIndexed(t *testing.T, db *DB, ls series.Labels) {
	t.Helper()
	id, ok := db.Lookup(ls)
	if !ok {
		t.Fatalf("series %s has samples but no ID", ls)
	}
	var ms []*tagindex.Matcher
	for _, l := range ls {
		ms = append(ms, tagindex.MustNewMatcher(tagindex.MatchEqual, l.Name, l.Value))
	}
	ids, err := db.Index().Postings(math.MinInt64, math.MaxInt64, ms...)
	if err != nil {
		t.Fatalf("postings for %s: %v", ls, err)
	}
	if ids.GetCardinality() != 1 || !ids.Contains(id) {
		t.Fatalf("tag index after crash: %s resolves to %v, want [%d]", ls, ids.ToArray(), id)
	}
}

// checkNoOrphans checks that the segments directory holds exactly the
// manifest's segments.
func checkNoOrphans(t *testing.T, dir string) {
	t.Helper()
	m, err := readManifest(OSFS{}, dir)
	must(t, err)
	want := map[string]bool{}
	for _, s := range m.segs {
		want[filepath.Base(segName(dir, s.fileNum))] = true
	}
	names, err := OSFS{}.ReadDir(filepath.Join(dir, segDir))
	must(t, err)
	for _, n := range names {
		if !want[n] {
			t.Fatalf("orphan segment file %s after a clean close", n)
		}
	}
	if len(names) != len(want) {
		t.Fatalf("%d segment files, manifest lists %d", len(names), len(want))
	}
}
