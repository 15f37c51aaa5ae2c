// Sync scenario, catalog bytes on the wire: one `aloft edge` syncs from
// aloft dev's origin through the counting proxy (wireproxy.go). A change
// costs the feed exchanges that carried it: the edge's parked long-poll
// request and the answer with the records, which is also what an edge
// sends and receives for it in production (the next long-poll request
// is the next change's, or the next idle minute's). Measured:
//
//   - moves: the channel goes back and forth between two bundles; the
//     one it leaves stays servable (served last), so the edge holds both
//     and a move is one channel record;
//   - new bundles: a bundle with a zip and a manifest of distinct files
//     is published and the channel moved to it, from the publish request
//     until the edge holds it; reported next to the gzip size of its
//     manifest's JSON;
//   - idle: bytes both ways while nothing changes, with the origin's
//     production long-poll (50 s), so a minute holds one or two polls.

package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/aloft/aloft/bundle"
	"github.com/aloft/aloft/origin/api"
)

const syncWireApp = "com.bench.sync.wire"

// wireChange is what one change (or the first sync) cost on the wire.
type wireChange struct {
	Kind    string `json:"kind"` // first_sync, move, new_bundle
	Version string `json:"version,omitempty"`
	Index   uint64 `json:"index"`
	// Bytes is request + answer bytes of the feed exchanges that brought
	// the edge to Index; OtherBytes what other exchanges (keys, blobs,
	// stats) moved meanwhile.
	Bytes int64 `json:"bytes"`
	// ReqBytes and RespBytes split Bytes into the edge's requests and
	// the origin's answers.
	ReqBytes   int64          `json:"req_bytes"`
	RespBytes  int64          `json:"resp_bytes"`
	OtherBytes int64          `json:"other_bytes"`
	Exchanges  int            `json:"exchanges"`
	Records    map[string]int `json:"records,omitempty"`
	// ManifestJSON and ManifestGzip (default level; ManifestGzipFast at
	// the level the origin's feed uses) size the new bundle's manifest
	// as JSON, with the sizes the origin fills in.
	ManifestJSON     int `json:"manifest_json_bytes,omitempty"`
	ManifestGzip     int `json:"manifest_gzip_bytes,omitempty"`
	ManifestGzipFast int `json:"manifest_gzip_fast_bytes,omitempty"`
}

// wireIdle is the idle window.
type wireIdle struct {
	Seconds   float64 `json:"seconds"`
	BytesUp   int64   `json:"bytes_up"`
	BytesDown int64   `json:"bytes_down"`
	// BytesPerMinute is both directions over the window, per minute.
	BytesPerMinute float64          `json:"bytes_per_minute"`
	Exchanges      []exchange       `json:"exchanges"`
	ByKind         map[string]int64 `json:"bytes_by_kind"`
}

// wireResult is the wire phase's part of the report.
type wireResult struct {
	Proxy      string       `json:"proxy"`
	Edge       string       `json:"edge"`
	Files      int          `json:"files_per_new_bundle"`
	FirstSync  wireChange   `json:"first_sync"`
	Moves      []wireChange `json:"moves"`
	NewBundles []wireChange `json:"new_bundles"`
	// Means (and the worst move) over the changes.
	MoveBytesMean      float64 `json:"move_bytes_mean"`
	MoveBytesMax       int64   `json:"move_bytes_max"`
	NewBundleBytesMean float64 `json:"new_bundle_bytes_mean"`
	ManifestGzipMean   float64 `json:"manifest_gzip_mean"`
	// NewBundleOverGzip is NewBundleBytesMean / ManifestGzipMean.
	NewBundleOverGzip float64   `json:"new_bundle_over_manifest_gzip"`
	Idle              *wireIdle `json:"idle,omitempty"`
	ParseErrors       []string  `json:"parse_errors,omitempty"`
}

// wireRig is the proxied edge, kept running into the idle window.
type wireRig struct {
	proxy *wireProxy
	edge  *child
	url   string
	res   *wireResult
}

func (w *wireRig) close() {
	if w == nil {
		return
	}
	w.edge.stop()
	w.proxy.close()
}

// syncWire measures the changes; the idle window is started and finished
// by the caller, so it can overlap work on other origins.
func (h *harness) syncWire(ctx context.Context) (*wireRig, error) {
	o := h.opts
	if err := h.ensureApp(ctx, syncWireApp); err != nil {
		return nil, err
	}
	pool, err := h.uploadPool(ctx, h.api, 1)
	if err != nil {
		return nil, err
	}
	// Two bundles the channel moves between.
	for _, v := range []string{"1.0.0", "1.0.1"} {
		err := pool.putBundle(ctx, h.api, syncWireApp, v, o.syncFiles)
		if err == nil {
			err = h.setChannel(ctx, syncWireApp, v)
		}
		if err != nil {
			return nil, err
		}
	}
	proxy, err := startWireProxy(hostOf(h.apiURL))
	if err != nil {
		return nil, err
	}
	w := &wireRig{proxy: proxy, res: &wireResult{Proxy: proxy.url(), Files: o.syncFiles}}
	if w.edge, w.url, err = h.spawnEdge(proxy.url(), h.token, "--pprof-addr", "127.0.0.1:0"); err != nil {
		proxy.close()
		return nil, err
	}
	w.res.Edge = w.url
	h.logf("sync wire: edge %s through proxy %s", w.url, proxy.url())
	if w.res.FirstSync, err = h.wireStep(ctx, w, "first_sync", "1.0.1", func() error { return nil }); err == nil {
		err = h.wireChanges(ctx, w, pool)
	}
	w.res.summarize()
	return w, err
}

// wireChanges makes the moves and the new bundles the proxy counts.
func (h *harness) wireChanges(ctx context.Context, w *wireRig, pool *blobPool) error {
	o := h.opts
	for i := 0; i < o.syncMoves; i++ {
		v := []string{"1.0.0", "1.0.1"}[i%2]
		c, err := h.wireStep(ctx, w, "move", v, func() error { return h.setChannel(ctx, syncWireApp, v) })
		if err != nil {
			return err
		}
		w.res.Moves = append(w.res.Moves, c)
	}
	for i := 0; i < o.syncNewBundles; i++ {
		v := fmt.Sprintf("1.1.%d", i)
		man, err := h.wireFiles(ctx, v)
		if err != nil {
			return err
		}
		c, err := h.wireStep(ctx, w, "new_bundle", v, func() error {
			_, err := h.api.PutBundle(ctx, syncWireApp, v, api.PutBundle{Zip: pool.zip, Manifest: man})
			if err == nil {
				err = h.setChannel(ctx, syncWireApp, v)
			}
			return err
		})
		if err != nil {
			return err
		}
		c.ManifestJSON, c.ManifestGzip, c.ManifestGzipFast = manifestSizes(man)
		w.res.NewBundles = append(w.res.NewBundles, c)
	}
	return nil
}

// wireStep runs change, waits until the edge answers version, and
// accounts what crossed the proxy meanwhile.
func (h *harness) wireStep(ctx context.Context, w *wireRig, kind, version string, change func() error) (wireChange, error) {
	c := wireChange{Kind: kind, Version: version}
	mark := w.proxy.mark()
	if kind == "first_sync" {
		mark = 0 // everything the edge exchanged since it started
	}
	if err := change(); err != nil {
		return c, err
	}
	// The edge answering the version is what says the change arrived
	// (the origin's feed index may not have moved yet when the write is
	// acknowledged); the proxy may record the answer that carried it a
	// moment after forwarding it.
	d := probeDevice(syncWireApp, "8.51.23", "0.0.0-probe")
	_, err := waitVersion(ctx, newClient(hostOf(w.url), 1), w.url+"/updates", d, version, h.opts.propTimeout)
	var hl edgeHealth
	if err == nil {
		hl, err = fetchHealth(ctx, &http.Client{Timeout: 5 * time.Second}, w.url)
	}
	if err == nil {
		_, err = w.proxy.waitFeed(ctx, mark, hl.Index, h.opts.propTimeout)
	}
	if err != nil {
		return c, fmt.Errorf("%s %s: %w", kind, version, err)
	}
	c.Index = hl.Index
	// Everything completed until the edge served the change: the feed
	// answer(s) that carried it, and what the edge asked for besides
	// before it could install it (its first sync fetches the signing
	// keys). The long-poll it parks next completes with the next change.
	for _, e := range w.proxy.since(mark) {
		if e.Kind != "feed" {
			c.OtherBytes += e.bytes()
			continue
		}
		c.Bytes += e.bytes()
		c.ReqBytes += e.ReqBytes
		c.RespBytes += e.RespBytes
		c.Exchanges++
		for k, n := range e.Records {
			if c.Records == nil {
				c.Records = map[string]int{}
			}
			c.Records[k] += n
		}
	}
	return c, nil
}

// wireFiles uploads syncFiles distinct small payloads for a new bundle
// (a real build's files differ, so their blob hashes do too) and returns
// its manifest, sizes filled in as the origin records them.
func (h *harness) wireFiles(ctx context.Context, version string) ([]api.ManifestEntry, error) {
	man := make([]api.ManifestEntry, h.opts.syncFiles)
	for i := range man {
		data := []byte(fmt.Sprintf("/* %s %s */ export const f%d = %q;\n", syncWireApp, version, i, bytes.Repeat([]byte{'a' + byte(i%26)}, 200+i)))
		if err := h.putBlob(ctx, data); err != nil {
			return nil, err
		}
		sha := bundle.SHA256Hex(data)
		name := fmt.Sprintf("assets/chunk-%03d-%s.js", i, sha[:8])
		if i == 0 {
			name = "index.html"
		}
		man[i] = api.ManifestEntry{FileName: name, FileHash: sha, Blob: sha, Size: int64(len(data))}
	}
	return man, nil
}

// manifestSizes is the manifest's JSON size and its gzip size at the
// default level and at BestSpeed.
func manifestSizes(man []api.ManifestEntry) (raw, gz, fast int) {
	b, _ := json.Marshal(man) // plain strings and ints
	return len(b), gzipLen(b, gzip.DefaultCompression), gzipLen(b, gzip.BestSpeed)
}

func gzipLen(b []byte, level int) int {
	var out bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&out, level) // a valid level
	_, _ = zw.Write(b)
	_ = zw.Close()
	return out.Len()
}

func (r *wireResult) summarize() {
	var sum int64
	for _, m := range r.Moves {
		sum += m.Bytes
		r.MoveBytesMax = max(r.MoveBytesMax, m.Bytes)
	}
	if len(r.Moves) > 0 {
		r.MoveBytesMean = round3(float64(sum) / float64(len(r.Moves)))
	}
	var nb, gz float64
	for _, c := range r.NewBundles {
		nb += float64(c.Bytes)
		gz += float64(c.ManifestGzip)
	}
	if n := float64(len(r.NewBundles)); n > 0 {
		r.NewBundleBytesMean, r.ManifestGzipMean = round3(nb/n), round3(gz/n)
		r.NewBundleOverGzip = ratio(nb, gz)
	}
}

// idleWindow is an idle measurement under way.
type idleWindow struct {
	t0       time.Time
	up, down int64
	mark     int
}

func (w *wireRig) startIdle(ctx context.Context) *idleWindow {
	// The window starts once the edge has pre-fetched what the wire
	// phase published: those blob fetches are the changes' cost, not
	// an idle edge's.
	mc := newClient(strings.TrimPrefix(w.url, "http://"), 1)
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline) && ctx.Err() == nil; pause(ctx, 100*time.Millisecond) {
		if m, err := scrapeMetrics(mc, w.url); err == nil && m["aloft_edge_prefetch_pending"] == 0 && m["aloft_edge_prefetched_total"] > 0 {
			break
		}
	}
	up, down := w.proxy.totals()
	return &idleWindow{t0: time.Now(), up: up, down: down, mark: w.proxy.mark()}
}

// finishIdle waits until the window has lasted d, then records it.
func (w *wireRig) finishIdle(ctx context.Context, iw *idleWindow, d time.Duration) error {
	if rest := time.Until(iw.t0.Add(d)); rest > 0 {
		pause(ctx, rest)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	up, down := w.proxy.totals()
	secs := time.Since(iw.t0).Seconds()
	idle := &wireIdle{Seconds: round3(secs), BytesUp: up - iw.up, BytesDown: down - iw.down,
		Exchanges: w.proxy.since(iw.mark), ByKind: map[string]int64{}}
	idle.BytesPerMinute = round3(float64(idle.BytesUp+idle.BytesDown) / secs * 60)
	for _, e := range idle.Exchanges {
		idle.ByKind[e.Kind] += e.bytes()
	}
	w.res.Idle = idle
	w.res.ParseErrors = w.proxy.parseErrors()
	return nil
}
