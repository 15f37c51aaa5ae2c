// Scenario downloads: the release bundle (about 5 MB) fetched over and over
// by a fixed number of connections, from the edge's memory, from the bare
// server's memory and from nginx's disk with sendfile. The edge's own
// cache counters tell whether it really served from memory.

package main

import (
	"context"
	"fmt"
	"time"

	"github.com/valyala/fasthttp"
)

const downloadsApp = "com.bench.downloads"

// downloadsResult is the downloads scenario's part of the report.
type downloadsResult struct {
	BundleBytes int       `json:"bundle_bytes"`
	Conns       int       `json:"conns"`
	Aloft       *runStats `json:"aloft"`
	Bare        *runStats `json:"bare"`
	Nginx       *runStats `json:"nginx,omitempty"`
	NginxError  string    `json:"nginx_error,omitempty"`
	// CacheHits and CacheLoads are the edge's byte-cache counters during
	// the Aloft run: loads > 0 means some answers came from the origin.
	CacheHits  float64 `json:"cache_hits"`
	CacheLoads float64 `json:"cache_loads"`
	// RatioBare and RatioNginx compare bytes per second.
	RatioBare  float64 `json:"ratio_bare"`
	RatioNginx float64 `json:"ratio_nginx"`
}

// downloadPlan fetches url again and again, closed loop: the figure is
// bytes per second at saturation.
func downloadPlan(name, addr, url string, size, conns int, dur time.Duration) plan {
	return plan{
		name: name, conns: conns, duration: dur, client: newClient(addr, conns), timeout: time.Minute,
		fill: func(_ int64, req *fasthttp.Request) { req.SetRequestURI(url) },
		judge: func(_ int64, resp *fasthttp.Response) (string, string) {
			if resp.StatusCode() != fasthttp.StatusOK {
				return "", statusKind(resp.StatusCode())
			}
			if len(resp.Body()) != size {
				return "", "short_body"
			}
			return "ok", ""
		},
	}
}

// bundleURL publishes the big build in the downloads app and returns the
// zip's URL as the edge hands it out.
func (h *harness) bundleURL(ctx context.Context) (string, error) {
	big, err := h.bigBuild()
	if err != nil {
		return "", err
	}
	if err := h.ensureApp(ctx, downloadsApp); err != nil {
		return "", err
	}
	if err := h.publishZip(ctx, downloadsApp, big); err != nil {
		return "", err
	}
	if err := h.setChannel(ctx, downloadsApp, big.version); err != nil {
		return "", err
	}
	client := newClient(h.edgeAddr, 1)
	d := probeDevice(downloadsApp, "8.51.23", "")
	if _, err := waitVersion(ctx, client, h.edgeURL+"/updates", d, big.version, h.opts.propTimeout); err != nil {
		return "", err
	}
	a, _, err := checkOnce(client, h.edgeURL+"/updates", d)
	if err != nil {
		return "", err
	}
	return a.URL, nil
}

func runDownloads(ctx context.Context, h *harness) (*downloadsResult, error) {
	if err := h.ensureBare(ctx); err != nil {
		return nil, err
	}
	url, err := h.bundleURL(ctx)
	if err != nil {
		return nil, err
	}
	o := h.opts
	size := len(h.big.zip)
	res := &downloadsResult{BundleBytes: size, Conns: o.dlConns}
	// Warm the edge: the first request fills the cache from the origin.
	run(ctx, downloadPlan("warm-up", h.edgeAddr, url, size, 1, o.dlDur/8))
	metrics := newClient(h.edgeAddr, 1)
	before, err := scrapeMetrics(metrics, h.edgeURL)
	if err != nil {
		return nil, fmt.Errorf("edge metrics: %w", err)
	}
	cs := []contender{
		{h.aloft.pid(), downloadPlan("aloft edge", h.edgeAddr, url, size, o.dlConns, o.dlDur)},
		{h.bare.pid(), downloadPlan("bare memory", h.bareAddr, "http://"+h.bareAddr+"/b/bundle.zip", size, o.dlConns, o.dlDur)},
	}
	if err := h.ensureNginx(); err != nil {
		// Reported, not fatal: the other figures still stand.
		res.NginxError = err.Error()
	} else {
		nurl := h.nginxURL + "/bundle.zip"
		run(ctx, downloadPlan("warm-up", hostOf(h.nginxURL), nurl, size, 1, o.dlDur/8))
		cs = append(cs, contender{h.nginx.pid(), downloadPlan("nginx sendfile", hostOf(h.nginxURL), nurl, size, o.dlConns, o.dlDur)})
	}
	h.logf("downloads: %d-byte bundle, %d connections, %s per server in %d alternating turns", size, o.dlConns, o.dlDur, o.turns)
	runs := interleave(ctx, cs, o.turns)
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	res.Aloft, res.Bare = runs[0], runs[1]
	if len(runs) > 2 {
		res.Nginx = runs[2]
		res.RatioNginx = ratio(res.Aloft.MBps, res.Nginx.MBps)
	}
	res.RatioBare = ratio(res.Aloft.MBps, res.Bare.MBps)
	if after, err := scrapeMetrics(metrics, h.edgeURL); err == nil {
		res.CacheHits = after["aloft_edge_cache_hits"] - before["aloft_edge_cache_hits"]
		res.CacheLoads = after["aloft_edge_cache_loads"] - before["aloft_edge_cache_loads"]
	}
	return res, nil
}
