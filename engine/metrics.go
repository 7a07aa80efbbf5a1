package engine

import (
	"fmt"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the engine's counters. They are plain atomics so Stats can
// read them without a registry; the registerer given in Options exports them.
type metrics struct {
	walBytes      atomicFloat
	fsyncs        atomicCounter
	groups        atomicCounter
	batches       atomicCounter
	samples       atomicCounter
	rejected      atomicCounter
	overloaded    atomicCounter
	replaySamples atomicCounter
	replayDropped atomicCounter // WAL samples out of series.MinTime..MaxTime, dropped
	tooLarge      atomicCounter
	rejectedBy    [nRejectReasons]atomicCounter
	flushFailures atomicCounter
	quarantined   atomicCounter // segments moved to the quarantine directory
	damagedBlocks atomicCounter // blocks a salvage could not keep
	inQuarantine  atomic.Int64  // segment files in the quarantine directory, counted at open

	flushes             atomicCounter
	flushedSamples      atomicCounter
	flushedBytes        atomicCounter
	compactions         atomicCounter
	compactedSamples    atomicCounter
	compactedBytes      atomicCounter
	droppedSegments     atomicCounter
	retentionRuns       atomicCounter
	retentionPartitions atomicCounter
	retentionSeries     atomicCounter // series dropped, counted once per partition
	retentionSamples    atomicCounter
	retentionBytes      atomicCounter
	retentionRewrites   atomicCounter
	deletes             atomicCounter // DB.Delete calls that made a tombstone
	tombstonesCleaned   atomicCounter // tombstones dropped once applied everywhere
	seriesRemoved       atomicCounter // series forgotten with no sample left (lifecycle.go)
	fsyncDuration       prometheus.Histogram
	groupBatches        prometheus.Histogram

	reg        prometheus.Registerer  // nil: nothing registered
	registered []prometheus.Collector // unregistered by Close
}

type atomicCounter struct{ v atomic.Uint64 }

func (c *atomicCounter) Inc()         { c.v.Add(1) }
func (c *atomicCounter) Add(n uint64) { c.v.Add(n) }
func (c *atomicCounter) Load() uint64 { return c.v.Load() }
func (c *atomicCounter) get() float64 { return float64(c.v.Load()) }

type atomicFloat struct{ v atomic.Uint64 }

func (c *atomicFloat) Add(n float64) { c.v.Add(uint64(n)) }
func (c *atomicFloat) get() float64  { return float64(c.v.Load()) }

// newMetrics registers the engine's metrics with reg (nil: none). A
// registerer that already holds them (another open engine) is an error, not
// a panic; unregister undoes it, so a closed engine's registerer can serve
// the next Open.
func newMetrics(reg prometheus.Registerer, db *DB) (*metrics, error) {
	m := &metrics{
		fsyncDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "engine_wal_fsync_duration_seconds",
			Help:    "Duration of WAL fsync calls.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
		}),
		groupBatches: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "engine_wal_group_batches",
			Help:    "Number of appended batches committed by one WAL group (one fsync).",
			Buckets: prometheus.ExponentialBuckets(1, 2, 12),
		}),
	}
	if reg == nil {
		return m, nil
	}
	counter := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, f)
	}
	gauge := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f)
	}
	cs := []prometheus.Collector{
		m.fsyncDuration, m.groupBatches,
		counter("engine_wal_written_bytes_total", "Bytes written to the WAL.", m.walBytes.get),
		counter("engine_wal_fsyncs_total", "WAL fsync calls.", m.fsyncs.get),
		counter("engine_wal_groups_total", "WAL group commits.", m.groups.get),
		counter("engine_appended_batches_total", "Batches appended durably.", m.batches.get),
		counter("engine_appended_samples_total", "Samples appended durably.", m.samples.get),
		counter("engine_rejected_series_total", "Batch series rejected (type conflict, invalid labels, limits).", m.rejected.get),
		counter("engine_overloaded_total", "Appends refused because the memtable was over budget.", m.overloaded.get),
		gauge("engine_memtable_bytes", "Bytes held by the memtable.", func() float64 { return float64(db.active().bytes.Load() + db.immBytes.Load()) }),
		counter("engine_flushes_total", "Memtable flushes.", m.flushes.get),
		counter("engine_flushed_samples_total", "Samples written by flushes.", m.flushedSamples.get),
		counter("engine_flushed_bytes_total", "Segment bytes written by flushes.", m.flushedBytes.get),
		counter("engine_compactions_total", "Compactions.", m.compactions.get),
		counter("engine_compacted_samples_total", "Samples written by compactions.", m.compactedSamples.get),
		counter("engine_compacted_bytes_total", "Segment bytes read by compactions.", m.compactedBytes.get),
		counter("engine_retention_dropped_segments_total", "Segments dropped by retention.", m.droppedSegments.get),
		gauge("engine_series", "Series in the registry.", func() float64 { return float64(db.reg.Len()) }),
		gauge("engine_segments", "Live segments (immutable data files) of every partition.",
			func() float64 { n, _ := db.segmentUsage(); return float64(n) }),
		gauge("engine_segment_bytes", "Bytes of the live segments: the stored samples on disk, without the WAL and the tag index.",
			func() float64 { _, b := db.segmentUsage(); return float64(b) }),
		counter("retention_runs_total", "Retention enforcement runs.", m.retentionRuns.get),
		counter("retention_dropped_partitions_total", "Partitions dropped whole by retention.", m.retentionPartitions.get),
		counter("retention_dropped_series_total", "Series removed by retention, counted once per partition they were removed from.", m.retentionSeries.get),
		counter("retention_dropped_samples_total", "Samples removed by retention (whole partitions and rewrites).", m.retentionSamples.get),
		counter("retention_dropped_bytes_total", "Segment bytes removed by retention (whole partitions and rewrites).", m.retentionBytes.get),
		counter("retention_rewrites_total", "Partitions rewritten by compaction without their expired series.", m.retentionRewrites.get),
	}
	for r, name := range rejectReasonNames {
		cs = append(cs, prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "engine_rejected_series_by_reason_total", Help: "Batch series rejected, by reason.",
			ConstLabels: prometheus.Labels{"reason": name}}, m.rejectedBy[r].get))
	}
	cs = append(cs,
		counter("engine_requests_too_large_total", "Appends refused because the batch alone is over the memtable budget.", m.tooLarge.get),
		counter("engine_wal_dropped_samples_total", "WAL samples dropped by recovery because their timestamp is out of range.", m.replayDropped.get),
		counter("engine_flush_failures_total", "Background flushes that failed (retried with backoff).", m.flushFailures.get),
		counter("engine_segments_quarantined_total", "Damaged segments moved to the quarantine directory (by recovery, or copied there by a salvage of damaged blocks).", m.quarantined.get),
		counter("engine_damaged_blocks_total", "Damaged segment blocks a salvage could not keep (their samples are lost).", m.damagedBlocks.get),
		counter("engine_deletes_total", "Deletions (delete_series, InfluxQL DROP/DELETE) made durable as tombstones.", m.deletes.get),
		counter("engine_tombstones_cleaned_total", "Tombstones dropped once compaction had applied them everywhere.", m.tombstonesCleaned.get),
		gauge("engine_tombstones", "Tombstones in force (deleted samples that compaction has not yet removed from every segment).",
			func() float64 { return float64(db.Tombstones()) }),
		counter("engine_series_removed_total", "Series removed from the registry, tag index and memtable because no sample of theirs was left.", m.seriesRemoved.get),
		gauge("engine_quarantined_segments", "Segment files in the quarantine directory (damaged, not served), counted at open.",
			func() float64 { return float64(m.inQuarantine.Load()) }),
	)
	m.reg = reg
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			m.unregister()
			return nil, fmt.Errorf("register engine metrics (is another engine open with this registerer?): %w", err)
		}
		m.registered = append(m.registered, c)
	}
	return m, nil
}

// unregister removes what newMetrics registered.
func (m *metrics) unregister() {
	for _, c := range m.registered {
		m.reg.Unregister(c)
	}
	m.registered = nil
}
