// Prometheus metrics of one edge, registered on the node's own registry.

package edge

import (
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/fasthttpadaptor"

	"github.com/aloft/aloft/netguard"
)

type metrics struct {
	requests     *prometheus.CounterVec
	latency      *prometheus.HistogramVec
	checks       *prometheus.CounterVec
	statsEvents  prometheus.Counter
	statsDropped prometheus.Counter
	originErrors *prometheus.CounterVec
	catalogIndex prometheus.Gauge
	handler      fasthttp.RequestHandler

	// Resolved children, so the hot path skips label hashing.
	reqCache   sync.Map // routeCode → prometheus.Counter
	latCache   sync.Map // route → prometheus.Observer
	checkCache sync.Map // result → prometheus.Counter
}

type routeCode struct {
	route string
	code  int
}

func newMetrics(reg *prometheus.Registry, n *Node) *metrics {
	f := func(c prometheus.Collector) { reg.MustRegister(c) }
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aloft_edge_requests_total", Help: "Device requests by route and HTTP status.",
		}, []string{"route", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "aloft_edge_request_seconds", Help: "Time to answer device requests, by route.",
			Buckets: []float64{.00005, .0001, .00025, .0005, .001, .0025, .005, .01, .05, .25, 1, 5},
		}, []string{"route"}),
		checks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aloft_edge_update_checks_total", Help: "Update checks by outcome (update or the refusal code).",
		}, []string{"result"}),
		statsEvents:  prometheus.NewCounter(prometheus.CounterOpts{Name: "aloft_edge_stats_events_total", Help: "Stats events received."}),
		statsDropped: prometheus.NewCounter(prometheus.CounterOpts{Name: "aloft_edge_stats_dropped_total", Help: "Stats events dropped because the counter table was full."}),
		originErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aloft_edge_origin_errors_total", Help: "Failed calls to the origin, by operation.",
		}, []string{"op"}),
		catalogIndex: prometheus.NewGauge(prometheus.GaugeOpts{Name: "aloft_edge_catalog_index", Help: "Catalog index served."}),
	}
	f(m.requests)
	f(m.latency)
	f(m.checks)
	f(m.statsEvents)
	f(m.statsDropped)
	f(m.originErrors)
	f(m.catalogIndex)
	f(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "aloft_edge_cache_hits", Help: "Byte-cache hits since start."},
		func() float64 { return float64(n.cache.Stats().Hits) }))
	f(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "aloft_edge_cache_loads", Help: "Byte-cache fills from the origin since start."},
		func() float64 { return float64(n.cache.Stats().Loads) }))
	conns := func(name, help string, v func(s netguard.Stats) float64) {
		f(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, func() float64 { return v(n.ln.Stats()) }))
	}
	conns("aloft_edge_conns_open", "Device connections open now.", func(s netguard.Stats) float64 { return float64(s.Open) })
	conns("aloft_edge_conns_shed", "Device connections answered 503 at the connection caps since start.", func(s netguard.Stats) float64 { return float64(s.Shed) })
	conns("aloft_edge_conns_evicted", "Idle device connections closed to make room since start.", func(s netguard.Stats) float64 { return float64(s.Evicted) })
	conns("aloft_edge_accept_errors", "Failed accepts (each retried) since start.", func(s netguard.Stats) float64 { return float64(s.AcceptErrors) })
	f(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "aloft_edge_unlisted_hosts", Help: "Requests whose Host was not allowed, so links used the fallback, since start."},
		func() float64 { return float64(n.links.refused.Load()) }))
	m.handler = fasthttpadaptor.NewFastHTTPHandler(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	return m
}

func (m *metrics) observe(route string, code int, d time.Duration) {
	k := routeCode{route, code}
	c, ok := m.reqCache.Load(k)
	if !ok {
		c, _ = m.reqCache.LoadOrStore(k, m.requests.WithLabelValues(route, strconv.Itoa(code)))
	}
	c.(prometheus.Counter).Inc()
	o, ok := m.latCache.Load(route)
	if !ok {
		o, _ = m.latCache.LoadOrStore(route, m.latency.WithLabelValues(route))
	}
	o.(prometheus.Observer).Observe(d.Seconds())
}

// check counts one update-check outcome. Results are a fixed set of codes,
// so the cache stays small.
func (m *metrics) check(result string) {
	c, ok := m.checkCache.Load(result)
	if !ok {
		c, _ = m.checkCache.LoadOrStore(result, m.checks.WithLabelValues(result))
	}
	c.(prometheus.Counter).Inc()
}
