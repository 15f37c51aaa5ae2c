// Prometheus metrics of one origin, on the node's own registry.

package origin

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/aloft/aloft/netguard"
	"github.com/aloft/aloft/webhook"
)

type originMetrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	// gcDeleted and gcFreed count what blob collection removed.
	gcDeleted, gcFreed prometheus.Counter
	// webhookAttempts counts delivery attempts by outcome.
	webhookAttempts *prometheus.CounterVec
}

// webhookOutcome names an attempt's outcome as a label value.
func webhookOutcome(o webhook.Outcome) string {
	switch o {
	case webhook.Delivered:
		return "delivered"
	case webhook.Retrying:
		return "retrying"
	}
	return "gave_up"
}

// newOriginMetrics makes the node's metrics; register adds them, with the
// gauges that read the node, to its registry once the node is built.
func newOriginMetrics() *originMetrics {
	m := &originMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aloft_origin_requests_total", Help: "Operator API requests by route and status.",
		}, []string{"route", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "aloft_origin_request_seconds", Help: "Operator API latency by route.",
		}, []string{"route"}),
		gcDeleted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "aloft_origin_gc_deleted_blobs_total", Help: "Unreferenced blobs the collector deleted.",
		}),
		gcFreed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "aloft_origin_gc_freed_bytes_total", Help: "Bytes of the blobs the collector deleted.",
		}),
		webhookAttempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aloft_origin_webhook_attempts_total", Help: "Webhook delivery attempts this node made, by outcome (delivered, retrying, gave_up).",
		}, []string{"outcome"}),
	}
	for _, o := range []webhook.Outcome{webhook.Delivered, webhook.Retrying, webhook.GaveUp} {
		m.webhookAttempts.WithLabelValues(webhookOutcome(o))
	}
	return m
}

// register adds m and the gauges reading n to reg.
func (m *originMetrics) register(reg *prometheus.Registry, n *Node) {
	conns := func(name, help string, v func(s netguard.Stats) float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, func() float64 { return v(n.hs.ln.Stats()) })
	}
	reg.MustRegister(
		conns("aloft_origin_api_conns_open", "Operator API connections open now.", func(s netguard.Stats) float64 { return float64(s.Open) }),
		conns("aloft_origin_api_conns_shed", "API connections answered 503 at the connection caps since start.", func(s netguard.Stats) float64 { return float64(s.Shed) }),
		conns("aloft_origin_api_conns_evicted", "Idle API connections closed to make room since start.", func(s netguard.Stats) float64 { return float64(s.Evicted) }),
		conns("aloft_origin_api_accept_errors", "Failed accepts (each retried) since start.", func(s netguard.Stats) float64 { return float64(s.AcceptErrors) }),
	)
	reg.MustRegister(m.requests, m.latency, m.gcDeleted, m.gcFreed, m.webhookAttempts,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "aloft_origin_webhook_pending", Help: "Webhook deliveries queued on this node (it delivers them while it leads)."},
			func() float64 { p, _ := n.svc.hooks.Pending(); return float64(p) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "aloft_origin_raft_state", Help: "This node's raft state: 0 follower, 1 candidate, 2 leader, 3 shut down."},
			func() float64 { return float64(n.rn.raft.State()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "aloft_origin_raft_applied_index", Help: "The last raft index this node applied."},
			func() float64 { return float64(n.rn.raft.AppliedIndex()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "aloft_origin_catalog_index", Help: "Catalog index."},
			func() float64 { return float64(n.Catalog().Index) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "aloft_origin_raft_leader", Help: "1 when this node leads."},
			func() float64 {
				if n.rn.leading() {
					return 1
				}
				return 0
			}))
}

func (m *originMetrics) observe(route string, code int, d time.Duration) {
	m.requests.WithLabelValues(route, strconv.Itoa(code)).Inc()
	m.latency.WithLabelValues(route).Observe(d.Seconds())
}
