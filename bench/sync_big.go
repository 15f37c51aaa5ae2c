// Sync scenario, large catalog: two `aloft origin` processes of their
// own (aloft dev's catalog stays idle for the wire phase's idle window),
// one seeded with -sync-apps apps (1,000), the other with
// -sync-small-apps (10) of the same shape: 5 channels, 50 bundles of
// 100 manifest files per app, each channel moved once (so it serves one
// bundle and served another: ten servable bundles per app travel to
// edges). Then:
//
//   - a fresh `aloft edge` on the large origin: time from its start
//     until /readyz answers 200 and /healthz serves the origin's index,
//     and its VmRSS and VmHWM (with a heap profile kept for a look);
//   - propagation of channel changes on one of its apps;
//   - check throughput (closed loop, as checkins measures its peak) of
//     that edge with the fleet spread over every app, in interleaved
//     turns with an edge of the small origin whose fleet covers its 10
//     apps: the same devices per run, the same answers, only the
//     catalog's size differs.

package main

import (
	"bufio"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/aloft/aloft/origin/api"
)

// bigResult is the large-catalog part of the report.
type bigResult struct {
	Apps           int `json:"apps"`
	SmallApps      int `json:"small_apps"`
	Channels       int `json:"channels"`
	BundlesPerApp  int `json:"bundles_per_app"`
	FilesPerBundle int `json:"files_per_bundle"`
	PoolBlobs      int `json:"pool_blobs"`
	// Servable is how many bundles of the large catalog travel to edges.
	Servable    int       `json:"servable_bundles"`
	Seed        seedStats `json:"seed"`
	SmallSeed   seedStats `json:"small_seed"`
	OriginIndex uint64    `json:"origin_index"`
	// OriginRSSMB is the large origin's VmRSS once seeded.
	OriginRSSMB float64 `json:"origin_rss_mb"`
	// ReadyS and FirstSyncS run from the fresh edge's process start to
	// /readyz 200 and to /healthz serving OriginIndex.
	ReadyS     float64 `json:"ready_s"`
	FirstSyncS float64 `json:"first_sync_s"`
	// OriginSettleS is how long the origin was left to settle after
	// seeding before the fresh edge started.
	OriginSettleS float64 `json:"origin_settle_s"`
	// RSS of the fresh edge: VmRSS once synced, VmHWM (its peak, the
	// first sync included) then, and both again after the check runs.
	RSSSyncedMB float64 `json:"rss_synced_mb"`
	HWMSyncedMB float64 `json:"hwm_synced_mb"`
	RSSEndMB    float64 `json:"rss_end_mb"`
	HWMEndMB    float64 `json:"hwm_end_mb"`
	// Heap and HeapEnd are the Go runtime's figures once synced and after
	// the check runs, read right after a forced GC, so HeapAlloc is the
	// live heap (from /debug/pprof/heap).
	Heap    map[string]float64 `json:"heap_mb,omitempty"`
	HeapEnd map[string]float64 `json:"heap_end_mb,omitempty"`
	// HeapProfiles are files beside report.json, the edge's live heap
	// once synced and after the check runs:
	// go tool pprof -sample_index=inuse_space -top FILE.
	HeapProfiles []string `json:"heap_profiles,omitempty"`
	pprof        string   // the fresh edge's pprof base URL
	SmallRSSMB   float64  `json:"small_edge_rss_mb"`
	// Snapshot is what a fresh edge's first feed answer weighs, fetched
	// again by the harness once the edge synced.
	Snapshot *snapshotSize `json:"snapshot,omitempty"`

	Propagation *propagationResult `json:"propagation"`
	// ChecksBig and ChecksSmall are the closed-loop runs; Ratio is the
	// large catalog's throughput over the small one's.
	ChecksBig   *runStats `json:"checks_big"`
	ChecksSmall *runStats `json:"checks_small"`
	Ratio       float64   `json:"throughput_ratio"`
}

// originChild is an `aloft origin` the sync scenario runs.
type originChild struct {
	c   *child
	api *api.Client
	url string
}

// startOrigin starts a lone `aloft origin` in the run's temp dir.
func (h *harness) startOrigin(name, token string) (*originChild, error) {
	args := []string{"origin", "--node-id", name, "--data", filepath.Join(h.tmp, "origin-"+name),
		"--api-addr", "127.0.0.1:0", "--gc-interval", "0", "--api-max-conns-per-ip", "0"}
	c, err := h.startEnv(name, []string{"ALOFT_ADMIN_TOKEN=" + token}, h.aloftBin, args...)
	if err != nil {
		return nil, err
	}
	h.others = append(h.others, c)
	rest, err := waitLine(c, originReady, time.Minute)
	if err != nil {
		return nil, err
	}
	url := strings.TrimSpace(rest)
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64, IdleConnTimeout: time.Minute}}
	return &originChild{c: c, api: api.NewClient(url, token, hc), url: url}, nil
}

func (h *harness) syncBig(ctx context.Context) (*bigResult, error) {
	o := h.opts
	shape := catalogShape{prefix: "com.bench.big", apps: o.syncApps, channels: o.syncChannels, bundles: o.syncBundles, files: o.syncFiles}
	small := shape
	small.prefix, small.apps = "com.bench.small", o.syncSmallApps
	res := &bigResult{Apps: shape.apps, SmallApps: small.apps, Channels: shape.channels, BundlesPerApp: shape.bundles,
		FilesPerBundle: shape.files, PoolBlobs: o.syncPool, Servable: shape.servable()}
	token := "bench_" + api.NewIdempotencyKey()
	var procs []*child
	defer func() { stopAll(procs) }()
	bo, so, err := h.seedOrigins(ctx, token, shape, small, res, &procs)
	if err != nil {
		return res, err
	}
	fresh, freshURL, err := h.freshEdge(ctx, bo, token, res)
	if fresh != nil {
		procs = append(procs, fresh)
	}
	if err != nil {
		return res, err
	}
	h.logf("sync big: fresh edge ready in %.2f s, synced index %d in %.2f s, VmRSS %.0f MB, VmHWM %.0f MB",
		res.ReadyS, res.OriginIndex, res.FirstSyncS, res.RSSSyncedMB, res.HWMSyncedMB)
	if res.Snapshot, err = fetchSnapshot(ctx, bo.api); err != nil {
		return res, err
	}
	smallEdge, smallURL, err := h.spawnEdge(so.url, token)
	if smallEdge != nil {
		procs = append(procs, smallEdge)
	}
	if err == nil {
		err = h.waitAllSynced(ctx, so.api, []string{smallURL})
	}
	if err != nil {
		return res, err
	}
	if res.Propagation, err = h.bigPropagation(ctx, bo, shape, fresh, freshURL); err != nil {
		return res, err
	}
	h.bigChecks(ctx, res, shape, small, fresh, freshURL, smallEdge, smallURL)
	res.RSSEndMB, res.HWMEndMB = procStatus(fresh.pid())
	res.SmallRSSMB, _ = procStatus(smallEdge.pid())
	res.HeapEnd = h.heapSnapshot(ctx, res, "sync-big-edge-end.heap.pb.gz")
	return res, nil
}

// seedOrigins starts the small and the large catalog's origins (added
// to procs, for the caller to stop) and seeds them, small first.
func (h *harness) seedOrigins(ctx context.Context, token string, shape, small catalogShape, res *bigResult, procs *[]*child) (bo, so *originChild, err error) {
	o := h.opts
	for _, s := range []struct {
		name  string
		oc    **originChild
		shape catalogShape
		out   *seedStats
	}{{"sync-small", &so, small, &res.SmallSeed}, {"sync-big", &bo, shape, &res.Seed}} {
		oc, err := h.startOrigin(s.name, token)
		if oc != nil {
			*procs = append(*procs, oc.c)
		}
		if err != nil {
			return nil, nil, err
		}
		*s.oc = oc
		h.logf("sync big: seeding %d apps × %d bundles × %d files, %d channels each, %d writers", s.shape.apps, s.shape.bundles, s.shape.files, s.shape.channels, o.syncSeedWorkers)
		pool, err := h.uploadPool(ctx, oc.api, o.syncPool)
		if err == nil {
			*s.out, err = h.seedCatalog(ctx, oc.api, s.shape, pool, o.syncSeedWorkers, "sync big: seeding "+s.shape.prefix)
		}
		if err != nil {
			return nil, nil, err
		}
		h.logf("sync big: %s seeded: %d writes in %.1f s (%.0f/s)", s.shape.prefix, s.out.Writes, s.out.Seconds, s.out.WritesPerS)
	}
	res.OriginRSSMB, _ = procStatus(bo.c.pid())
	res.OriginIndex, err = originIndex(ctx, bo.api)
	return bo, so, err
}

// freshEdge starts an edge on the large origin and times its first sync.
func (h *harness) freshEdge(ctx context.Context, bo *originChild, token string, res *bigResult) (*child, string, error) {
	// After 61,000 writes the origin compacts its log and collects a
	// heap of gigabytes for a while, on the core the edge gets: the
	// first sync is timed once it has settled (under 5% of a core over
	// a second, for at most a minute).
	settle := time.Now()
	for prev := cpuOf([]*child{bo.c}); time.Since(settle) < time.Minute && ctx.Err() == nil; {
		pause(ctx, time.Second)
		cur := cpuOf([]*child{bo.c})
		if cur-prev < 50*time.Millisecond {
			break
		}
		prev = cur
	}
	res.OriginSettleS = round3(time.Since(settle).Seconds())
	h.logf("sync big: the origin settled in %.1f s", res.OriginSettleS)
	t0 := time.Now()
	c, url, err := h.spawnEdge(bo.url, token, "--pprof-addr", "127.0.0.1:0")
	if err != nil {
		return c, url, err
	}
	hc := &http.Client{Timeout: 5 * time.Second}
	deadline := t0.Add(h.opts.syncFirstSyncMax)
	for res.FirstSyncS == 0 {
		hl, ready, err := readHealth(ctx, hc, url)
		now := time.Since(t0).Seconds()
		if err == nil && ready && res.ReadyS == 0 {
			res.ReadyS = round3(now)
		}
		if err == nil && ready && hl.Index >= res.OriginIndex {
			res.FirstSyncS = round3(now)
			break
		}
		if c.exited() {
			return c, url, fmt.Errorf("the fresh edge exited during its first sync: %v\n%s", c.err, c.tail())
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return c, url, fmt.Errorf("the fresh edge did not sync index %d within %s: %+v %v", res.OriginIndex, h.opts.syncFirstSyncMax, hl, err)
		}
		pause(ctx, 10*time.Millisecond)
	}
	res.RSSSyncedMB, res.HWMSyncedMB = procStatus(c.pid())
	if rest, err := waitLine(c, "aloft: pprof on ", 5*time.Second); err == nil {
		res.pprof = strings.TrimSuffix(strings.TrimSpace(rest), "/")
		res.Heap = h.heapSnapshot(ctx, res, "sync-big-edge-synced.heap.pb.gz")
	}
	return c, url, nil
}

// heapSnapshot saves the fresh edge's heap profile (after a forced GC)
// as file and returns the runtime's figures right after that GC. Read
// after VmRSS and VmHWM, so the GC it forces does not flatter them.
func (h *harness) heapSnapshot(ctx context.Context, res *bigResult, file string) map[string]float64 {
	if res.pprof == "" {
		return nil
	}
	hc := &http.Client{Timeout: time.Minute}
	if saveHeapProfile(ctx, hc, res.pprof, filepath.Join(h.opts.out, file)) == nil {
		res.HeapProfiles = append(res.HeapProfiles, file)
	}
	return heapStats(ctx, hc, res.pprof)
}

// snapshotSize is one snapshot answer of the feed.
type snapshotSize struct {
	GzipBytes int64 `json:"gzip_bytes"`
	JSONBytes int64 `json:"json_bytes"`
	// Seconds runs from the request to the answer's last byte (the
	// origin encodes and compresses while it sends).
	Seconds float64 `json:"seconds"`
}

// fetchSnapshot asks the origin c talks to for a snapshot, as a fresh
// edge does, and weighs it on the wire and inflated.
func fetchSnapshot(ctx context.Context, c *api.Client) (*snapshotSize, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.Base()+api.Prefix+"/sync/feed?after=0", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.Token())
	req.Header.Set("Accept-Encoding", "gzip") // set by hand: the transport then leaves the body compressed
	t0 := time.Now()
	resp, err := c.HTTP().Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Encoding") != "gzip" {
		return nil, fmt.Errorf("snapshot: status %d, encoding %q", resp.StatusCode, resp.Header.Get("Content-Encoding"))
	}
	wire := &countingReader{r: resp.Body}
	zr, err := gzip.NewReader(wire)
	if err != nil {
		return nil, err
	}
	n, err := io.Copy(io.Discard, zr)
	if err != nil {
		return nil, err
	}
	return &snapshotSize{GzipBytes: wire.n, JSONBytes: n, Seconds: round3(time.Since(t0).Seconds())}, nil
}

// heapStats reads the runtime's memory figures (MB) from the text heap
// profile's MemStats footer.
func heapStats(ctx context.Context, hc *http.Client, base string) map[string]float64 {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/heap?debug=1", nil)
	if err != nil {
		return nil
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimPrefix(sc.Text(), "# "), " = ")
		if !ok {
			continue
		}
		switch k {
		case "HeapAlloc", "HeapInuse", "HeapSys", "HeapIdle", "HeapReleased", "Sys", "StackInuse":
			if n, err := strconv.ParseFloat(v, 64); err == nil {
				out[k] = mb(int64(n))
			}
		}
	}
	return out
}

func saveHeapProfile(ctx context.Context, hc *http.Client, base, file string) error {
	return fetchTo(ctx, hc, base+"/heap?gc=1", file)
}

// bigPropagation moves production of the large catalog's first app:
// new bundles (zip and manifest over the pool) and rollbacks.
func (h *harness) bigPropagation(ctx context.Context, bo *originChild, shape catalogShape, edge *child, url string) (*propagationResult, error) {
	app := shape.app(0)
	pool, err := h.uploadPool(ctx, bo.api, h.opts.syncPool) // stored already: only checks
	if err != nil {
		return nil, err
	}
	h.logf("sync big: %d changes on %s, one edge", h.opts.syncChanges, app)
	return h.propagateSeries(ctx, changeSeries{
		api: bo.api, app: app, edges: []string{url}, base: shape.current(), changes: h.opts.syncChanges, poll: time.Millisecond,
		procs: []*child{edge}, origin: bo.c,
		publish: func(ctx context.Context, i int) (string, error) {
			v := fmt.Sprintf("2.0.%d", i)
			return v, pool.putBundle(ctx, bo.api, app, v, shape.files)
		},
	})
}

// bigChecks measures both edges' check peaks in interleaved turns.
func (h *harness) bigChecks(ctx context.Context, res *bigResult, shape, small catalogShape, big *child, bigURL string, se *child, smallURL string) {
	o := h.opts
	bf, sf := spreadFleet(shape.appIDs(), o.devices, o.seed+7), spreadFleet(small.appIDs(), o.devices, o.seed+7)
	bf.setMix(shape.current(), upToDateShare)
	sf.setMix(small.current(), upToDateShare)
	bigAddr, smallAddr := hostOf(bigURL), hostOf(smallURL)
	warmUp(ctx, bigAddr, bf, o.peakConns, o.peakDur/8)
	warmUp(ctx, smallAddr, sf, o.peakConns, o.peakDur/8)
	h.logf("sync big: check peak, %d devices over %d apps vs over %d apps, %s each in %d turns", len(bf.devices), shape.apps, small.apps, o.peakDur, o.turns)
	runs := interleave(ctx, []contender{
		{big.pid(), checksPlan(fmt.Sprintf("%d-app catalog", shape.apps), bigAddr, bf, 0, o.peakConns, o.peakDur)},
		{se.pid(), checksPlan(fmt.Sprintf("%d-app catalog", small.apps), smallAddr, sf, 0, o.peakConns, o.peakDur)},
	}, o.turns)
	res.ChecksBig, res.ChecksSmall = runs[0], runs[1]
	if res.ChecksBig != nil && res.ChecksSmall != nil {
		res.Ratio = ratio(res.ChecksBig.Throughput, res.ChecksSmall.Throughput)
	}
}

// warmUp runs the fleet closed loop until every device has checked once,
// sized from a short first run (at most a minute): the edge caches each
// encoded answer per bundle and plugin shape, gzipping it once, and over
// 1,000 apps that fill takes seconds that are not the steady state.
func warmUp(ctx context.Context, addr string, fl *fleet, conns int, short time.Duration) {
	st := run(ctx, checksPlan("warm-up", addr, fl, 0, conns, short))
	if st.Throughput <= 0 {
		return
	}
	need := time.Duration(1.2 * float64(len(fl.devices)) / st.Throughput * float64(time.Second))
	run(ctx, checksPlan("warm-up", addr, fl, 0, conns, min(max(need, short), time.Minute)))
}

// spreadFleet draws n devices over apps, interleaved so a round robin
// over the fleet visits every app in turn.
func spreadFleet(apps []string, n int, seed uint64) *fleet {
	per := max(1, n/len(apps))
	subs := make([]*fleet, len(apps))
	for i, a := range apps {
		subs[i] = newFleet(a, per, seed+uint64(i))
	}
	f := &fleet{app: apps[0]}
	for k := 0; k < per; k++ {
		for _, s := range subs {
			f.devices = append(f.devices, s.devices[k])
		}
	}
	return f
}
