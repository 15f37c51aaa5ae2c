// Prometheus metrics of one origin, on the node's own registry.

package origin

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

type originMetrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	// gcDeleted and gcFreed count what blob collection removed.
	gcDeleted, gcFreed prometheus.Counter
}

func newOriginMetrics(reg *prometheus.Registry, n *Node) *originMetrics {
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
	}
	reg.MustRegister(m.requests, m.latency, m.gcDeleted, m.gcFreed,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "aloft_origin_catalog_index", Help: "Catalog index."},
			func() float64 { return float64(n.Catalog().Index) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "aloft_origin_raft_leader", Help: "1 when this node leads."},
			func() float64 {
				if n.raft.State().String() == "Leader" {
					return 1
				}
				return 0
			}))
	return m
}

func (m *originMetrics) observe(route string, code int, d time.Duration) {
	m.requests.WithLabelValues(route, strconv.Itoa(code)).Inc()
	m.latency.WithLabelValues(route).Observe(d.Seconds())
}
