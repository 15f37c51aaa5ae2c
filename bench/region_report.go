// The region scenario's goals and its section of report.md.

package main

import (
	"fmt"
	"strings"
)

// regionGoals reads issue 9's "once per object per region" where it can
// hold: caches that together can keep the working set (the roomy run);
// under pressure (each edge 30% of it) the region is judged against the
// same edges alone.
func regionGoals(r *report) []goal {
	const (
		perObjText = "region: 3 edges filling from each other read each object from the blob store once on a Zipf download workload " +
			"(read as: at most 1.2 origin blob fetches per distinct object requested, when each edge's cache holds what the ring gives it beside its copies: each 60% of the working set, seven eighths of it for owned objects; cold, pre-fetch off)"
		ratioText = "region: under cache pressure (each edge 30% of the working set) origin blob fetches at most half those of the same 3 edges alone (no gossip; same workload, same cache size)"
	)
	g := r.Region
	var out []goal
	if g == nil || g.Roomy == nil || g.Roomy.Answered == 0 {
		out = append(out, unmeasured("region_fetches_per_object", perObjText, why(r, "region", "the roomy region run did not finish")))
	} else {
		ro := g.Roomy
		out = append(out, judged("region_fetches_per_object", perObjText, ro.FetchesPerObject, ro.FetchesPerObject <= 1.2 && ro.Errors == 0,
			fmt.Sprintf("%.2f (%d origin fetches for %d distinct objects over %d downloads; %.1f%% filled from a peer, %.0f peer fill failures, %d download errors)",
				ro.FetchesPerObject, ro.OriginFetches, ro.Distinct, ro.Answered, ro.PeerShare*100, ro.PeerFailures, ro.Errors)))
	}
	if g != nil && g.Region != nil && g.Alone != nil && g.Alone.OriginFetches > 0 {
		reg := g.Region
		out = append(out, judged("region_fetch_ratio", ratioText, g.FetchRatio, g.FetchRatio <= 0.5 && reg.Errors == 0,
			fmt.Sprintf("%.3f× (%d origin fetches as a region vs %d alone, %.2f vs %.2f per object; a perfect static placement of the region's caches would need %.2f per object; origin bytes %.3f×)",
				g.FetchRatio, reg.OriginFetches, g.Alone.OriginFetches, reg.FetchesPerObject, g.Alone.FetchesPerObject, g.BestRegion.FetchesPerObject, g.BytesRatio)))
	} else {
		out = append(out, unmeasured("region_fetch_ratio", ratioText, why(r, "region", "the region and lone runs did not both finish")))
	}
	return out
}

func writeRegion(b *strings.Builder, g *regionResult) {
	if g == nil {
		return
	}
	fmt.Fprintf(b, "## region\n\nA Zipf download workload (s = %.2f, seed %d) over %d apps, one zip each (%.1f MB in all, %s), "+
		"%d downloads per run over %d connections, each to an edge picked uniformly; every edge caches %d bytes (%.0f%% of the working set), "+
		"starts cold and does not pre-fetch. The same downloads run once on 3 edges in one region (gossip, misses filled from the object's owner edge) "+
		"and once on 3 edges alone; then once more as a region whose edges each cache 60%% of the working set (%d bytes; an eighth of each cache holds copies of what peers lend, the rest what the edge owns, room for the largest ring share of three edges over these objects). Each edge reaches aloft dev's origin through a counting proxy and a recorder of its own, which count its blob fetches and note what each was for.\n\n",
		g.ZipfS, g.Seed, g.Apps, float64(g.WorkingSetBytes)/1e6, sizeRange(g.Objects), g.Requests, g.Conns, g.CacheBytes, g.CacheShare*100, g.RoomyCacheBytes)
	runs := []*regionRun{g.Region, g.Alone, g.Roomy}
	b.WriteString("| run | downloads | errors | distinct objects | local hits (edge reached) | filled from a peer | filled from the origin by the edge reached | peer fill failures | origin blob fetches | of them for a peer | per distinct object | per 100 downloads | hit ratio (1 − fetches/downloads) | origin MB | MB served | origin / served | downloads/s | edge CPU s | other CPU cores |\n" +
		"| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n")
	for _, r := range runs {
		if r == nil {
			continue
		}
		fmt.Fprintf(b, "| %s | %d | %s | %d | %s | %.1f%% | %s | %.0f | %d | %d | %.2f | %.2f | %.1f%% | %.2f | %.1f | %.2f%% | %.0f | %.2f | %.2f |\n",
			r.Mode, r.Answered, regionErrorsCell(r), r.Distinct, localHitCell(r), r.PeerShare*100, pct(r.OriginMisses, r.Answered), r.PeerFailures, r.OriginFetches, r.ForPeers,
			r.FetchesPerObject, r.OriginPer100, r.HitRatio*100, float64(r.OriginBytes)/1e6, float64(r.BytesServed)/1e6, r.OriginBytesShare*100, r.PerS, r.EdgeCPUS, r.OtherCPUCores)
	}
	if g.Region != nil && g.Alone != nil {
		fmt.Fprintf(b, "\nRegion vs alone: origin blob fetches **%.3f×**, origin bytes %.3f×.\n", g.FetchRatio, g.BytesRatio)
	}
	fmt.Fprintf(b, "\nThe yardstick, a perfect static placement of the same downloads (each cache keeps the objects asked for most, as many as fit, "+
		"fetched once and never evicted): the region as one cache of three edges' bytes holding no copies, hit ratio %.1f%% and %.2f origin fetches per object; "+
		"each lone edge keeping what its own downloads ask for most, %.1f%% and %.2f.\n",
		g.BestRegion.HitRatio*100, g.BestRegion.FetchesPerObject, g.BestAlone.HitRatio*100, g.BestAlone.FetchesPerObject)
	b.WriteString("\nPer edge (counters over the downloads; cache hits count the owner's lookups for its peers too, cache fills count fills from a peer and from the origin):\n\n" +
		"| run | edge | ring members | downloads | blobs served to peers | cache hits | cache fills | peer fills | peer fill failures | fills from the origin (fills − peer fills) | origin blob fetches (proxy) | distinct objects fetched, share of the working set | CPU s |\n" +
		"| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n")
	for _, r := range runs {
		if r == nil {
			continue
		}
		for _, e := range r.Edges {
			fmt.Fprintf(b, "| %s | %s | %.0f | %.0f | %.0f | %.0f | %.0f | %.0f | %.0f | %.0f | %d | %.1f%% | %.2f |\n", r.Mode, e.URL, e.Members, e.Downloads,
				e.PeerServed, e.Hits, e.Loads, e.PeerFills, e.PeerFailures, e.Loads-e.PeerFills, e.OriginFetches, e.FetchedShare*100, e.CPUS)
		}
	}
	b.WriteString("\nWhat the figures mean: a download is answered from the memory of the edge it reached (a local hit), filled from the object's owner edge " +
		"(which itself may have had to fetch it: those are the origin fetches \"for a peer\"), or filled from the origin by the edge it reached " +
		"(it owns the object, or the owner failed). \"Hit ratio\" counts the downloads for which no blob fetch was made; \"per distinct object\" is 1.0 " +
		"when the blob store is read once per object. An owner's cache answers its devices and its peers through one hit counter, so local hits are found " +
		"by matching each download with the origin fetches its edge made for its object while it was in flight (the recorder's log): those downloads " +
		"were filled from the origin by their edge, and the rest, less peer fills, hit. The range in brackets is what the edges' counters alone allow " +
		"(at least hits − blobs served to peers, at most hits and downloads − peer fetches); alone, without peers, it is the edges' hits, which checks the matching. " +
		"The cache's admissions and evictions are not on an edge's /metrics, so they are not reported.\n")
	for _, r := range runs {
		if r == nil {
			continue
		}
		if r.Recorded != r.OriginFetches {
			fmt.Fprintf(b, "\n%s: the recorders saw %d blob fetches answered 200, the proxies %d.\n", r.Mode, r.Recorded, r.OriginFetches)
		}
		if d := r.EdgeOriginFills - float64(r.OriginFetches); d != 0 {
			fmt.Fprintf(b, "\n%s: the edges count %.0f fills from the origin, the proxy %d blob fetches answered 200 (%d other blob exchanges).\n",
				r.Mode, r.EdgeOriginFills, r.OriginFetches, r.OriginFetchErrors)
		}
		if len(r.ParseErrors) > 0 {
			fmt.Fprintf(b, "\n%s: the proxy lost track of some exchanges: %s.\n", r.Mode, strings.Join(r.ParseErrors, "; "))
		}
		if r.Unsent > 0 {
			fmt.Fprintf(b, "\n%s: %d downloads of the workload were not sent: the run's time bound passed first.\n", r.Mode, r.Unsent)
		}
	}
	b.WriteString("\n")
}

// localHitCell is the local hit share with the bounds the counters
// allow.
func localHitCell(r *regionRun) string {
	bounds := fmt.Sprintf("%.1f%%", r.LocalHitMin*100)
	if r.LocalHitMax-r.LocalHitMin >= 0.0005 {
		bounds = fmt.Sprintf("%.1f–%.1f%%", r.LocalHitMin*100, r.LocalHitMax*100)
	}
	return fmt.Sprintf("%.1f%% (counters: %s)", r.LocalHit*100, bounds)
}

func pct(n int, of int64) string {
	if of == 0 {
		return "–"
	}
	return fmt.Sprintf("%.1f%%", 100*float64(n)/float64(of))
}

func regionErrorsCell(r *regionRun) string {
	s := fmt.Sprint(r.Errors)
	for k, v := range r.ErrorsByKind {
		s += fmt.Sprintf(" %s:%d", k, v)
	}
	return s
}

// sizeRange names the smallest and largest object, in KiB.
func sizeRange(objs []regionObject) string {
	if len(objs) == 0 {
		return "no objects"
	}
	lo, hi := objs[0].Bytes, objs[0].Bytes
	for _, o := range objs {
		lo, hi = min(lo, o.Bytes), max(hi, o.Bytes)
	}
	return fmt.Sprintf("%.0f–%.0f KiB", float64(lo)/1024, float64(hi)/1024)
}
