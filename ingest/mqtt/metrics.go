package mqtt

import (
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the Prometheus series of all MQTT sources. source is
// "broker" for the embedded broker or the subscription's name; filter is
// the rule's topic filter (both bounded by the configuration).
type metrics struct {
	messages                    *prometheus.CounterVec   // source, filter
	samples                     *prometheus.CounterVec   // source, filter
	parseErrors                 *prometheus.CounterVec   // source, filter, reason
	failed                      *prometheus.CounterVec   // source, reason: messages not stored (overloaded, error)
	ackLatency                  *prometheus.HistogramVec // source, qos
	deadLetters                 *prometheus.CounterVec   // source
	connects                    *prometheus.CounterVec   // source: subscriber connections made
	connected                   *prometheus.GaugeVec     // source
	rejected                    *prometheus.CounterVec   // reason: the broker's limits
	retainedMsgs, retainedBytes prometheus.Gauge
	subscriberBytes             prometheus.Gauge
	spSeqGaps, spStaleDeaths    *prometheus.CounterVec // source
	spSkipped                   *prometheus.CounterVec // source, reason
	presenceDropped             prometheus.Counter     // presence events not stored
	qos2Duplicates              prometheus.Counter     // QoS 2 DUP messages stored again at their recorded time
	// clients reports the embedded broker's clients (connected ones, and
	// all it holds: connected and kept sessions); nil without a broker.
	clients atomic.Pointer[func() (connected, held int64)]
}

// clientCounts is clients' answer, zero without a broker.
func (m *metrics) clientCounts() (connected, held int64) {
	if f := m.clients.Load(); f != nil {
		return (*f)()
	}
	return 0, 0
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mqtt_messages_received_total", Help: "MQTT messages received, by source and topic filter.",
		}, []string{"source", "filter"}),
		samples: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mqtt_samples_stored_total", Help: "Samples from MQTT messages durably stored.",
		}, []string{"source", "filter"}),
		parseErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mqtt_parse_errors_total", Help: "MQTT messages with a payload (or part of one) that could not be mapped to samples, by reason.",
		}, []string{"source", "filter", "reason"}),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mqtt_messages_failed_total", Help: "MQTT messages not stored because storage failed or was overloaded (not acknowledged).",
		}, []string{"source", "reason"}),
		ackLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "mqtt_ack_latency_seconds", Help: "Time from receiving an MQTT message to acknowledging it after its durable commit.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}, []string{"source", "qos"}),
		deadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mqtt_dead_letters_total", Help: "Unparseable MQTT messages republished to the dead-letter topic.",
		}, []string{"source"}),
		connects: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mqtt_subscriber_connects_total", Help: "Successful connections of an MQTT subscription to its broker.",
		}, []string{"source"}),
		connected: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "mqtt_subscriber_connected", Help: "1 while an MQTT subscription is connected to its broker.",
		}, []string{"source"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mqtt_rejected_total", Help: "What the embedded broker refused for a limit: packets over the maximum packet size (the connection is closed), retained messages not retained (count or bytes), clients over the receive maximum, message copies for subscribers over max_subscriber_bytes and subscribers evicted for it.",
		}, []string{"reason"}),
		retainedMsgs: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "mqtt_retained_messages", Help: "Retained messages the embedded broker holds.",
		}),
		retainedBytes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "mqtt_retained_bytes", Help: "Bytes of the topics and payloads of the retained messages the embedded broker holds.",
		}),
		subscriberBytes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "mqtt_subscriber_bytes", Help: "Bytes of the message copies the embedded broker holds for subscribers (in flight and queued, every session), bounded by max_subscriber_bytes.",
		}),
		spSeqGaps: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mqtt_sparkplug_seq_gaps_total", Help: "Sparkplug B messages whose seq was not the next of their edge node (messages lost in between).",
		}, []string{"source"}),
		spStaleDeaths: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mqtt_sparkplug_stale_deaths_total", Help: "Sparkplug B NDEATHs ignored because their bdSeq is not that of the edge node's last NBIRTH.",
		}, []string{"source"}),
		spSkipped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mqtt_sparkplug_metrics_skipped_total", Help: "Sparkplug B metrics not stored, by reason (unknown alias, unsupported type, null, transient, bad value).",
		}, []string{"source", "reason"}),
		qos2Duplicates: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mqtt_qos2_duplicates_total", Help: "QoS 2 messages resent with DUP that the broker had stored before (perhaps before a restart): stored again at their first timestamp, so once.",
		}),
		presenceDropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "mqtt_presence_events_dropped_total", Help: "Client connects and disconnects not stored as presence samples (queue full or storage failing).",
		}),
	}
	if reg == nil {
		return m, nil
	}
	connected := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "mqtt_clients_connected", Help: "Clients connected to the embedded broker.",
	}, func() float64 { c, _ := m.clientCounts(); return float64(c) })
	held := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "mqtt_clients", Help: "Clients the embedded broker holds: connected ones and the kept sessions of clients that left; bounded by max_clients.",
	}, func() float64 { _, h := m.clientCounts(); return float64(h) })
	for _, c := range []prometheus.Collector{m.messages, m.samples, m.parseErrors, m.failed, m.ackLatency, m.deadLetters,
		m.connects, m.connected, m.rejected, m.retainedMsgs, m.retainedBytes, m.subscriberBytes,
		m.spSeqGaps, m.spStaleDeaths, m.spSkipped, m.presenceDropped, m.qos2Duplicates, connected, held} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// limitHit counts one refusal for a limit.
func (in *Ingestor) limitHit(reason string) {
	in.cnt.limited.Add(1)
	in.m.rejected.WithLabelValues(reason).Inc()
}

// Stats are the totals over every MQTT source since the Ingestor was
// created.
type Stats struct {
	Messages    int64 // messages received
	Samples     int64 // samples stored
	ParseErrors int64 // messages with a parse or mapping error (acknowledged)
	Rejected    int64 // samples refused by storage (type conflict, limits)
	Failed      int64 // messages not stored: overload or storage error (not acknowledged)
	Acked       int64 // QoS 1/2 messages acknowledged after commit
	DeadLetters int64 // messages republished to a dead-letter topic
	Connects    int64 // subscriber connections made
	Limited     int64 // refusals for a broker limit (packet size, retained, receive maximum)
	// QoS2Duplicates counts QoS 2 messages resent with DUP that the
	// broker had a record of: stored again at their first timestamp.
	QoS2Duplicates int64
}

type counters struct {
	messages, samples, parseErrors, rejected atomic.Int64
	failed, acked, deadLetters, connects     atomic.Int64
	limited, qos2Duplicates                  atomic.Int64
}

func (c *counters) stats() Stats {
	return Stats{
		Messages: c.messages.Load(), Samples: c.samples.Load(), ParseErrors: c.parseErrors.Load(),
		Rejected: c.rejected.Load(), Failed: c.failed.Load(), Acked: c.acked.Load(),
		DeadLetters: c.deadLetters.Load(), Connects: c.connects.Load(), Limited: c.limited.Load(),
		QoS2Duplicates: c.qos2Duplicates.Load(),
	}
}

// errorLog remembers which classes of error were logged, so each new
// class is logged once at warn level and repeats only at debug level.
type errorLog struct {
	mu   sync.Mutex
	seen map[string]bool // mu
}

func (e *errorLog) first(key string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.seen == nil {
		e.seen = map[string]bool{}
	}
	if e.seen[key] || len(e.seen) > 1000 {
		return false
	}
	e.seen[key] = true
	return true
}
