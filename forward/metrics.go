package forward

import "github.com/prometheus/client_golang/prometheus"

// metrics of a Forwarder, registered as forward_* (cmd prefixes
// lightningdb_).
type metrics struct {
	lagBytes   prometheus.Gauge
	lagSeconds prometheus.Gauge
	cursorSeq  prometheus.Gauge
	samples    prometheus.Counter
	requests   *prometheus.CounterVec
	retries    prometheus.Counter
	dropped    prometheus.Counter
	gaps       prometheus.Counter
	skipped    *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		lagBytes: prometheus.NewGauge(prometheus.GaugeOpts{Name: "forward_lag_bytes",
			Help: "WAL bytes not yet acknowledged by the central server."}),
		lagSeconds: prometheus.NewGauge(prometheus.GaugeOpts{Name: "forward_lag_seconds",
			Help: "Age of the oldest write not yet acknowledged by the central server, about (0 when caught up)."}),
		cursorSeq: prometheus.NewGauge(prometheus.GaugeOpts{Name: "forward_cursor_segment",
			Help: "WAL segment of the saved forwarding cursor."}),
		samples: prometheus.NewCounter(prometheus.CounterOpts{Name: "forward_samples_total",
			Help: "Samples acknowledged by the central server."}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "forward_requests_total",
			Help: "Requests to the central server by answer: 2xx, the HTTP code, or error (no answer)."}, []string{"code"}),
		retries: prometheus.NewCounter(prometheus.CounterOpts{Name: "forward_retries_total",
			Help: "Batches sent again after a failure (5xx, 429, no answer)."}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{Name: "forward_dropped_bytes_total",
			Help: "WAL bytes given up unforwarded because the WAL held passed forward.max_wal_bytes."}),
		gaps: prometheus.NewCounter(prometheus.CounterOpts{Name: "forward_wal_gaps_total",
			Help: "WAL segments or records lost to the forwarder (deleted by a repair, damaged)."}),
		skipped: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "forward_skipped_samples_total",
			Help: "Samples not forwarded: rejected (4xx), string (no remote write type), unknown_series (deleted)."}, []string{"reason"}),
	}
	if reg != nil {
		reg.MustRegister(m.lagBytes, m.lagSeconds, m.cursorSeq, m.samples, m.requests, m.retries, m.dropped, m.gaps, m.skipped)
	}
	return m
}
