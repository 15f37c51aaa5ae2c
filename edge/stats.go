// Stats intake: events are folded into a bounded set of names (apps,
// versions the catalog knows, the actions capgo lists, "other" for the
// rest), rate limited per device and per app, and counted per (app,
// version, action) in memory; every StatsFlushInterval the counts go to
// the spool (spool.go), from where they are shipped (ship.go). A flood of
// events costs the origin one write per flush rather than one per event,
// and junk names cost it nothing.

package edge

import (
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/aloft/aloft/capgo"
)

// statsRetryNoCatalog is the Retry-After of /stats on an edge that has no
// catalog yet; edges usually get one within a second of starting.
const statsRetryNoCatalog = 5

// statsDeviceCells is the per-device stats limiter's counters per row
// (1 MiB a row). With a million devices a minute on one edge a cell holds
// about four of them, tens of events, far below StatsDeviceLimit; the
// limiter only over-counts, and a device's count is the lower of two cells.
const statsDeviceCells = 1 << 18

type statsKey struct{ app, version, action string }

type statsAgg struct {
	mu     sync.Mutex
	max    int
	counts map[statsKey]*int64
}

func newStatsAgg(max int) *statsAgg {
	return &statsAgg{max: max, counts: map[statsKey]*int64{}}
}

// addAll counts events under one lock and returns how many were dropped
// because the table is full. The keys' strings point into request bodies:
// a new key is cloned so the table does not pin a whole body.
func (s *statsAgg) addAll(keys []statsKey) (dropped int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range keys {
		// Never assign through k: Go stores the assigning key again on
		// every map write of a string key, which would swap an aliased
		// key in and let the reused body rewrite it.
		if c := s.counts[k]; c != nil {
			*c++
			continue
		}
		if len(s.counts) >= s.max {
			dropped++
			continue
		}
		one := int64(1)
		s.counts[statsKey{strings.Clone(k.app), strings.Clone(k.version), strings.Clone(k.action)}] = &one
	}
	return dropped
}

// drain returns the counts gathered since the last drain.
func (s *statsAgg) drain() map[statsKey]*int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.counts) == 0 {
		return nil
	}
	c := s.counts
	s.counts = make(map[statsKey]*int64, len(c))
	return c
}

// statsFold is what folding one body did, for the metrics and the limits.
type statsFold struct {
	events, unknownApp, spurious, version, action int
	// devices are the events per device id, in runs (a body normally comes
	// from one device); the ids alias the body.
	devices []deviceRun
}

type deviceRun struct {
	device string
	n      int
}

// foldEvent returns the key an event counts under, or false when it does
// not count. The key's strings may alias the body.
func (f *statsFold) foldEvent(v *view, ev *capgo.StatsEvent) (statsKey, bool) {
	f.events++
	if k := len(f.devices) - 1; k >= 0 && f.devices[k].device == ev.DeviceID {
		f.devices[k].n++
	} else if ev.DeviceID != "" {
		f.devices = append(f.devices, deviceRun{ev.DeviceID, 1})
	}
	if ev.Err != nil {
		return statsKey{}, false
	}
	if ev.Action == "download_fail" && capgo.FeaturesOf(ev.PluginVersion).SpuriousDownloadFail {
		f.spurious++
		return statsKey{}, false
	}
	av := v.apps[lowerASCII(ev.AppID)]
	if av == nil {
		f.unknownApp++
		return statsKey{}, false
	}
	ver, vf := capgo.StatsBuiltin, false
	// normalise marks both "builtin" and a version_name equal to
	// version_build (plugins ≥ 8.44 on the builtin bundle) as OnBuiltin,
	// and update checks treat both as builtin: so do stats.
	if !ev.OnBuiltin {
		ver, vf = capgo.FoldStatsVersion(ev.VersionName, av.versions)
	}
	act, af := capgo.FoldStatsAction(ev.Action)
	if vf {
		f.version++
	}
	if af {
		f.action++
	}
	return statsKey{av.app.ID, ver, act}, true
}

// handleStats accepts one event or a batch (reference §2). Every event of
// a known app is answered ok, junk names included (a 4xx would make the
// plugin drop the batch; counting them under "other" keeps the state
// bounded). Counts are gathered while decoding and added under one lock,
// only once the whole body proved well-formed and within the limits.
func (n *Node) handleStats(ctx *fasthttp.RequestCtx) {
	v := n.view.Load()
	if v.index == 0 {
		n.statsUnavailable(ctx)
		return
	}
	bp := n.getBuf()
	defer n.putBuf(bp)
	answer := append((*bp)[:0], capgo.StatsBatchAnswerOpen...)
	keys := make([]statsKey, 0, 16)
	var f statsFold
	batch, err := capgo.ScanStats(ctx.PostBody(), func(ev *capgo.StatsEvent) {
		answer = capgo.AppendStatsResult(answer, f.events, ev.Err)
		if k, ok := f.foldEvent(v, ev); ok {
			keys = append(keys, k)
		}
	})
	*bp = answer
	if err != nil {
		decodeFailure(ctx, err)
		return
	}
	if n.statsLimited(ctx, &f, keys) {
		return
	}
	n.metrics.countFold(&f)
	if dropped := n.stats.addAll(keys); dropped > 0 {
		n.metrics.statsDropped(dropTableFull).Add(float64(dropped))
	}
	if !batch {
		writeRaw(ctx, fasthttp.StatusOK, `{"status":"ok"}`)
		return
	}
	answer = append(answer, capgo.StatsBatchAnswerClose...)
	*bp = answer
	ctx.SetContentType("application/json")
	ctx.SetBody(answer)
}

// statsLimited answers 429 when a device or an app of the body is over its
// event limit; the plugin keeps the events and sends them after
// Retry-After.
func (n *Node) statsLimited(ctx *fasthttp.RequestCtx, f *statsFold, keys []statsKey) bool {
	now := time.Now()
	retry, reason := 0, ""
	if n.statsDevices != nil {
		for _, d := range f.devices {
			if ok, r := n.statsDevices.allowN(d.device, d.n, now); !ok && r > retry {
				retry, reason = r, dropDeviceLimit
			}
		}
	}
	if n.statsApps != nil && retry == 0 {
		for i := 0; i < len(keys); {
			j := i + 1
			for j < len(keys) && keys[j].app == keys[i].app {
				j++
			}
			// keys[i].app is the catalog's string, safe to keep.
			if ok, r := n.statsApps.allowN(keys[i].app, j-i, now); !ok && r > retry {
				retry, reason = r, dropAppLimit
			}
			i = j
		}
	}
	if retry == 0 {
		return false
	}
	n.metrics.statsDropped(reason).Add(float64(f.events))
	writeRetryLater(ctx, fasthttp.StatusTooManyRequests, "too_many_requests", "Too many stats events", retry)
	return true
}

// statsUnavailable answers an edge without a catalog: it cannot tell
// which events to keep, so it answers 503, which the plugin re-queues,
// rather than 200 and dropping them.
func (n *Node) statsUnavailable(ctx *fasthttp.RequestCtx) {
	events := 0
	_, _ = capgo.ScanStats(ctx.PostBody(), func(*capgo.StatsEvent) { events++ })
	n.metrics.statsDropped(dropNoCatalog).Add(float64(events))
	writeRetryLater(ctx, fasthttp.StatusServiceUnavailable, "service_unavailable",
		"This edge has no catalog from the origin yet; retry later", statsRetryNoCatalog)
}

// writeRetryLater writes a refusal the plugin retries, with the retry hint
// both as Retry-After and as moreInfo.retryAfterSeconds (reference §1.5).
func writeRetryLater(ctx *fasthttp.RequestCtx, status int, code, message string, retry int) {
	s := strconv.Itoa(retry)
	ctx.Response.Header.Set("Retry-After", s)
	ctx.SetContentType("application/json")
	ctx.SetStatusCode(status)
	ctx.SetBodyString(`{"error":"` + code + `","message":"` + message + `","moreInfo":{"retryAfterSeconds":` + s + `}}`)
}

func lowerASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if b[j] >= 'A' && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}
