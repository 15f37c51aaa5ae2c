// The region scenario's pure parts (the Zipf workload, metric parsing,
// the figures' arithmetic) and a tiny run against a real `aloft dev`
// with six `aloft edge` processes. No timing is asserted.

package main

import (
	"slices"
	"testing"
)

func TestZipfPicks_DeterministicAndSkewed(t *testing.T) {
	a := zipfPicks(7, 1.1, 60, 3, 20_000)
	if b := zipfPicks(7, 1.1, 60, 3, 20_000); !slices.Equal(a, b) {
		t.Fatal("the same seed drew different workloads")
	}
	if c := zipfPicks(8, 1.1, 60, 3, 20_000); slices.Equal(a, c) {
		t.Fatal("another seed drew the same workload")
	}
	objs, edges := make([]int, 60), make([]int, 3)
	for _, p := range a {
		if p.obj >= 60 || p.edge >= 3 {
			t.Fatalf("pick %+v out of range", p)
		}
		objs[p.obj]++
		edges[p.edge]++
	}
	// Rank 0 is the most requested, and by far: with s = 1.1 over 60
	// ranks it takes about a quarter of the downloads, rank 59 a few
	// per thousand.
	if share := float64(objs[0]) / 20_000; share < 0.2 || share > 0.35 || slices.Max(objs) != objs[0] {
		t.Errorf("rank 0 drew %d of 20000 (max %d)", objs[0], slices.Max(objs))
	}
	if objs[0] < 5*objs[10] || objs[10] < objs[50] {
		t.Errorf("not Zipf-shaped: ranks 0, 10, 50 drew %d, %d, %d", objs[0], objs[10], objs[50])
	}
	for i, n := range edges {
		if n < 6_300 || n > 7_000 {
			t.Errorf("edge %d drew %d of 20000, want about a third", i, n)
		}
	}
	// A prefix of a longer workload is the shorter one: -region-requests
	// only cuts it.
	if short := zipfPicks(7, 1.1, 60, 3, 500); !slices.Equal(short, a[:500]) {
		t.Error("a shorter workload is not a prefix of the longer")
	}
}

func TestParseSeriesAndEdgeCounters(t *testing.T) {
	text := `# HELP aloft_edge_cache_hits Byte-cache hits since start.
# TYPE aloft_edge_cache_hits gauge
aloft_edge_cache_hits 1500
aloft_edge_cache_loads 120
aloft_edge_peer_fills_total 80
aloft_edge_peer_fill_failures_total 2
aloft_edge_region_members 3
aloft_edge_requests_total{code="200",route="download"} 1600
aloft_edge_requests_total{code="503",route="download"} 4
aloft_edge_requests_total{code="200",route="peer_blob"} 75
aloft_edge_requests_total{code="404",route="peer_blob"} 1
aloft_edge_requests_total{code="200",route="updates"} 60
aloft_edge_request_seconds_bucket{route="download",le="0.001"} 1500
`
	s := parseSeries(text)
	if s["aloft_edge_cache_hits"] != 1500 || s[`aloft_edge_requests_total{code="200",route="download"}`] != 1600 {
		t.Fatalf("parsed %v", s)
	}
	e := edgeCounters(s)
	want := regionEdge{Members: 3, Downloads: 1600, DownloadErrors: 4, PeerServed: 75, PeerRefused: 1, Hits: 1500, Loads: 120, PeerFills: 80, PeerFailures: 2}
	if e != want {
		t.Errorf("counters %+v, want %+v", e, want)
	}
	if d := e.minus(regionEdge{Downloads: 600, Hits: 500, Loads: 20, Members: 1}); d.Downloads != 1000 || d.Hits != 1000 || d.Loads != 100 || d.Members != 3 {
		t.Errorf("minus: %+v", d)
	}
	if l := parseLabels(`a="x,y",b="say \"hi\"",c=""`); l["a"] != "x,y" || l["b"] != `say "hi"` || l["c"] != "" || len(l) != 3 {
		t.Errorf("labels %q", l)
	}
}

func TestRegionFigures(t *testing.T) {
	// Alone: no peers, so the local hits are the hits.
	lo, hi := localHits(1000, 900, 0, 0)
	if lo != 900 || hi != 900 {
		t.Errorf("alone: %v–%v", lo, hi)
	}
	// A region: 1000 device lookups, 60 peer lookups answered, 50 peer
	// fetches started; 930 hits over both kinds of lookup.
	lo, hi = localHits(1000, 930, 60, 50)
	if lo != 870 || hi != 930 {
		t.Errorf("region: %v–%v", lo, hi)
	}
	lo, hi = localHits(1000, 990, 40, 60) // hits cannot all be local: 1000 − 60 caps them
	if lo != 950 || hi != 950 {
		t.Errorf("capped: %v–%v", lo, hi)
	}
	r := &regionRun{Answered: 1000, Distinct: 40, BytesServed: 100_000_000, DeviceGets: 1000,
		Hits: 930, PeerServed: 60, PeerFills: 48, PeerFailures: 2, OriginFetches: 50, OriginBytes: 5_000_000, OriginMisses: 22}
	r.figure()
	want := regionFigures{FetchesPerObject: 1.25, OriginPer100: 5, HitRatio: 0.95, LocalHit: 0.93, LocalHitMin: 0.87, LocalHitMax: 0.93, PeerShare: 0.048, OriginBytesShare: 0.05}
	if r.regionFigures != want {
		t.Errorf("figures %+v, want %+v", r.regionFigures, want)
	}
	objs := []regionObject{{Bytes: 100}, {Bytes: 300}, {Bytes: 600}}
	if c := regionCacheBytes(objs, 0.5); c != 2400 {
		t.Errorf("cache of %d bytes, want the floor of 4 × the largest object", c)
	}
	if c := regionCacheBytes(append(objs, regionObject{Bytes: 9000}), 0.5); c != 36000 {
		t.Errorf("cache of %d bytes", c)
	}
}

func TestBestStatic(t *testing.T) {
	objs := []regionObject{{Bytes: 100}, {Bytes: 100}, {Bytes: 100}}
	// Object 0 asked 5 times, 1 three times, 2 twice; edges alternate.
	var picks []regionPick
	for i, o := range []uint16{0, 0, 0, 0, 0, 1, 1, 1, 2, 2} {
		picks = append(picks, regionPick{obj: o, edge: uint16(i % 2)})
	}
	// One cache of 200 bytes keeps 0 and 1: two first fetches, and both
	// downloads of 2.
	if b := bestStatic(objs, picks, 1, 200); b.Fetches != 4 || b.HitRatio != 0.6 || b.FetchesPerObject != 1.333 {
		t.Errorf("shared: %+v", b)
	}
	// Two caches of 100 bytes: edge 0 (picks 0, 2, 4, 6, 8: objects 0, 0,
	// 0, 1, 2) keeps 0 and fetches 1 and 2 once each; edge 1 (0, 0, 1, 1,
	// 2) keeps 0 (ties go to the lower object) and fetches 1 twice and 2.
	if b := bestStatic(objs, picks, 2, 100); b.Fetches != 3+4 {
		t.Errorf("per edge: %+v", b)
	}
}

func TestAttribute(t *testing.T) {
	objs := []regionObject{{SHA: "aa"}, {SHA: "bb"}}
	picks := []regionPick{
		{obj: 0, edge: 0}, // 0: in flight during edge 0's fetch of aa: a miss
		{obj: 0, edge: 0}, // 1: joined the same fetch: a miss too
		{obj: 0, edge: 0}, // 2: after it: a hit
		{obj: 0, edge: 1}, // 3: edge 1 did not fetch aa: not an origin miss (a hit or a peer fill)
		{obj: 1, edge: 1}, // 4: not answered
		{obj: 1, edge: 0}, // 5: edge 0 fetched bb, but for the other object's time: not it
	}
	spans := []reqSpan{{10, 50}, {20, 45}, {60, 70}, {15, 40}, {0, 0}, {80, 90}}
	fetches := [][]blobFetch{
		{{sha: "aa", start: 12, end: 40}, {sha: "bb", start: 100, end: 120}}, // the second: for a peer
		{{sha: "bb", start: 5, end: 30}},                                     // during pick 4, which was not answered: for a peer
	}
	misses, forPeers, total := attribute(picks, spans, objs, fetches)
	if misses != 2 || forPeers != 2 || total != 3 {
		t.Errorf("misses %d, for peers %d, total %d; want 2, 2, 3", misses, forPeers, total)
	}
}

// TestRun_Region runs the scenario at tiny sizes (tinyOptions): 12 apps
// of 8–16 KiB, 600 downloads per run.
func TestRun_Region(t *testing.T) {
	rep, _ := runTiny(t, "region")
	g := rep.Region
	if g == nil || g.Region == nil || g.Alone == nil || len(g.Objects) != 12 || g.CacheBytes < 4*(8<<10) {
		t.Fatalf("region result %+v", g)
	}
	for _, r := range []*regionRun{g.Region, g.Alone, g.Roomy} {
		if r == nil {
			t.Fatal("a run is missing")
		}
		if r.Sent != 600 || r.Answered != 600 || r.Errors != 0 || sumOf(r.Outcomes) != r.Answered || r.Outcomes["sha256_verified"] == 0 {
			t.Errorf("%s: sent %d, answered %d, errors %v, outcomes %v", r.Mode, r.Sent, r.Answered, r.ErrorsByKind, r.Outcomes)
		}
		// Cold caches: every object asked for is fetched at least once
		// (by its owner in the region, by each edge asked for it alone).
		if r.Distinct == 0 || r.OriginFetches < r.Distinct || r.DeviceGets != 600 || len(r.Edges) != 3 {
			t.Errorf("%s: %d origin fetches for %d objects, %v device downloads on %d edges", r.Mode, r.OriginFetches, r.Distinct, r.DeviceGets, len(r.Edges))
		}
		if r.LocalHitMin > r.LocalHitMax || r.LocalHitMax > 1 || len(r.ParseErrors) > 0 {
			t.Errorf("%s: local hits %v–%v, parse errors %v", r.Mode, r.LocalHitMin, r.LocalHitMax, r.ParseErrors)
		}
		if float64(r.OriginFetches) != r.EdgeOriginFills || r.Recorded != r.OriginFetches {
			t.Logf("%s: the proxies saw %d blob fetches, the recorders %d, the edges count %v origin fills", r.Mode, r.OriginFetches, r.Recorded, r.EdgeOriginFills)
		}
		if r.LocalHit < r.LocalHitMin-0.01 || r.LocalHit > r.LocalHitMax+0.01 {
			t.Errorf("%s: local hits %v by the recorders, %v–%v by the counters", r.Mode, r.LocalHit, r.LocalHitMin, r.LocalHitMax)
		}
	}
	for _, e := range g.Region.Edges {
		if e.Members != 3 {
			t.Errorf("region edge %s saw %v members", e.URL, e.Members)
		}
	}
	if g.Region.PeerFills == 0 || g.Alone.PeerFills != 0 || g.Alone.PeerServed != 0 || g.Alone.LocalHitMin != g.Alone.LocalHitMax || g.Alone.ForPeers != 0 {
		t.Errorf("peer fills: region %v, alone %v (served %v); alone local hits %v–%v",
			g.Region.PeerFills, g.Alone.PeerFills, g.Alone.PeerServed, g.Alone.LocalHitMin, g.Alone.LocalHitMax)
	}
	var judgedIDs []string
	for _, gl := range rep.Goals {
		if gl.Met != nil && (gl.ID == "region_fetches_per_object" || gl.ID == "region_fetch_ratio") {
			judgedIDs = append(judgedIDs, gl.ID)
		}
	}
	if len(judgedIDs) != 2 {
		t.Errorf("region goals judged: %v", judgedIDs)
	}
}

func sumOf(m map[string]int64) int64 {
	var s int64
	for _, v := range m {
		s += v
	}
	return s
}
