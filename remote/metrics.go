package remote

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// Stats are the counters of a Handler since it was created.
type Stats struct {
	WriteRequests      int64 // remote write requests received
	SamplesAccepted    int64 // samples stored
	SamplesRejected    int64 // samples left out (by the decoder or the appender)
	HistogramsRejected int64 // native histogram samples refused
	ExemplarsAccepted  int64 // exemplars accepted (not stored)
	MetadataAccepted   int64 // metadata entries kept
	BytesReceived      int64 // body bytes after snappy decoding
	Overloaded         int64 // write requests answered 503
	Failed             int64 // write requests that stored nothing because of an error
	ReadRequests       int64 // remote read requests
	ReadSeries         int64 // series returned by remote read
	ReadSamples        int64 // samples returned by remote read
	ReadRejected       int64 // remote reads refused for a limit
	ReadBusy           int64 // remote reads answered 503: no slot free within ReadQueueTimeout
	ReadCut            int64 // remote read answers cut: the client did not read within ReadWriteTimeout
	ReadOverloaded     int64 // remote reads answered 503: their body or SAMPLES answer did not fit in Budget
	ReadAnswerBytes    int64 // bytes held now by SAMPLES answers being built or sent (a gauge)
}

type counters struct {
	writeRequests, samplesAccepted, samplesRejected, histogramsRejected atomic.Int64
	exemplars, metadata, bytesIn, overloaded, failed                    atomic.Int64
	readRequests, readSeries, readSamples, readRejected                 atomic.Int64
	readBusy, readCut, readOverloaded, answerBytes                      atomic.Int64
}

func (c *counters) stats() Stats {
	return Stats{
		WriteRequests: c.writeRequests.Load(), SamplesAccepted: c.samplesAccepted.Load(),
		SamplesRejected: c.samplesRejected.Load(), HistogramsRejected: c.histogramsRejected.Load(),
		ExemplarsAccepted: c.exemplars.Load(), MetadataAccepted: c.metadata.Load(),
		BytesReceived: c.bytesIn.Load(), Overloaded: c.overloaded.Load(), Failed: c.failed.Load(),
		ReadRequests: c.readRequests.Load(), ReadSeries: c.readSeries.Load(),
		ReadSamples: c.readSamples.Load(), ReadRejected: c.readRejected.Load(),
		ReadBusy: c.readBusy.Load(), ReadCut: c.readCut.Load(),
		ReadOverloaded: c.readOverloaded.Load(), ReadAnswerBytes: c.answerBytes.Load(),
	}
}

// register exposes the counters on reg. The ingest_* names and help texts
// are those of package ingest (protocol="influx"), here with
// protocol="prometheus", so the registry sees one metric family per name.
func (c *counters) register(reg prometheus.Registerer) error {
	if reg == nil {
		return nil
	}
	prom := prometheus.Labels{"protocol": "prometheus"}
	metric := func(ns, name, help string, labels prometheus.Labels, v *atomic.Int64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: ns, Name: name, Help: help, ConstLabels: labels,
		}, func() float64 { return float64(v.Load()) })
	}
	for _, m := range []prometheus.Collector{
		metric("ingest", "requests_total", "Write requests received.", prom, &c.writeRequests),
		metric("ingest", "samples_received_total", "Samples stored.", prom, &c.samplesAccepted),
		metric("ingest", "samples_rejected_total", "Samples of series the appender rejected.", prom, &c.samplesRejected),
		metric("ingest", "received_bytes_total", "Request body bytes after decompression.", prom, &c.bytesIn),
		metric("ingest", "overloaded_requests_total", "Write requests answered 503 because the appender was overloaded.", prom, &c.overloaded),
		metric("ingest", "failed_requests_total", "Write requests that stored nothing because of an error.", prom, &c.failed),
		metric("remote", "write_histograms_rejected_total", "Native histogram samples refused by remote write.", nil, &c.histogramsRejected),
		metric("remote", "write_exemplars_accepted_total", "Exemplars accepted by remote write (not stored).", nil, &c.exemplars),
		metric("remote", "write_metadata_accepted_total", "Metadata entries kept from remote write.", nil, &c.metadata),
		metric("remote", "read_requests_total", "Remote read requests.", nil, &c.readRequests),
		metric("remote", "read_series_total", "Series returned by remote read.", nil, &c.readSeries),
		metric("remote", "read_samples_total", "Samples returned by remote read.", nil, &c.readSamples),
		metric("remote", "read_rejected_requests_total", "Remote read requests refused for a limit.", nil, &c.readRejected),
		metric("remote", "read_busy_requests_total", "Remote read requests answered 503: no slot free within read_queue_timeout.", nil, &c.readBusy),
		metric("remote", "read_cut_answers_total", "Remote read answers cut or not sent: the client did not read them within read_write_timeout.", nil, &c.readCut),
		metric("remote", "read_overloaded_requests_total", "Remote read requests answered 503: their request body or SAMPLES answer did not fit in http.max_inflight_body_bytes beside the requests in progress.", nil, &c.readOverloaded),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "remote", Name: "read_answer_bytes",
			Help: "Bytes held by SAMPLES remote-read answers being built or sent (part of http_inflight_body_bytes)."},
			func() float64 { return float64(c.answerBytes.Load()) }),
	} {
		if err := reg.Register(m); err != nil {
			return err
		}
	}
	return nil
}
