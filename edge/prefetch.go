// Pre-fetch on publish: bundles that just became servable are fetched
// into the cache before the first device asks, through the same sources
// and the same flight as a miss, so in a region the owner of each object
// fetches it from the origin once and the other edges from the owner.

package edge

import (
	"context"

	"github.com/aloft/aloft/origin/api"
)

const (
	// prefetchQueue bounds the objects waiting to be pre-fetched. Past
	// it objects are dropped (counted): a device's first request then
	// fills them, which is only slower.
	prefetchQueue = 4096
	// prefetchWorkers is how many pre-fetches run at once. Each holds one
	// of the cache's MaxFetches slots, so devices keep the rest.
	prefetchWorkers = 2
)

// prefetchJob is one object to pre-fetch, at the size its bundle gave.
type prefetchJob struct {
	sha  string
	size int64
}

// prefetch queues the zip and delta files of each bundle that is at most
// Config.PrefetchMaxBytes in all (negative: pre-fetch is off). It never
// blocks: the catalog code calls it right after an install, perhaps
// under its lock. The workers run inside Run (clusterLoop), so objects
// queued before Run wait for it.
func (n *Node) prefetch(bundles []*api.Bundle) {
	if n.cfg.PrefetchMaxBytes < 0 || n.cl == nil {
		return
	}
	dropped := 0
	for _, b := range bundles {
		objs, total := bundleObjects(b)
		if total > n.cfg.PrefetchMaxBytes {
			n.cl.metrics.prefetchSkipped.Inc()
			continue
		}
		for _, o := range objs {
			if o.size < 0 || !n.cache.Cacheable(o.size) {
				continue // never cached (or not a size at all), so nothing to warm
			}
			n.cl.prefetchPending.Add(1)
			select {
			case n.cl.jobs <- o:
			default:
				n.cl.prefetchPending.Add(-1)
				dropped++
			}
		}
	}
	if dropped > 0 {
		n.cl.metrics.prefetchDropped.Add(float64(dropped))
		n.log.Warn("pre-fetch queue full; devices will fill these objects", "dropped", dropped)
	}
}

// bundleObjects lists a bundle's distinct blobs (zip, then manifest
// files) and their total size.
func bundleObjects(b *api.Bundle) ([]prefetchJob, int64) {
	seen := make(map[string]bool, len(b.Manifest)+1)
	out := make([]prefetchJob, 0, len(b.Manifest)+1)
	var total int64
	add := func(sha string, size int64) {
		if sha == "" || seen[sha] {
			return
		}
		seen[sha] = true
		out = append(out, prefetchJob{sha: sha, size: size})
		total += size
	}
	add(b.Zip, b.ZipSize)
	for _, m := range b.Manifest {
		add(m.Blob, m.Size)
	}
	return out, total
}

// prefetchLoop runs queued pre-fetches until ctx ends.
func (c *cluster) prefetchLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case j := <-c.jobs:
			c.prefetchOne(ctx, j)
			c.prefetchPending.Add(-1)
		}
	}
}

// prefetchOne fills one object unless the catalog no longer references
// it (at that size) or it is cached already.
func (c *cluster) prefetchOne(ctx context.Context, j prefetchJob) {
	n := c.n
	if size, ok := n.blobSize(j.sha); !ok || size != j.size {
		return
	}
	if n.cache.Has(j.sha) {
		return
	}
	if err := n.cache.Prefetch(ctx, j.sha, j.size, n.sources(j.sha, j.size)); err != nil {
		if ctx.Err() == nil {
			c.metrics.prefetchFailed.Inc()
			n.log.Warn("pre-fetch failed; devices will fill it", "blob", j.sha, "err", err)
		}
		return
	}
	c.metrics.prefetched.Inc()
}
