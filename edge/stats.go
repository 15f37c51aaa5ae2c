// Stats intake: events are folded into a bounded set of names (apps,
// channels and versions the catalog knows, the actions capgo lists,
// plain plugin versions, "other" for the rest), rate limited per device
// and per app, and counted per minute and (app, channel, version, plugin
// version, platform, action) in memory; each device's events also go to
// the devices table (seen.go) for its timeline. Every StatsFlushInterval
// both go to the spool (spool.go), from where they are shipped (ship.go).
// A flood of events costs the origin one batch per flush rather than one
// write per event, and junk names cost it nothing.

package edge

import (
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/aloft/aloft/capgo"
	"github.com/aloft/aloft/origin/api"
)

// statsRetryNoCatalog is the Retry-After of /stats on an edge that has no
// catalog yet; edges usually get one within a second of starting.
const statsRetryNoCatalog = 5

// statsDeviceCells is the per-device stats limiter's counters per row
// (1 MiB a row). With a million devices a minute on one edge a cell holds
// about four of them, tens of events, far below StatsDeviceLimit; the
// limiter only over-counts, and a device's count is the lower of two cells.
const statsDeviceCells = 1 << 18

// statsKey is one pre-aggregated cell: a minute and the folded
// dimensions of an event.
type statsKey struct {
	minute                                          int64
	app, channel, version, plugin, platform, action string
}

// statsCell is a cell's count and, for download completions that named
// their duration, a histogram of it by api.DurationBucket.
type statsCell struct {
	n   int64
	dur map[int]int64
}

// statsObs is one folded event: its cell and its duration in ms (-1 for
// none).
type statsObs struct {
	key statsKey
	dur int64
}

type statsAgg struct {
	mu     sync.Mutex
	max    int
	counts map[statsKey]*statsCell
}

func newStatsAgg(max int) *statsAgg {
	return &statsAgg{max: max, counts: map[statsKey]*statsCell{}}
}

// addAll counts events under one lock and returns how many were dropped
// because the table is full. The keys' strings may point into request
// bodies: a new key is cloned so the table does not pin a whole body.
func (s *statsAgg) addAll(obs []statsObs) (dropped int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range obs {
		k := &obs[i].key
		// Never assign through k: Go stores the assigning key again on
		// every map write of a string key, which would swap an aliased
		// key in and let the reused body rewrite it.
		c := s.counts[*k]
		if c == nil {
			if len(s.counts) >= s.max {
				dropped++
				continue
			}
			c = &statsCell{}
			s.counts[statsKey{k.minute, strings.Clone(k.app), strings.Clone(k.channel), strings.Clone(k.version),
				strings.Clone(k.plugin), strings.Clone(k.platform), strings.Clone(k.action)}] = c
		}
		c.n++
		if d := obs[i].dur; d >= 0 {
			if c.dur == nil {
				c.dur = map[int]int64{}
			}
			c.dur[api.DurationBucket(d)]++
		}
	}
	return dropped
}

// drain returns the counts gathered since the last drain.
func (s *statsAgg) drain() map[statsKey]*statsCell {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.counts) == 0 {
		return nil
	}
	c := s.counts
	s.counts = make(map[statsKey]*statsCell, len(c))
	return c
}

// statsFold is what folding one body did, for the metrics and the limits.
type statsFold struct {
	events, unknownApp, spurious, version, action int
	// devices are the events per device id, in runs (a body normally comes
	// from one device); the ids alias the body.
	devices []deviceRun
	// minute and nowMs are the receive time every event of the body gets.
	minute, nowMs int64
}

type deviceRun struct {
	device string
	n      int
}

// foldEvent returns the cell an event counts in, or false when it does
// not count. The key's strings may alias the body.
func (f *statsFold) foldEvent(v *view, ev *capgo.StatsEvent) (statsObs, bool) {
	f.events++
	if k := len(f.devices) - 1; k >= 0 && f.devices[k].device == ev.DeviceID {
		f.devices[k].n++
	} else if ev.DeviceID != "" {
		f.devices = append(f.devices, deviceRun{ev.DeviceID, 1})
	}
	if ev.Err != nil {
		return statsObs{}, false
	}
	if ev.Action == "download_fail" && capgo.FeaturesOf(ev.PluginVersion).SpuriousDownloadFail {
		f.spurious++
		return statsObs{}, false
	}
	av := v.apps[lowerASCII(ev.AppID)]
	if av == nil {
		f.unknownApp++
		return statsObs{}, false
	}
	ver, vf := av.statsVersion(&ev.Info)
	act, af := capgo.FoldStatsAction(ev.Action)
	if vf {
		f.version++
	}
	if af {
		f.action++
	}
	o := statsObs{dur: -1, key: statsKey{minute: f.minute, app: av.app.ID, channel: av.statsChannel(ev.DefaultChannel),
		version: ver, plugin: capgo.FoldPluginVersion(ev.PluginVersion), platform: capgo.FoldPlatform(ev.Platform), action: act}}
	if capgo.IsDownloadDone(act) {
		o.dur = metadataDuration(ev.Metadata)
	}
	return o, true
}

// statsVersion is the version bucket a device's stats and activity count
// under. normalise marks both "builtin" and a version_name equal to
// version_build (plugins ≥ 8.44 on the builtin bundle) as OnBuiltin, and
// update checks treat both as builtin: so do stats.
func (av *appView) statsVersion(in *capgo.Info) (string, bool) {
	if in.OnBuiltin {
		return capgo.StatsBuiltin, false
	}
	return capgo.FoldStatsVersion(in.VersionName, av.versions)
}

// statsChannel is the channel a device asked for, as the catalog names
// it: "" for none, "other" for one the app does not have.
func (av *appView) statsChannel(name string) string {
	if name == "" {
		return ""
	}
	if cv := av.channels[name]; cv != nil {
		return cv.ch.Name
	}
	return capgo.StatsOther
}

// metadataDuration reads metadata.duration_ms (a number of ms, as a
// string or a number), or -1.
func metadataDuration(raw string) int64 {
	d := int64(-1)
	_ = capgo.EachMetadata(raw, func(k, v string) {
		if k != "duration_ms" {
			return
		}
		if f, err := strconv.ParseFloat(v, 64); err == nil && f >= 0 && f < 1e15 {
			d = int64(f)
		}
	})
	return d
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
	keys := make([]statsObs, 0, 16)
	var evs []seenEvent
	now := time.Now()
	f := statsFold{minute: now.Unix() / 60, nowMs: now.UnixMilli()}
	batch, err := capgo.ScanStats(ctx.PostBody(), func(ev *capgo.StatsEvent) {
		answer = capgo.AppendStatsResult(answer, f.events, ev.Err)
		if k, ok := f.foldEvent(v, ev); ok {
			keys = append(keys, k)
			if ev.DeviceID != "" {
				evs = append(evs, newSeenEvent(&k.key, ev, f.nowMs))
			}
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
	n.seen.addEvents(evs)
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
func (n *Node) statsLimited(ctx *fasthttp.RequestCtx, f *statsFold, keys []statsObs) bool {
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
			for j < len(keys) && keys[j].key.app == keys[i].key.app {
				j++
			}
			// key.app is the catalog's string, safe to keep.
			if ok, r := n.statsApps.allowN(keys[i].key.app, j-i, now); !ok && r > retry {
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
//
// A 429 also carries X-RateLimit-Reset (epoch seconds) and
// moreInfo.rateLimitResetAt (epoch ms), as Capgo's backend sends.
func writeRetryLater(ctx *fasthttp.RequestCtx, status int, code, message string, retry int) {
	s := strconv.Itoa(retry)
	ctx.Response.Header.Set("Retry-After", s)
	ctx.SetContentType("application/json")
	ctx.SetStatusCode(status)
	if status != fasthttp.StatusTooManyRequests {
		ctx.SetBodyString(`{"error":"` + code + `","message":"` + message + `","moreInfo":{"retryAfterSeconds":` + s + `}}`)
		return
	}
	reset := time.Now().Add(time.Duration(retry) * time.Second)
	ctx.Response.Header.Set("X-RateLimit-Reset", strconv.FormatInt(reset.Unix(), 10))
	ctx.SetBodyString(`{"error":"` + code + `","message":"` + message + `","moreInfo":{"retryAfterSeconds":` + s +
		`,"rateLimitResetAt":` + strconv.FormatInt(reset.UnixMilli(), 10) + `}}`)
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
