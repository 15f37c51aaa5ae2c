// Metrics of the region: ring size, peer fills and pre-fetches, on the
// node's own registry (registered here so metrics.go stays the device
// path's).

package edge

import "github.com/prometheus/client_golang/prometheus"

// clusterMetrics are the counters the region code increments itself.
// Peer fills are read from the cache's per-source counters, and blobs
// served to peers show in aloft_edge_requests_total{route="peer_blob"}.
type clusterMetrics struct {
	prefetched, prefetchFailed, prefetchDropped, prefetchSkipped prometheus.Counter
}

func newClusterMetrics(reg *prometheus.Registry, c *cluster) clusterMetrics {
	counter := func(name, help string) prometheus.Counter {
		m := prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
		reg.MustRegister(m)
		return m
	}
	m := clusterMetrics{
		prefetched:      counter("aloft_edge_prefetched_total", "Objects pre-fetched into the cache on publish."),
		prefetchFailed:  counter("aloft_edge_prefetch_failures_total", "Pre-fetches no source delivered (devices fill them later)."),
		prefetchDropped: counter("aloft_edge_prefetch_dropped_total", "Objects not pre-fetched because the queue was full."),
		prefetchSkipped: counter("aloft_edge_prefetch_skipped_bundles_total", "Bundles larger than PrefetchMaxBytes, left to devices."),
	}
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "aloft_edge_prefetch_pending", Help: "Objects queued or being pre-fetched.",
	}, func() float64 { return float64(c.prefetchPending.Load()) }))
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "aloft_edge_region_members", Help: "Edges on this edge's ring (its region's live members, itself included; 0 without gossip).",
	}, func() float64 { return float64(c.ringMembers()) }))
	peer := func(f func(ok, fetches int64) int64) func() float64 {
		return func() float64 {
			s := c.n.cache.Stats().Sources["peer"]
			return float64(f(s.OK, s.Fetches))
		}
	}
	reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "aloft_edge_peer_fills_total", Help: "Misses filled from the region's owner edge with verified bytes.",
	}, peer(func(ok, _ int64) int64 { return ok })))
	reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "aloft_edge_peer_fills_not_kept_total", Help: "Peer fills served and not kept: the owner keeps the object (one in cache KeepLentEvery is kept).",
	}, func() float64 { return float64(c.n.cache.Stats().LentNotKept) }))
	reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "aloft_edge_peer_fill_failures_total", Help: "Owner-edge fetches that failed (down, slow, refused, corrupt) and fell back to the origin.",
	}, peer(func(ok, fetches int64) int64 { return fetches - ok })))
	return m
}
