package fanout

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics count the peers' answers and the partial answers. Peer names
// are few (the storage nodes), so they are a label.
type metrics struct {
	peerRequests *prometheus.CounterVec // peer, result: ok, unavailable, rejected
	partial      prometheus.Counter     // answers sent with warnings
	refused      prometheus.Counter     // queries refused for partial_response=false
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		peerRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fanout_peer_requests_total",
			Help: "Requests to storage nodes by a query node, by peer and result (ok, unavailable, rejected).",
		}, []string{"peer", "result"}),
		partial: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "fanout_partial_answers_total",
			Help: "Selects and metadata requests answered without some peer or partition, with a warning.",
		}),
		refused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "fanout_partial_refused_total",
			Help: "Selects and metadata requests refused because a peer or partition was missing and partial responses were denied.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.peerRequests, m.partial, m.refused)
	}
	return m
}

// observe counts the results of one fan-out and its outcome.
func observe[T any](m *metrics, rs []result[T], ws int, err error) {
	for _, r := range rs {
		res := "ok"
		switch {
		case r.err == nil:
		case errors.Is(r.err, ErrPeerRejected) || errors.Is(r.err, ErrTooManySamples):
			res = "rejected"
		default:
			res = "unavailable"
		}
		m.peerRequests.WithLabelValues(r.peer.Name, res).Inc()
	}
	switch {
	case errors.Is(err, ErrPartialResponse):
		m.refused.Inc()
	case err == nil && ws > 0:
		m.partial.Inc()
	}
}
