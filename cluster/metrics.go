package cluster

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	publishDuration prometheus.Histogram
	publishMessages prometheus.Counter
	publishRetries  prometheus.Counter
	publishFailures prometheus.Counter
	consumedMsgs    prometheus.Counter
	consumedSamples prometheus.Counter
	rejectedSeries  prometheus.Counter
	corruptMsgs     prometheus.Counter
	lag             *prometheus.GaugeVec
	owned           prometheus.Gauge
	liveMembers     prometheus.Gauge
	rebalances      prometheus.Counter
	assignUpdates   prometheus.Counter
	catalogLearnt   prometheus.Counter
	catalogErrors   prometheus.Counter
	typeConflicts   prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		publishDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "cluster_publish_duration_seconds", Help: "Time from an Append of the cluster publisher to the last JetStream PubAck of its messages.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16)}),
		publishMessages: prometheus.NewCounter(prometheus.CounterOpts{Name: "cluster_publish_messages_total", Help: "Messages acknowledged by JetStream (one per partition per write, more for large writes)."}),
		publishRetries:  prometheus.NewCounter(prometheus.CounterOpts{Name: "cluster_publish_retries_total", Help: "Message publishes retried after an error or a PubAck timeout (same Nats-Msg-Id: deduplicated by the stream)."}),
		publishFailures: prometheus.NewCounter(prometheus.CounterOpts{Name: "cluster_publish_failures_total", Help: "Writes refused because JetStream did not acknowledge them in time (the client got 503)."}),
		consumedMsgs:    prometheus.NewCounter(prometheus.CounterOpts{Name: "cluster_consumed_messages_total", Help: "Messages stored and acknowledged by this storage node."}),
		consumedSamples: prometheus.NewCounter(prometheus.CounterOpts{Name: "cluster_consumed_samples_total", Help: "Samples of the messages stored by this storage node."}),
		rejectedSeries:  prometheus.NewCounter(prometheus.CounterOpts{Name: "cluster_rejected_series_total", Help: "Series of consumed messages the engine rejected (type conflicts, limits); acknowledged, not retried."}),
		corruptMsgs:     prometheus.NewCounter(prometheus.CounterOpts{Name: "cluster_corrupt_messages_total", Help: "Messages that did not decode; terminated, not retried."}),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "cluster_consumer_lag_messages", Help: "Messages of an owned partition not yet stored by this node, as of its last fetch."},
			[]string{"partition"}),
		owned:         prometheus.NewGauge(prometheus.GaugeOpts{Name: "cluster_owned_partitions", Help: "Partitions this node consumes."}),
		liveMembers:   prometheus.NewGauge(prometheus.GaugeOpts{Name: "cluster_live_members", Help: "Members with a live heartbeat entry, as this node last saw them."}),
		rebalances:    prometheus.NewCounter(prometheus.CounterOpts{Name: "cluster_rebalances_total", Help: "Assignment changes this node applied (partitions gained or lost)."}),
		assignUpdates: prometheus.NewCounter(prometheus.CounterOpts{Name: "cluster_assignment_updates_total", Help: "Assignment tables this node wrote (compare-and-set won)."}),
		typeConflicts: prometheus.NewCounter(prometheus.CounterOpts{Name: "cluster_publish_type_conflicts_total", Help: "Series an ingest node refused to its client: their value type differs from the one it last published for them."}),
		catalogLearnt: prometheus.NewCounter(prometheus.CounterOpts{Name: "cluster_catalog_rows_received_total", Help: "InfluxQL catalog rows read from the catalog bucket (this node's own included)."}),
		catalogErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "cluster_catalog_put_errors_total", Help: "InfluxQL catalog rows this node failed to put into the catalog bucket (put again by the next reconcile)."}),
	}
	if reg != nil {
		reg.MustRegister(m.publishDuration, m.publishMessages, m.publishRetries, m.publishFailures,
			m.consumedMsgs, m.consumedSamples, m.rejectedSeries, m.corruptMsgs, m.lag, m.owned,
			m.liveMembers, m.rebalances, m.assignUpdates, m.catalogLearnt, m.catalogErrors, m.typeConflicts)
	}
	return m
}

func partLabel(p int) string { return strconv.Itoa(p) }
