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

	"github.com/aloft/aloft/capgo"
	"github.com/aloft/aloft/netguard"
)

type metrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	checks   *prometheus.CounterVec
	// checkTook holds aloft_edge_update_check_seconds's observers by
	// checkKinds index, resolved once: the check path looks up nothing.
	checkTook    [4]prometheus.Observer
	statsEvents  prometheus.Counter
	statsShipped prometheus.Counter
	statsFolded  *prometheus.CounterVec
	statsDrops   *prometheus.CounterVec
	untracked    *prometheus.CounterVec
	spoolErrors  prometheus.Counter
	originErrors *prometheus.CounterVec
	catalogIndex prometheus.Gauge
	previews     *prometheus.CounterVec
	handler      fasthttp.RequestHandler

	// Resolved children, so the hot path skips label hashing.
	reqCache   sync.Map // routeCode → prometheus.Counter
	latCache   sync.Map // route → prometheus.Observer
	checkCache sync.Map // result → prometheus.Counter
}

// checkKinds are the kinds of update-check answers: an update, or the
// refusal kinds devices act on (capgo.Kind*).
var checkKinds = [4]string{"update", capgo.KindUpToDate, capgo.KindBlocked, capgo.KindFailed}

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
		statsEvents:  prometheus.NewCounter(prometheus.CounterOpts{Name: "aloft_edge_stats_events_total", Help: "Stats events received and answered ok."}),
		statsShipped: prometheus.NewCounter(prometheus.CounterOpts{Name: "aloft_edge_stats_shipped_total", Help: "Stats events the origin took."}),
		statsFolded: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aloft_edge_stats_folded_total", Help: "Stats events counted under \"other\", by reason (unknown_version, unknown_action).",
		}, []string{"reason"}),
		statsDrops: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aloft_edge_stats_dropped_total", Help: "Stats events not counted, by reason (see edge/DESIGN.md).",
		}, []string{"reason"}),
		untracked: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aloft_edge_devices_untracked_total",
			Help: "Checks and stats events counted in the aggregates but left out of the devices table (devices_full) or a device timeline (timeline_full).",
		}, []string{"reason"}),
		spoolErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "aloft_edge_stats_spool_errors_total", Help: "Failed writes of the stats spool."}),
		originErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aloft_edge_origin_errors_total", Help: "Failed calls to the origin, by operation.",
		}, []string{"op"}),
		catalogIndex: prometheus.NewGauge(prometheus.GaugeOpts{Name: "aloft_edge_catalog_index", Help: "Catalog index served."}),
		previews: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aloft_edge_preview_requests_total", Help: "Preview payload requests by outcome (see edge/DESIGN.md, Preview payloads).",
		}, []string{"result"}),
	}
	f(m.requests)
	f(m.latency)
	f(m.checks)
	f(m.statsEvents)
	f(m.statsShipped)
	f(m.statsFolded)
	f(m.statsDrops)
	f(m.untracked)
	f(m.spoolErrors)
	for _, r := range []string{foldVersion, foldAction} {
		m.statsFolded.WithLabelValues(r) // present at 0, so alerts see the series
	}
	for _, r := range dropReasons() {
		m.statsDrops.WithLabelValues(r)
	}
	for _, r := range []string{untrackedDevices, untrackedTimeline} {
		m.untracked.WithLabelValues(r)
	}
	f(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "aloft_edge_stats_spool_batches", Help: "Stats batches waiting to be shipped."},
		func() float64 { b, _ := n.queue.pending(); return float64(b) }))
	f(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "aloft_edge_stats_spool_events", Help: "Stats events waiting to be shipped."},
		func() float64 { _, e := n.queue.pending(); return float64(e) }))
	took := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "aloft_edge_update_check_seconds", Help: "Time to answer an update check, from decode to encoded answer, by answer kind (update, up_to_date, blocked, failed).",
		Buckets: []float64{.00001, .000025, .00005, .0001, .00025, .0005, .001, .0025, .005, .01, .05},
	}, []string{"kind"})
	for i, k := range checkKinds {
		m.checkTook[i] = took.WithLabelValues(k)
	}
	f(took)
	f(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "aloft_edge_catalog_age_seconds",
		Help: "Seconds since the edge verified its newest catalog signature (sync lag when the origin re-signs; -1 before the first)."},
		func() float64 {
			n.mu.Lock()
			defer n.mu.Unlock()
			if n.stateAt.IsZero() {
				return -1
			}
			return time.Since(n.stateAt).Seconds()
		}))
	f(m.originErrors)
	// Every kind at 0 from the start, so a dashboard's rate() has a series
	// before the first error (the label set is fixed: the call sites').
	for _, k := range []string{"self_assign", "blob", "stats", "catalog", "catalog_refused", "peer_state_refused"} {
		m.originErrors.WithLabelValues(k)
	}
	f(m.catalogIndex)
	f(m.previews)
	for _, r := range previewResults() {
		m.previews.WithLabelValues(r)
	}
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

// took observes how long an answered check of kind took.
func (m *metrics) took(kind string, since time.Time) {
	i := 0
	switch kind {
	case capgo.KindUpToDate:
		i = 1
	case capgo.KindBlocked:
		i = 2
	case capgo.KindFailed:
		i = 3
	}
	m.checkTook[i].Observe(time.Since(since).Seconds())
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

// Reasons of aloft_edge_stats_folded_total.
const (
	foldVersion = "unknown_version"
	foldAction  = "unknown_action"
)

// Reasons of aloft_edge_stats_dropped_total.
const (
	dropUnknownApp    = "unknown_app"            // answered 200, no such app in the catalog
	dropSpurious      = "spurious_download_fail" // old plugins' download_fail after every check
	dropTableFull     = "table_full"             // MaxStatsKeys counters in one flush
	dropNoCatalog     = "no_catalog"             // answered 503; the plugin re-queues them
	dropDeviceLimit   = "device_rate_limit"      // answered 429; the plugin re-queues them
	dropAppLimit      = "app_rate_limit"         // answered 429; the plugin re-queues them
	dropSpoolFull     = "spool_full"             // oldest batches past MaxSpoolBatches/Bytes
	dropOriginRefused = "origin_refused"         // the origin answered 400 or 413
)

// Reasons of aloft_edge_devices_untracked_total.
const (
	untrackedDevices  = "devices_full"  // MaxSeenDevices devices in one flush
	untrackedTimeline = "timeline_full" // MaxTimelineBytes of events in one flush
)

func dropReasons() []string {
	return []string{dropUnknownApp, dropSpurious, dropTableFull, dropNoCatalog, dropDeviceLimit, dropAppLimit, dropSpoolFull, dropOriginRefused}
}

// statsDropped is the drop counter of one reason.
func (m *metrics) statsDropped(reason string) prometheus.Counter {
	return m.statsDrops.WithLabelValues(reason)
}

// countFold records what folding one accepted body did.
func (m *metrics) countFold(f *statsFold) {
	m.statsEvents.Add(float64(f.events))
	if f.version > 0 {
		m.statsFolded.WithLabelValues(foldVersion).Add(float64(f.version))
	}
	if f.action > 0 {
		m.statsFolded.WithLabelValues(foldAction).Add(float64(f.action))
	}
	if f.unknownApp > 0 {
		m.statsDropped(dropUnknownApp).Add(float64(f.unknownApp))
	}
	if f.spurious > 0 {
		m.statsDropped(dropSpurious).Add(float64(f.spurious))
	}
}
