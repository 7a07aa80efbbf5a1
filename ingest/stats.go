package ingest

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// Stats are the counters of a front end since it was created.
type Stats struct {
	Requests        int64 // write requests received
	LinesAccepted   int64 // lines whose every field was stored
	LinesRejected   int64 // lines rejected by the parser or, in part, by the appender
	SamplesAccepted int64 // samples stored
	SamplesRejected int64 // samples of rejected series
	BytesReceived   int64 // body bytes after decompression
	Overloaded      int64 // requests answered 503
	Failed          int64 // requests that stored nothing because of an error
}

// counters holds the live values behind Stats.
type counters struct {
	requests, linesAccepted, linesRejected    atomic.Int64
	samplesAccepted, samplesRejected, bytesIn atomic.Int64
	overloaded, failed                        atomic.Int64
}

func (c *counters) stats() Stats {
	return Stats{
		Requests:        c.requests.Load(),
		LinesAccepted:   c.linesAccepted.Load(),
		LinesRejected:   c.linesRejected.Load(),
		SamplesAccepted: c.samplesAccepted.Load(),
		SamplesRejected: c.samplesRejected.Load(),
		BytesReceived:   c.bytesIn.Load(),
		Overloaded:      c.overloaded.Load(),
		Failed:          c.failed.Load(),
	}
}

// register exposes the counters on reg, labelled with the protocol. The
// metrics read the same atomics as Stats, so the two never disagree.
func (c *counters) register(reg prometheus.Registerer, protocol string) error {
	if reg == nil {
		return nil
	}
	labels := prometheus.Labels{"protocol": protocol}
	metric := func(name, help string, v *atomic.Int64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: "ingest", Name: name, Help: help, ConstLabels: labels,
		}, func() float64 { return float64(v.Load()) })
	}
	for _, m := range []prometheus.Collector{
		metric("requests_total", "Write requests received.", &c.requests),
		metric("lines_accepted_total", "Lines whose every field was stored.", &c.linesAccepted),
		metric("lines_rejected_total", "Lines rejected in whole or in part.", &c.linesRejected),
		metric("samples_received_total", "Samples stored.", &c.samplesAccepted),
		metric("samples_rejected_total", "Samples of series the appender rejected.", &c.samplesRejected),
		metric("received_bytes_total", "Request body bytes after decompression.", &c.bytesIn),
		metric("overloaded_requests_total", "Write requests answered 503 because the appender was overloaded.", &c.overloaded),
		metric("failed_requests_total", "Write requests that stored nothing because of an error.", &c.failed),
	} {
		if err := reg.Register(m); err != nil {
			return err
		}
	}
	return nil
}
