// Scenario region: how often a region of `aloft edge` processes goes to
// the blob store on a Zipf download workload (issue 9). Apps serve one
// small zip each (32–160 KiB, all below the cache's per-item limit); each
// download picks its app by a Zipf law and its edge uniformly, as DNS
// round-robin spreads devices. Every edge caches about a third of the
// working set, so one edge alone keeps re-fetching the tail while the
// region, filling misses from each object's owner edge (consistent hash
// over gossip members, "peer fill"), together holds most of it.
//
// The same workload (same seed) runs twice, each time on three fresh
// edges with cold caches and pre-fetch off (the figure is about the
// download path): once as a region with gossip, once as three edges that
// know nothing of each other. Each edge reaches aloft dev's origin
// through a counting proxy of its own (wireproxy.go: bytes and blob
// fetches) and, behind it, a small HTTP recorder noting which blob each
// fetch was for and when; the edges' own counters say where misses were
// filled from. An owner's cache answers its devices and its peers
// through one hit counter, so the counters alone only bound the local
// hits; matching each download with the origin fetches its edge made for
// its object while it was in flight (attribute) splits them.

package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	mrand "math/rand"
	randv2 "math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/aloft/aloft/bundle"
	"github.com/aloft/aloft/origin/api"
)

const (
	regionAppPrefix = "com.bench.region"
	regionVersion   = "1.0.0"
	// regionSHAEvery: besides the first copy of each object from each
	// edge, every regionSHAEvery-th download is hashed too. Hashing every
	// body would cost the generator more than the edges spend sending.
	regionSHAEvery = 50
	// regionPublishers is how many apps are published at once.
	regionPublishers = 4
)

// regionObject is one app's bundle zip: what the workload downloads.
type regionObject struct {
	App   string `json:"app"`
	Bytes int    `json:"bytes"`
	SHA   string `json:"sha256"`
	// Requests is how many downloads of the workload ask for it (its
	// Zipf rank is its index).
	Requests int `json:"requests"`
	// path is the download path the edge's update answer names.
	path string
}

// regionEdge is one edge's counters over a run (after minus before).
type regionEdge struct {
	URL string `json:"url"`
	// Members is aloft_edge_region_members once the run started: the
	// edges on its ring (0 without gossip).
	Members float64 `json:"members"`
	// Downloads counts device downloads (route "download"), DownloadErrors
	// those not answered 200.
	Downloads      float64 `json:"downloads"`
	DownloadErrors float64 `json:"download_errors"`
	// PeerServed counts blobs this edge served its peers as their owner
	// (route "peer_blob" answered 200), PeerRefused the other answers.
	PeerServed  float64 `json:"peer_served"`
	PeerRefused float64 `json:"peer_refused"`
	// Hits and Loads are the byte cache's counters: lookups answered from
	// memory (device and peer lookups alike) and fills that went to a
	// source (a peer or the origin; the metric's help says origin).
	Hits  float64 `json:"cache_hits"`
	Loads float64 `json:"cache_loads"`
	// PeerFills are misses filled from the owner edge; PeerFailures owner
	// fetches that failed and fell back to the origin.
	PeerFills    float64 `json:"peer_fills"`
	PeerFailures float64 `json:"peer_fill_failures"`
	// OriginFetches counts blob GETs its proxy saw answered 200,
	// OriginOther the other blob exchanges, and OriginBytes every blob
	// exchange's bytes both ways.
	OriginFetches int   `json:"origin_fetches"`
	OriginOther   int   `json:"origin_other"`
	OriginBytes   int64 `json:"origin_bytes"`
	// FetchedShare is the bytes of the distinct objects its recorder saw
	// it fetch, over the working set: in a region, the ring's share of
	// this edge (an owner fetches what it owns, and nothing else while
	// no peer fill fails).
	FetchedShare float64 `json:"fetched_share"`
	// CPUS is the edge's CPU time during the downloads.
	CPUS float64 `json:"cpu_s"`
}

// regionRun is one run of the workload on three edges.
type regionRun struct {
	// Mode is "region" (gossip, peer fill) or "alone" (no gossip).
	Mode   string       `json:"mode"`
	Gossip bool         `json:"gossip"`
	Edges  []regionEdge `json:"edges"`
	// Sent counts downloads put on the wire; Sent = Answered + Errors.
	// Outcomes says how each answer was checked (its length always, its
	// SHA-256 for a sample).
	Sent         int64            `json:"sent"`
	Answered     int64            `json:"answered"`
	Errors       int64            `json:"errors"`
	ErrorsByKind map[string]int64 `json:"errors_by_kind"`
	Outcomes     map[string]int64 `json:"outcomes"`
	// Unsent counts downloads of the workload not sent because the run's
	// time bound passed first.
	Unsent      int64   `json:"unsent"`
	DurationS   float64 `json:"duration_s"`
	PerS        float64 `json:"downloads_per_s"`
	BytesServed int64   `json:"bytes_served"`
	// Distinct is how many objects the downloads sent asked for.
	Distinct int `json:"distinct_objects"`
	// Region-wide sums of the edges' counters.
	Hits         float64 `json:"cache_hits"`
	Loads        float64 `json:"cache_loads"`
	PeerFills    float64 `json:"peer_fills"`
	PeerFailures float64 `json:"peer_fill_failures"`
	PeerServed   float64 `json:"peer_served"`
	DeviceGets   float64 `json:"device_downloads"`
	// OriginFetches counts blob GETs the proxies saw answered 200,
	// OriginFetchErrors the other blob exchanges; OriginBytes is every
	// blob exchange's bytes on the wire, both ways.
	OriginFetches     int   `json:"origin_fetches"`
	OriginFetchErrors int   `json:"origin_fetch_errors"`
	OriginBytes       int64 `json:"origin_bytes"`
	// EdgeOriginFills is loads minus peer fills: the origin fetches by
	// the edges' own count, to hold against the proxy's.
	EdgeOriginFills float64 `json:"edge_origin_fills"`
	// OriginMisses counts downloads in flight while their edge fetched
	// their object from the origin: they missed and their edge filled
	// them itself (it owns the object, or the owner failed). Recorded
	// counts the fetches the recorders saw; ForPeers those no download at
	// the fetching edge was waiting for: an owner filling for a peer.
	OriginMisses int `json:"origin_misses"`
	Recorded     int `json:"recorded_fetches"`
	ForPeers     int `json:"fetches_for_peers"`
	regionFigures
	EdgeCPUS      float64  `json:"edge_cpu_s"`
	OriginCPUS    float64  `json:"origin_cpu_s"`
	OtherCPUCores float64  `json:"other_cpu_cores"`
	ParseErrors   []string `json:"parse_errors,omitempty"`
}

// regionFigures are the ratios a run is read by; regionRun.figure fills
// them from the counts.
type regionFigures struct {
	// FetchesPerObject is origin fetches per distinct object requested:
	// 1.0 is one blob-store read per object.
	FetchesPerObject float64 `json:"origin_fetches_per_object"`
	// OriginPer100 is origin fetches per 100 downloads; HitRatio is
	// 1 − fetches/downloads, the share the edges answered without the
	// blob store.
	OriginPer100 float64 `json:"origin_fetches_per_100"`
	HitRatio     float64 `json:"hit_ratio"`
	// LocalHit is the share of downloads answered from the memory of the
	// edge they reached: those neither filled from a peer nor in
	// OriginMisses. LocalHitMin and LocalHitMax bound it from the edges'
	// counters alone; without peers they meet, at the edges' hits.
	LocalHit    float64 `json:"local_hit"`
	LocalHitMin float64 `json:"local_hit_min"`
	LocalHitMax float64 `json:"local_hit_max"`
	// PeerShare is the share of downloads filled from the owner edge.
	PeerShare float64 `json:"peer_share"`
	// OriginBytesShare is origin bytes per byte served to devices.
	OriginBytesShare float64 `json:"origin_bytes_share"`
}

// regionResult is the region scenario's part of the report.
type regionResult struct {
	Apps     int     `json:"apps"`
	Requests int     `json:"requests"`
	Conns    int     `json:"conns"`
	ZipfS    float64 `json:"zipf_s"`
	Seed     uint64  `json:"seed"`
	// WorkingSetBytes is every object's size summed; CacheBytes is each
	// edge's --cache-bytes, CacheShare that over the working set.
	WorkingSetBytes int64          `json:"working_set_bytes"`
	CacheBytes      int64          `json:"cache_bytes"`
	CacheShare      float64        `json:"cache_share"`
	Objects         []regionObject `json:"objects"`
	Region          *regionRun     `json:"region,omitempty"`
	Alone           *regionRun     `json:"alone,omitempty"`
	// Roomy is the region again with RoomyCacheBytes per edge (roomyShare
	// of the working set): caches that together hold it all.
	Roomy           *regionRun `json:"roomy,omitempty"`
	RoomyCacheBytes int64      `json:"roomy_cache_bytes"`
	// FetchRatio and BytesRatio are the region's origin fetches and
	// bytes over the lone edges'.
	FetchRatio float64 `json:"fetch_ratio"`
	BytesRatio float64 `json:"bytes_ratio"`
	// BestRegion and BestAlone are what a perfect static placement of the
	// same workload would give, to read the runs against: the region as
	// one cache of three edges' bytes holding no copies, and each lone
	// edge holding the objects its own downloads ask for most.
	BestRegion staticBest `json:"best_region"`
	BestAlone  staticBest `json:"best_alone"`
}

// staticBest is the outcome of keeping a fixed best set of objects.
type staticBest struct {
	// HitRatio is 1 − fetches/downloads; Fetches counts the first fetch
	// of each held object and every download of the others.
	HitRatio         float64 `json:"hit_ratio"`
	Fetches          int     `json:"origin_fetches"`
	FetchesPerObject float64 `json:"origin_fetches_per_object"`
}

func runRegion(ctx context.Context, h *harness) (*regionResult, error) {
	o := h.opts
	res := &regionResult{Apps: o.regionApps, Requests: o.regionRequests, Conns: o.regionConns, ZipfS: o.regionZipfS, Seed: o.seed}
	t0 := time.Now()
	objs, err := h.publishRegion(ctx)
	if err != nil {
		return nil, err
	}
	picks := zipfPicks(o.seed, o.regionZipfS, len(objs), o.regionEdges, o.regionRequests)
	for _, p := range picks {
		objs[p.obj].Requests++
	}
	for _, ob := range objs {
		res.WorkingSetBytes += int64(ob.Bytes)
	}
	res.Objects = objs
	res.CacheBytes = regionCacheBytes(objs, o.regionCacheShare)
	res.CacheShare = round3(float64(res.CacheBytes) / float64(res.WorkingSetBytes))
	res.BestRegion = bestStatic(objs, picks, 1, res.CacheBytes*int64(o.regionEdges))
	res.BestAlone = bestStatic(objs, picks, o.regionEdges, res.CacheBytes)
	h.logf("region: %d apps published in %s, %.1f MB working set, %d-byte cache per edge (%.0f%%)",
		len(objs), time.Since(t0).Round(time.Millisecond), float64(res.WorkingSetBytes)/1e6, res.CacheBytes, res.CacheShare*100)
	secret, err := regionSecrets(h.tmp)
	if err != nil {
		return res, err
	}
	for _, gossip := range []bool{true, false} {
		run, err := h.regionRun(ctx, gossip, secret, objs, picks, res.CacheBytes)
		if gossip {
			res.Region = run
		} else {
			res.Alone = run
		}
		if err != nil {
			return res, fmt.Errorf("%s: %w", modeName(gossip), err)
		}
		h.logf("region %s: %d downloads in %.1f s, %d origin fetches (%.2f per object), peer fills %.0f, failures %.0f",
			run.Mode, run.Answered, run.DurationS, run.OriginFetches, run.FetchesPerObject, run.PeerFills, run.PeerFailures)
	}
	res.FetchRatio = ratio(float64(res.Region.OriginFetches), float64(res.Alone.OriginFetches))
	res.BytesRatio = ratio(float64(res.Region.OriginBytes), float64(res.Alone.OriginBytes))
	// The region's promise, once per object per region, holds when its
	// caches together can hold the working set: each edge half of it.
	res.RoomyCacheBytes = regionCacheBytes(objs, roomyShare)
	roomy, err := h.regionRun(ctx, true, secret, objs, picks, res.RoomyCacheBytes)
	if roomy != nil {
		roomy.Mode = fmt.Sprintf("region, %.0f%% each", roomyShare*100)
		res.Roomy = roomy
	}
	if err != nil {
		return res, fmt.Errorf("roomy region: %w", err)
	}
	h.logf("region, roomy caches: %d origin fetches (%.2f per object)", roomy.OriginFetches, roomy.FetchesPerObject)
	return res, nil
}

// roomyShare is each edge's cache, over the working set, in the run that
// checks the region reads each object from the blob store once. An edge
// keeps copies of what its peers lend it in an eighth of its cache
// (cache.Config.LentBytes) and what it owns in the rest: at 60% that rest
// is 52.5% of the working set, room for the largest share the ring gives
// one of three edges over 60 objects (their count per edge alone varies
// by ±18%). At 50% (43.75% for owned objects) the edge the ring gave
// most churned in one run: 4.25 fetches per object.
const roomyShare = 0.6

// fetchedShare is the bytes of the distinct objects fetches got (200)
// over the working set's.
func fetchedShare(fetches []blobFetch, objs []regionObject) float64 {
	size := make(map[string]int, len(objs))
	total := 0
	for _, o := range objs {
		size[o.SHA] = o.Bytes
		total += o.Bytes
	}
	seen := map[string]bool{}
	got := 0
	for _, f := range fetches {
		if f.status == http.StatusOK && !seen[f.sha] {
			seen[f.sha] = true
			got += size[f.sha]
		}
	}
	if total == 0 {
		return 0
	}
	return round3(float64(got) / float64(total))
}

func modeName(gossip bool) string {
	if gossip {
		return "region"
	}
	return "alone"
}

// publishRegion publishes one app per object, each with a production
// channel serving a zip of random content of its own size.
func (h *harness) publishRegion(ctx context.Context) ([]regionObject, error) {
	o := h.opts
	r := randv2.New(randv2.NewPCG(o.seed, 0x7265676e)) // "regn"
	objs := make([]regionObject, o.regionApps)
	zips := make([][]byte, len(objs))
	for i := range objs {
		size := o.regionMinBytes + r.IntN(o.regionMaxBytes-o.regionMinBytes+1)
		z, err := largeZip(o.seed<<16+uint64(i)+1, size)
		if err != nil {
			return nil, err
		}
		zips[i] = z
		objs[i] = regionObject{App: fmt.Sprintf("%s.a%02d", regionAppPrefix, i), Bytes: len(z), SHA: bundle.SHA256Hex(z)}
	}
	jobs := make(chan int)
	errs := make(chan error, regionPublishers)
	var wg sync.WaitGroup
	for range regionPublishers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				err := h.ensureApp(ctx, objs[i].App)
				if err == nil {
					_, err = h.api.PutBundleZip(ctx, objs[i].App, regionVersion, zips[i])
				}
				if err == nil {
					err = h.setChannel(ctx, objs[i].App, regionVersion)
				}
				if err != nil {
					errs <- fmt.Errorf("publish %s: %w", objs[i].App, err)
					for range jobs {
					}
					return
				}
			}
		}()
	}
	for i := range objs {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	close(errs)
	return objs, <-errs
}

// regionCacheBytes sizes each edge's cache: share of the working set, but
// at least four times the largest object, since the cache keeps objects
// up to a quarter of its size and streams larger ones uncached.
func regionCacheBytes(objs []regionObject, share float64) int64 {
	var total, largest int64
	for _, o := range objs {
		total += int64(o.Bytes)
		largest = max(largest, int64(o.Bytes))
	}
	return max(int64(float64(total)*share), 4*largest)
}

// bestStatic is the best a fixed set of objects could do on picks: with
// edges caches of capacity bytes each, every one serving the picks of its
// own edge (edges 1: one cache for all), each keeps the objects its
// downloads ask for most, as many as fit, taken greedily by requests.
// Misses of what it keeps are only the first fetch of each. It is the
// yardstick of a cache that knows the future popularity and never
// evicts; a greedy fill by requests rather than by requests per byte
// is near enough with objects of similar sizes.
func bestStatic(objs []regionObject, picks []regionPick, edges int, capacity int64) staticBest {
	var out staticBest
	distinct := map[uint16]bool{}
	for e := range edges {
		counts := make([]int, len(objs))
		for _, p := range picks {
			if edges == 1 || int(p.edge) == e {
				counts[p.obj]++
			}
		}
		order := make([]int, len(objs))
		for i := range order {
			order[i] = i
		}
		slices.SortStableFunc(order, func(a, b int) int { return counts[b] - counts[a] })
		var used int64
		for _, i := range order {
			switch {
			case counts[i] == 0:
			case used+int64(objs[i].Bytes) <= capacity:
				used += int64(objs[i].Bytes)
				out.Fetches++
			default:
				out.Fetches += counts[i]
			}
		}
	}
	for _, p := range picks {
		distinct[p.obj] = true
	}
	if len(picks) > 0 {
		out.HitRatio = round3(1 - float64(out.Fetches)/float64(len(picks)))
		out.FetchesPerObject = round3(float64(out.Fetches) / float64(len(distinct)))
	}
	return out
}

// regionSecret is what the region's edges share: the gossip key file
// and the peer token.
type regionSecret struct{ keyFile, peerToken string }

func regionSecrets(dir string) (regionSecret, error) {
	var key, tok [32]byte
	if _, err := rand.Read(key[:]); err != nil {
		return regionSecret{}, err
	}
	if _, err := rand.Read(tok[:]); err != nil {
		return regionSecret{}, err
	}
	s := regionSecret{keyFile: filepath.Join(dir, "region-gossip.key"), peerToken: hex.EncodeToString(tok[:])}
	return s, os.WriteFile(s.keyFile, []byte(base64.StdEncoding.EncodeToString(key[:])+"\n"), 0o600)
}

// regionRun starts the edges of one run, each behind a fresh counting
// proxy and recorder, drives the workload and stops them again.
func (h *harness) regionRun(ctx context.Context, gossip bool, sec regionSecret, objs []regionObject, picks []regionPick, cacheBytes int64) (*regionRun, error) {
	o := h.opts
	run := &regionRun{Mode: modeName(gossip), Gossip: gossip}
	var edges []*child
	var paths []*edgePath
	defer func() {
		stopAll(edges)
		for _, p := range paths {
			p.close()
		}
	}()
	urls, err := h.spawnRegion(gossip, sec, cacheBytes, &edges, &paths)
	if err == nil {
		err = h.waitAllSynced(ctx, h.api, urls)
	}
	want := 0
	if gossip {
		want = len(urls)
	}
	var members []float64
	if err == nil {
		members, err = waitMembers(ctx, urls, float64(want), 30*time.Second)
	}
	if err == nil && objs[0].path == "" {
		err = learnPaths(ctx, urls[0], objs)
	}
	if err != nil {
		return run, err
	}
	clients := make([]*fasthttp.HostClient, len(urls))
	for i, u := range urls {
		clients[i] = newClient(hostOf(u), o.regionConns+1)
	}
	before, err := scrapeEdges(clients, urls)
	if err != nil {
		return run, err
	}
	marks := make([]int, len(paths))
	for i, p := range paths {
		marks[i] = p.proxy.mark()
		p.log.reset()
	}
	cpu0, origin0 := childrenCPU(edges), readProc(h.aloft.pid(), false).cpu
	sys0, own0 := sysCPU(), h.ownCPU()
	load := driveRegion(ctx, clients, urls, objs, picks, o.regionConns, o.regionMaxDur)
	wall := load.dur.Seconds()
	if wall > 0 {
		run.OtherCPUCores = round3(max(0, (sysCPU()-sys0-(h.ownCPU()-own0)).Seconds()/wall))
	}
	cpu1, origin1 := childrenCPU(edges), readProc(h.aloft.pid(), false).cpu
	run.OriginCPUS = round3((origin1 - origin0).Seconds())
	// The proxy records an exchange once its parser has read the answer,
	// a moment after the edge did; let it catch up.
	pause(ctx, 200*time.Millisecond)
	after, err := scrapeEdges(clients, urls)
	if err != nil {
		return run, err
	}
	fetches := make([][]blobFetch, len(urls))
	for i := range urls {
		e := after[i].minus(before[i])
		e.URL, e.Members, e.CPUS = urls[i], members[i], round3((cpu1[i] - cpu0[i]).Seconds())
		e.OriginFetches, e.OriginOther, e.OriginBytes = blobExchanges(paths[i].proxy.since(marks[i]))
		run.Edges = append(run.Edges, e)
		fetches[i] = paths[i].log.all()
		run.Edges[i].FetchedShare = fetchedShare(fetches[i], objs)
		run.ParseErrors = append(run.ParseErrors, paths[i].proxy.parseErrors()...)
		run.ParseErrors = append(run.ParseErrors, paths[i].log.errors()...)
	}
	run.add(load, picks)
	run.OriginMisses, run.ForPeers, run.Recorded = attribute(picks, load.spans, objs, fetches)
	run.figure()
	if load.sent == 0 {
		return run, errors.New("no download was sent")
	}
	return run, ctx.Err()
}

// spawnRegion starts the run's edges, each behind an edgePath of its own
// (appended to *edges and *paths as they start, for the caller to stop):
// with gossip, each binds a gossip port of its own and joins the first.
func (h *harness) spawnRegion(gossip bool, sec regionSecret, cacheBytes int64, edges *[]*child, paths *[]*edgePath) ([]string, error) {
	var urls []string
	var first string
	for i := range h.opts.regionEdges {
		p, err := startEdgePath(h.apiURL)
		if err != nil {
			return urls, err
		}
		*paths = append(*paths, p)
		args := []string{"--cache-bytes", strconv.FormatInt(cacheBytes, 10), "--prefetch-max-bytes", "-1"}
		if gossip {
			addr, err := freeGossipAddr()
			if err != nil {
				return urls, err
			}
			args = append(args, "--region", "bench", "--gossip-bind", addr, "--gossip-key-file", sec.keyFile, "--peer-token", sec.peerToken)
			if i == 0 {
				first = addr
			} else {
				args = append(args, "--join", first)
			}
		}
		c, u, err := h.spawnEdge(p.proxy.url(), h.token, args...)
		if c != nil {
			*edges = append(*edges, c)
		}
		if err != nil {
			return urls, err
		}
		urls = append(urls, u)
	}
	return urls, nil
}

// edgePath is one edge's way to the origin: the counting proxy it is
// given as its origin, and behind it the fetch recorder, which forwards
// to aloft dev's API. The proxy sees the edge's bytes as the edge sent
// them; the recorder's own rewriting (X-Forwarded-For) lies beyond it.
type edgePath struct {
	proxy *wireProxy
	log   *fetchLog
}

func startEdgePath(originURL string) (*edgePath, error) {
	l, err := startFetchLog(originURL)
	if err != nil {
		return nil, err
	}
	px, err := startWireProxy(l.addr())
	if err != nil {
		l.close()
		return nil, err
	}
	return &edgePath{proxy: px, log: l}, nil
}

func (p *edgePath) close() {
	p.proxy.close()
	p.log.close()
}

// blobFetch is one origin blob GET as the recorder saw it: the object,
// when the request arrived and when its answer had been passed on
// (nanoseconds of the monotonic clock since fetchEpoch), and its status.
type blobFetch struct {
	sha        string
	start, end int64
	status     int
}

// fetchEpoch is the zero of every recorded time, so downloads and
// fetches compare on one clock.
var fetchEpoch = time.Now()

func sinceEpoch() int64 { return int64(time.Since(fetchEpoch)) }

// fetchLog is a reverse proxy to the origin that records every blob GET.
type fetchLog struct {
	ln  net.Listener
	srv *http.Server

	mu      sync.Mutex
	fetches []blobFetch
	errs    []string
}

// startFetchLog listens on a free loopback port and forwards everything
// to originURL unchanged but for the proxy headers httputil adds; the
// origin's long-polls pass through as they are.
func startFetchLog(originURL string) (*fetchLog, error) {
	u, err := url.Parse(originURL)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	l := &fetchLog{ln: ln}
	rp := httputil.NewSingleHostReverseProxy(u)
	// No transparent gzip: the answer the edge gets is the origin's.
	rp.Transport = &http.Transport{Proxy: nil, DisableCompression: true, MaxIdleConnsPerHost: 32, IdleConnTimeout: 90 * time.Second}
	rp.ErrorHandler = func(w http.ResponseWriter, r *http.Request, err error) {
		l.mu.Lock()
		l.errs = append(l.errs, fmt.Sprintf("recorder: %s %s: %v", r.Method, r.URL.Path, err))
		l.mu.Unlock()
		w.WriteHeader(http.StatusBadGateway)
	}
	l.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sha, ok := strings.CutPrefix(r.URL.Path, api.Prefix+"/blobs/")
		if !ok || r.Method != http.MethodGet {
			rp.ServeHTTP(w, r)
			return
		}
		start := sinceEpoch()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		rp.ServeHTTP(sw, r)
		l.mu.Lock()
		l.fetches = append(l.fetches, blobFetch{sha: sha, start: start, end: sinceEpoch(), status: sw.status})
		l.mu.Unlock()
	}), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = l.srv.Serve(ln) }()
	return l, nil
}

func (l *fetchLog) addr() string { return l.ln.Addr().String() }

// close cuts every connection, long-polls included.
func (l *fetchLog) close() { _ = l.srv.Close() }

// reset forgets what was recorded (the edge's start-up), keeping errors.
func (l *fetchLog) reset() {
	l.mu.Lock()
	l.fetches = nil
	l.mu.Unlock()
}

// all returns the blob fetches answered 200 since the last reset.
func (l *fetchLog) all() []blobFetch {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []blobFetch
	for _, f := range l.fetches {
		if f.status == http.StatusOK {
			out = append(out, f)
		}
	}
	return out
}

func (l *fetchLog) errors() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.errs...)
}

// statusWriter notes the status an answer was sent with. Flush is passed
// on, so the reverse proxy can flush through it.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// attribute matches every answered download (spans[i] of picks[i]; end
// 0 when it was not answered) with the origin fetches its edge made for
// its object while it was in flight. A fetch runs only while the object
// is not in that edge's cache (fills are singleflight, pre-fetch is
// off), so such a download missed and was filled by its own edge from
// the origin: misses counts them. A fetch no download at its edge
// overlapped was made for a peer (forPeers); total counts the fetches.
// A download that hit just before an eviction and whose span covers the
// refill would be miscounted; with one copy per edge that is rare.
func attribute(picks []regionPick, spans []reqSpan, objs []regionObject, fetches [][]blobFetch) (misses, forPeers, total int) {
	type key struct {
		edge int
		sha  string
	}
	index := map[key][]int{} // → positions in fetches[edge]
	used := make([][]bool, len(fetches))
	for e, fs := range fetches {
		used[e] = make([]bool, len(fs))
		total += len(fs)
		for j, f := range fs {
			k := key{e, f.sha}
			index[k] = append(index[k], j)
		}
	}
	for i, sp := range spans {
		if sp.end == 0 {
			continue
		}
		p := picks[i]
		e := int(p.edge)
		hit := false
		for _, j := range index[key{e, objs[p.obj].SHA}] {
			if f := fetches[e][j]; f.start <= sp.end && f.end >= sp.start {
				used[e][j], hit = true, true
			}
		}
		if hit {
			misses++
		}
	}
	for _, u := range used {
		for _, ok := range u {
			if !ok {
				forPeers++
			}
		}
	}
	return misses, forPeers, total
}

// blobExchanges counts the blob GETs answered 200 among ex, the other
// blob exchanges, and every blob exchange's bytes.
func blobExchanges(ex []exchange) (fetches, other int, bytes int64) {
	for _, e := range ex {
		if e.Kind != "blobs" {
			continue
		}
		if e.Method == http.MethodGet && e.Status == http.StatusOK {
			fetches++
		} else {
			other++
		}
		bytes += e.bytes()
	}
	return fetches, other, bytes
}

// freeGossipAddr picks a loopback port free for TCP and UDP alike:
// gossip binds both on one port.
func freeGossipAddr() (string, error) {
	for range 20 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return "", err
		}
		addr := ln.Addr().String()
		pc, err := net.ListenPacket("udp", addr)
		_ = ln.Close()
		if err == nil {
			_ = pc.Close()
			return addr, nil
		}
	}
	return "", errors.New("no loopback port free for both TCP and UDP")
}

// waitMembers polls each edge's aloft_edge_region_members until it reads
// want, and returns the readings.
func waitMembers(ctx context.Context, urls []string, want float64, timeout time.Duration) ([]float64, error) {
	deadline := time.Now().Add(timeout)
	out := make([]float64, len(urls))
	for i, u := range urls {
		c := newClient(hostOf(u), 1)
		for {
			m, err := scrapeMetrics(c, u)
			if err == nil && m["aloft_edge_region_members"] == want {
				out[i] = want
				break
			}
			if time.Now().After(deadline) || ctx.Err() != nil {
				return out, fmt.Errorf("%s: aloft_edge_region_members is %v (err %v), want %v within %s", u, m["aloft_edge_region_members"], err, want, timeout)
			}
			pause(ctx, 50*time.Millisecond)
		}
	}
	return out, nil
}

// learnPaths asks edge for each app's update and keeps the download path
// its answer names (/b/{sha}/{app}_{version}.zip, edge/view.go).
func learnPaths(ctx context.Context, edge string, objs []regionObject) error {
	c := newClient(hostOf(edge), 1)
	for i := range objs {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		a, body, err := checkOnce(c, edge+"/updates", probeDevice(objs[i].App, "8.51.23", ""))
		if err == nil && (!a.isUpdate() || a.Version != regionVersion) {
			err = fmt.Errorf("answer %s", body)
		}
		var u *url.URL
		if err == nil {
			u, err = url.Parse(a.URL)
		}
		if err != nil {
			return fmt.Errorf("update check of %s: %w", objs[i].App, err)
		}
		if !strings.HasPrefix(u.EscapedPath(), "/b/"+objs[i].SHA+"/") {
			return fmt.Errorf("%s: the update names %s, not the zip %s", objs[i].App, a.URL, objs[i].SHA)
		}
		objs[i].path = u.RequestURI()
	}
	return nil
}

// childrenCPU reads each child's CPU time so far.
func childrenCPU(cs []*child) []time.Duration {
	out := make([]time.Duration, len(cs))
	for i, c := range cs {
		out[i] = readProc(c.pid(), false).cpu
	}
	return out
}

// regionPick is one download of the workload: which object, from which
// edge.
type regionPick struct{ obj, edge uint16 }

// zipfPicks draws n downloads: the object by a Zipf law of exponent s
// (s > 1) over objects ranks, rank 0 the most requested, and the edge
// uniformly. The two draws have sources of their own seeded from seed, so
// one seed is one workload, for the region and the lone edges alike.
// math/rand/v2 has no Zipf, hence math/rand's.
func zipfPicks(seed uint64, s float64, objects, edges, n int) []regionPick {
	z := mrand.NewZipf(mrand.New(mrand.NewSource(int64(seed))), s, 1, uint64(objects-1))
	e := randv2.New(randv2.NewPCG(seed, 0x65646765)) // "edge"
	out := make([]regionPick, n)
	for i := range out {
		out[i] = regionPick{obj: uint16(z.Uint64()), edge: uint16(e.IntN(edges))}
	}
	return out
}

// regionLoad is what the download loop counted.
type regionLoad struct {
	sent, answered, errs, unsent, bytes int64
	kinds, outcomes                     map[string]int64
	dur                                 time.Duration
	// spans holds each download's send and answer times (sinceEpoch);
	// end is 0 for one not answered.
	spans []reqSpan
}

// reqSpan is when one download was sent and answered.
type reqSpan struct{ start, end int64 }

// driveRegion sends picks in order over conns closed-loop connections
// (each takes the next pick when its last download is answered) and
// checks every answer's length, and the SHA-256 of the first copy of
// each object from each edge and of every regionSHAEvery-th download.
// Downloads still unsent after maxDur are counted, not sent.
func driveRegion(ctx context.Context, clients []*fasthttp.HostClient, urls []string, objs []regionObject, picks []regionPick, conns int, maxDur time.Duration) regionLoad {
	var next atomic.Int64
	seen := make([]atomic.Bool, len(urls)*len(objs))
	start := time.Now()
	end := start.Add(maxDur)
	loads := make([]regionLoad, conns)
	spans := make([]reqSpan, len(picks)) // each index is written by the one worker that took it
	var wg sync.WaitGroup
	for w := range loads {
		wg.Add(1)
		go func(l *regionLoad) {
			defer wg.Done()
			l.kinds, l.outcomes = map[string]int64{}, map[string]int64{}
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			for ctx.Err() == nil && time.Now().Before(end) {
				i := next.Add(1) - 1
				if i >= int64(len(picks)) {
					return
				}
				p := picks[i]
				ob := &objs[p.obj]
				req.Reset()
				resp.Reset()
				req.SetRequestURI(urls[p.edge] + ob.path)
				l.sent++
				sent := sinceEpoch()
				err := clients[p.edge].DoTimeout(req, resp, 30*time.Second)
				done := sinceEpoch()
				if err != nil {
					l.errs++
					l.kinds[transportKind(err)]++
					continue
				}
				body := resp.Body()
				kind, outcome := "", "length_checked"
				switch {
				case resp.StatusCode() != fasthttp.StatusOK:
					kind = statusKind(resp.StatusCode())
				case len(body) != ob.Bytes:
					kind = "wrong_length"
				case i%regionSHAEvery == 0 || !seen[int(p.edge)*len(objs)+int(p.obj)].Swap(true):
					if sum := sha256.Sum256(body); hex.EncodeToString(sum[:]) != ob.SHA {
						kind = "wrong_sha256"
					}
					outcome = "sha256_verified"
				}
				if kind != "" {
					l.errs++
					l.kinds[kind]++
					continue
				}
				l.answered++
				spans[i] = reqSpan{sent, done}
				l.outcomes[outcome]++
				l.bytes += int64(len(body))
			}
		}(&loads[w])
	}
	wg.Wait()
	out := regionLoad{kinds: map[string]int64{}, outcomes: map[string]int64{}, dur: time.Since(start), spans: spans}
	for _, l := range loads {
		out.sent += l.sent
		out.answered += l.answered
		out.errs += l.errs
		out.bytes += l.bytes
		addAll(out.kinds, l.kinds)
		addAll(out.outcomes, l.outcomes)
	}
	out.unsent = int64(len(picks)) - out.sent
	return out
}

// edgeCounters reads an edge's counters from its /metrics samples.
func edgeCounters(s map[string]float64) regionEdge {
	e := regionEdge{
		Members: s["aloft_edge_region_members"], Hits: s["aloft_edge_cache_hits"], Loads: s["aloft_edge_cache_loads"],
		PeerFills: s["aloft_edge_peer_fills_total"], PeerFailures: s["aloft_edge_peer_fill_failures_total"],
	}
	for k, v := range s {
		name, labels, ok := strings.Cut(k, "{")
		if !ok || name != "aloft_edge_requests_total" {
			continue
		}
		l := parseLabels(strings.TrimSuffix(labels, "}"))
		ok200 := l["code"] == strconv.Itoa(http.StatusOK)
		switch l["route"] {
		case "download":
			if ok200 {
				e.Downloads += v
			} else {
				e.DownloadErrors += v
			}
		case "peer_blob":
			if ok200 {
				e.PeerServed += v
			} else {
				e.PeerRefused += v
			}
		}
	}
	return e
}

// minus is e's counters since b (Members and the rest stay e's).
func (e regionEdge) minus(b regionEdge) regionEdge {
	e.Downloads -= b.Downloads
	e.DownloadErrors -= b.DownloadErrors
	e.PeerServed -= b.PeerServed
	e.PeerRefused -= b.PeerRefused
	e.Hits -= b.Hits
	e.Loads -= b.Loads
	e.PeerFills -= b.PeerFills
	e.PeerFailures -= b.PeerFailures
	return e
}

// scrapeEdges reads every edge's counters.
func scrapeEdges(clients []*fasthttp.HostClient, urls []string) ([]regionEdge, error) {
	out := make([]regionEdge, len(urls))
	for i, u := range urls {
		s, err := scrapeSeries(clients[i], u)
		if err != nil {
			return nil, fmt.Errorf("%s metrics: %w", u, err)
		}
		out[i] = edgeCounters(s)
	}
	return out, nil
}

// scrapeSeries reads every sample of an edge's /metrics, labelled ones
// too (scrapeMetrics keeps only the unlabelled), keyed by the series as
// exposed: name{label="value",…}.
func scrapeSeries(client *fasthttp.HostClient, base string) (map[string]float64, error) {
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(base + "/metrics")
	if err := client.DoTimeout(req, resp, 5*time.Second); err != nil {
		return nil, err
	}
	if resp.StatusCode() != fasthttp.StatusOK {
		return nil, fmt.Errorf("status %d", resp.StatusCode())
	}
	return parseSeries(string(resp.Body())), nil
}

// parseSeries parses Prometheus text exposition: one sample a line,
// "series value"; comments and lines that do not parse are skipped.
func parseSeries(text string) map[string]float64 {
	out := map[string]float64{}
	for _, line := range strings.Split(text, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i <= 0 {
			continue
		}
		if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
			out[line[:i]] = v
		}
	}
	return out
}

// parseLabels reads `a="x",b="y"` into a map; values may hold escaped
// quotes and commas.
func parseLabels(s string) map[string]string {
	out := map[string]string{}
	for s != "" {
		k, rest, ok := strings.Cut(s, `="`)
		if !ok {
			break
		}
		var v strings.Builder
		i := 0
		for ; i < len(rest) && rest[i] != '"'; i++ {
			if rest[i] == '\\' && i+1 < len(rest) {
				i++
			}
			v.WriteByte(rest[i])
		}
		out[strings.TrimLeft(k, ",")] = v.String()
		if i >= len(rest) {
			break
		}
		s = rest[i+1:]
	}
	return out
}

// add fills the run's counts from the download loop and the edges'
// counters (theirs and their proxies').
func (r *regionRun) add(l regionLoad, picks []regionPick) {
	r.Sent, r.Answered, r.Errors, r.Unsent, r.BytesServed = l.sent, l.answered, l.errs, l.unsent, l.bytes
	r.ErrorsByKind, r.Outcomes = l.kinds, l.outcomes
	r.DurationS = round3(l.dur.Seconds())
	if r.DurationS > 0 {
		r.PerS = round3(float64(r.Answered) / r.DurationS)
	}
	distinct := map[uint16]bool{}
	for _, p := range picks[:l.sent] {
		distinct[p.obj] = true
	}
	r.Distinct = len(distinct)
	for _, e := range r.Edges {
		r.Hits += e.Hits
		r.Loads += e.Loads
		r.PeerFills += e.PeerFills
		r.PeerFailures += e.PeerFailures
		r.PeerServed += e.PeerServed
		r.DeviceGets += e.Downloads + e.DownloadErrors
		r.OriginFetches += e.OriginFetches
		r.OriginFetchErrors += e.OriginOther
		r.OriginBytes += e.OriginBytes
		r.EdgeCPUS = round3(r.EdgeCPUS + e.CPUS)
	}
	r.EdgeOriginFills = r.Loads - r.PeerFills
}

// figure computes the ratios from the counts.
func (r *regionRun) figure() {
	n := float64(r.Answered)
	f := regionFigures{}
	if r.Distinct > 0 {
		f.FetchesPerObject = round3(float64(r.OriginFetches) / float64(r.Distinct))
	}
	if n > 0 {
		f.OriginPer100 = round3(100 * float64(r.OriginFetches) / n)
		f.HitRatio = round3(max(0, 1-float64(r.OriginFetches)/n))
		f.PeerShare = round3(r.PeerFills / n)
		f.LocalHit = round3(max(0, n-r.PeerFills-float64(r.OriginMisses)) / n)
		lo, hi := localHits(r.DeviceGets, r.Hits, r.PeerServed, r.PeerFills+r.PeerFailures)
		f.LocalHitMin, f.LocalHitMax = round3(lo/n), round3(hi/n)
	}
	if r.BytesServed > 0 {
		f.OriginBytesShare = round3(float64(r.OriginBytes) / float64(r.BytesServed))
	}
	r.regionFigures = f
}

// localHits bounds the device downloads answered from the memory of the
// edge they reached, from region-wide counts: dev device lookups, hits
// (device and peer lookups alike), peerOK blobs served to peers (a peer
// lookup that hit was answered 200) and peerAsked owner fetches started
// (each for a device lookup that missed; pre-fetch is off). A peer
// lookup hits at most once per answer, so device hits are at least
// hits − peerOK; device misses are at least peerAsked, and hits are an
// upper bound themselves. Without peers both bounds are the hits.
func localHits(dev, hits, peerOK, peerAsked float64) (lo, hi float64) {
	lo = max(0, hits-peerOK)
	hi = max(lo, min(hits, dev-peerAsked))
	return lo, hi
}
