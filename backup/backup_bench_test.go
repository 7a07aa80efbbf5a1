package backup_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/lightningdb/lightningdb/backup"
	"github.com/lightningdb/lightningdb/engine"
	"github.com/lightningdb/lightningdb/series"
)

// benchSeries series scraped every benchStep: the data of the backup
// benchmarks.
const (
	benchSeries = 1000
	benchStep   = 10 * time.Second
)

// writeHours appends hours of samples of every series from start (a
// gauge-like random walk, as node_exporter's), one batch per scrape.
func writeHours(b *testing.B, db *engine.DB, start time.Time, hours int) int64 {
	b.Helper()
	rng := rand.New(rand.NewPCG(1, uint64(start.Unix())))
	lss := make([]series.Labels, benchSeries)
	for i := range lss {
		lss[i] = series.FromStrings("__name__", "node_cpu_seconds", "host", fmt.Sprintf("h%03d", i/10), "cpu", fmt.Sprint(i%10))
	}
	var n int64
	var batch series.Batch
	for ts := start; ts.Before(start.Add(time.Duration(hours) * time.Hour)); ts = ts.Add(benchStep) {
		batch.Reset()
		for i, ls := range lss {
			batch.AddSeries(ls, series.TypeFloat)
			batch.AppendFloat(ts.UnixNano(), float64(i)+float64(rng.IntN(1000))/100)
		}
		if _, err := db.Append(context.Background(), &batch); err != nil {
			b.Fatal(err)
		}
		n += benchSeries
	}
	return n
}

// BenchmarkBackup measures, on 6 hours of 1000 series scraped every 10 s
// (2.16 M samples) written through the engine and flushed: a full
// backup, a restore, and an incremental backup after one more hour of
// data (its size: inc_MB, inc_objects). MB/s is of the data directory's
// bytes; samples/s of the samples it holds.
//
//	go test -run '^$' -bench BenchmarkBackup -benchtime 3x -count 5 ./backup/
func BenchmarkBackup(b *testing.B) {
	dir := b.TempDir()
	db, err := engine.Open(dir, engine.Options{})
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now().Add(-8 * time.Hour).Truncate(time.Hour)
	samples := writeHours(b, db, start, 6)
	if err := db.Flush(context.Background()); err != nil {
		b.Fatal(err)
	}
	snap := filepath.Join(b.TempDir(), "snap")
	if _, err := db.Checkpoint(snap); err != nil {
		b.Fatal(err)
	}
	report := func(b *testing.B, bytes int64, d time.Duration) {
		b.ReportMetric(float64(bytes)/1e6/d.Seconds(), "MB/s")
		b.ReportMetric(float64(samples)/d.Seconds(), "samples/s")
		b.ReportMetric(0, "ns/op")
	}
	b.Run("full", func(b *testing.B) {
		var took time.Duration
		var st backup.Stats
		for i := range b.N {
			t0 := time.Now()
			st, err = backup.Create(snap, filepath.Join(b.TempDir(), fmt.Sprint(i)), backup.Options{})
			took += time.Since(t0)
			if err != nil {
				b.Fatal(err)
			}
		}
		report(b, st.Bytes, took/time.Duration(b.N))
		b.ReportMetric(float64(st.WrittenBytes)/1e6, "written_MB")
		b.ReportMetric(float64(st.Bytes)/1e6, "total_MB")
	})
	dest := filepath.Join(b.TempDir(), "dest")
	if _, err := backup.Create(snap, dest, backup.Options{Name: "base"}); err != nil {
		b.Fatal(err)
	}
	b.Run("restore", func(b *testing.B) {
		var took time.Duration
		var m *backup.Manifest
		for i := range b.N {
			t0 := time.Now()
			m, err = backup.Restore(dest, "base", filepath.Join(b.TempDir(), fmt.Sprint(i)), backup.Options{})
			took += time.Since(t0)
			if err != nil {
				b.Fatal(err)
			}
		}
		report(b, m.Bytes(), took/time.Duration(b.N))
	})
	writeHours(b, db, start.Add(6*time.Hour), 1)
	if err := db.Flush(context.Background()); err != nil {
		b.Fatal(err)
	}
	snap2 := filepath.Join(b.TempDir(), "snap2")
	if _, err := db.Checkpoint(snap2); err != nil {
		b.Fatal(err)
	}
	if err := db.Close(); err != nil {
		b.Fatal(err)
	}
	b.Run("incremental_1h", func(b *testing.B) {
		var st backup.Stats
		for i := range b.N {
			b.StopTimer()
			d := filepath.Join(b.TempDir(), fmt.Sprint(i))
			if err := os.CopyFS(d, os.DirFS(dest)); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			if st, err = backup.Create(snap2, d, backup.Options{Name: "inc"}); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(st.WrittenBytes)/1e6, "inc_MB")
		b.ReportMetric(float64(st.Written), "inc_objects")
		b.ReportMetric(float64(st.Bytes)/1e6, "total_MB")
		b.ReportMetric(float64(st.Files), "files")
	})
}
