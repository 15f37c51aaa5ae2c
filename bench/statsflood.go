// Scenario stats: update checks alone, then the same checks beside a
// flood of stats events — single objects from plugins that send them one
// by one, arrays of up to statsBatchMax events from batching plugins — to
// show whether check latency suffers.

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// statsResult is the stats scenario's part of the report.
type statsResult struct {
	// Edge says which edge was measured.
	Edge            string    `json:"edge"`
	CheckRate       float64   `json:"check_rate"`
	StatsRate       float64   `json:"stats_rate"` // requests per second
	ChecksAlone     *runStats `json:"checks_alone"`
	ChecksWithFlood *runStats `json:"checks_with_flood"`
	Stats           *runStats `json:"stats"`
	// EventsSent counts events in the stats requests sent; EventsCounted
	// is what the edge's aloft_edge_stats_events_total grew by.
	EventsSent    int64   `json:"events_sent"`
	EventsCounted float64 `json:"events_counted"`
	// EventsAcked counts the events of requests the edge answered 200:
	// every one of them must be counted.
	EventsAcked int64 `json:"events_acked"`
	// EventsPerCoreSecond is stats events ingested per second of one edge
	// core: events counted over the edge CPU the flood turns used beyond
	// the checks-alone turns (same check rate, same length).
	EventsPerCoreSecond float64 `json:"events_per_core_second"`
	ArrayShare          float64 `json:"array_share"`
	// EventsPerCheck sizes the flood: events per second over checks per
	// second. StatsRate = CheckRate × EventsPerCheck / EventsPerRequest.
	EventsPerCheck   float64 `json:"events_per_check"`
	EventsPerRequest float64 `json:"events_per_request"`
	// P99Ratio is check p99 with the flood over p99 without.
	P99Ratio float64 `json:"p99_ratio"`
}

// statsActions are actions plugins send in normal life (reference §2.3).
func statsActions() []string {
	return []string{"app_moved_to_foreground", "app_moved_to_background", "app_launch_start", "app_launch_ready",
		"webview_page_loaded", "download_complete", "set", "download_zip_start", "download_10", "download_90",
		"update_fail", "webview_javascript_error"}
}

// statsBodies pre-encodes a pool of stats bodies so the flood costs the
// generator no JSON encoding; events of one body come from one device.
func statsBodies(fl *fleet, count, batchMax int, seed uint64) (bodies [][]byte, events []int, arrays int) {
	r := rand.New(rand.NewPCG(seed, 7))
	acts := statsActions()
	for i := 0; i < count; i++ {
		d := fl.devices[r.IntN(len(fl.devices))]
		v := d.running()
		ts := int64(1_764_256_000_000 + i*1000)
		if !d.batchesStats() {
			b, _ := json.Marshal(d.event(acts[r.IntN(len(acts))], v, "", ts))
			bodies, events = append(bodies, b), append(events, 1)
			continue
		}
		n := 1 + r.IntN(batchMax)
		evs := make([]statsBody, n)
		for j := range evs {
			evs[j] = d.event(acts[r.IntN(len(acts))], v, "", ts+int64(j))
			if j%10 == 9 {
				evs[j].Metadata = map[string]string{"source": "bench", "n": "1"}
			}
		}
		b, _ := json.Marshal(evs)
		bodies, events, arrays = append(bodies, b), append(events, n), arrays+1
	}
	return bodies, events, arrays
}

func statsPlan(addr string, fl *fleet, bodies [][]byte, events []int, sent, acked *atomic.Int64, rate float64, conns int, dur time.Duration) plan {
	url := "http://" + addr + "/stats"
	n := int64(len(bodies))
	return plan{
		name: "stats flood", rate: rate, conns: conns, duration: dur, client: newClient(addr, conns),
		fill: func(i int64, req *fasthttp.Request) {
			req.SetRequestURI(url)
			req.Header.SetMethod(fasthttp.MethodPost)
			req.Header.SetContentType("application/json")
			req.SetBody(bodies[i%n])
			sent.Add(int64(events[i%n]))
		},
		judge: func(i int64, resp *fasthttp.Response) (string, string) {
			if resp.StatusCode() != fasthttp.StatusOK {
				return "", statusKind(resp.StatusCode())
			}
			if !bytes.HasPrefix(resp.Body(), []byte(`{"status":"ok"`)) {
				return "", "bad_body"
			}
			acked.Add(int64(events[i%n]))
			return "ok", ""
		},
	}
}

// sizeFlood picks the check rate and builds the flood's bodies, sized so
// that events per second = checks per second × statsPerCheck.
func sizeFlood(h *harness, fl *fleet) (*statsResult, [][]byte, []int) {
	o := h.opts
	res := &statsResult{CheckRate: o.checkRate, EventsPerCheck: o.statsPerCheck}
	if res.CheckRate <= 0 {
		// A quarter of Aloft's measured peak, so the checks alone leave
		// the server room for the flood.
		res.CheckRate = 1000
		if h.aloftPeak > 0 {
			res.CheckRate = float64(int(h.aloftPeak / 4))
		}
	}
	bodies, events, arrays := statsBodies(fl, 512, o.statsBatchMax, o.seed)
	res.ArrayShare = round3(float64(arrays) / float64(len(bodies)))
	total := 0
	for _, n := range events {
		total += n
	}
	res.EventsPerRequest = round3(float64(total) / float64(len(events)))
	res.StatsRate = max(1, float64(int(res.CheckRate*o.statsPerCheck/res.EventsPerRequest)))
	return res, bodies, events
}

func runStatsFlood(ctx context.Context, h *harness) (*statsResult, error) {
	if h.checkBody == nil {
		if err := h.setupCheckinsApp(ctx); err != nil {
			return nil, err
		}
	}
	o := h.opts
	fl := newFleet(checkinsApp, o.devices, o.seed+303)
	fl.setMix(checkinsVersion, upToDateShare)
	res, bodies, events := sizeFlood(h, fl)
	// An `aloft edge` of its own, as in checkins: aloft dev's edge shares
	// its process with the origin, whose ingestion of the very batches the
	// flood makes (and raft, the feed) would count against the check path
	// that production edges do not share with it.
	ec, edgeURL, err := h.spawnEdge(h.apiURL, h.token)
	if err != nil {
		return nil, fmt.Errorf("stats: start the edge: %w", err)
	}
	defer ec.stop()
	edgeAddr := strings.TrimPrefix(edgeURL, "http://")
	if _, err := waitVersion(ctx, newClient(edgeAddr, 1), edgeURL+"/updates", probeDevice(checkinsApp, "6.14.25", ""), checkinsVersion, o.propTimeout); err != nil {
		return nil, fmt.Errorf("stats: the edge: %w", err)
	}
	res.Edge = "aloft edge (pid of its own), shipping to aloft dev"
	pid := ec.pid()
	h.logf("stats: checks at %.0f/s alone, then beside %.0f stats requests/s, %s each in %d alternating turns", res.CheckRate, res.StatsRate, o.statsDur, o.turns)
	mc := newClient(edgeAddr, 1)
	before, err := scrapeMetrics(mc, edgeURL)
	if err != nil {
		return nil, err
	}
	var sent, acked atomic.Int64
	turn := o.statsDur / time.Duration(o.turns)
	for t := 0; t < o.turns && ctx.Err() == nil; t++ {
		accumulate(&res.ChecksAlone, measure(ctx, pid, checksPlan("checks alone", edgeAddr, fl, res.CheckRate, o.openConns, turn)))
		var flood *runStats
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			flood = run(ctx, statsPlan(edgeAddr, fl, bodies, events, &sent, &acked, res.StatsRate, o.openConns, turn))
		}()
		checks := measure(ctx, pid, checksPlan("checks with stats flood", edgeAddr, fl, res.CheckRate, o.openConns, turn))
		wg.Wait()
		// One meter covered both streams: the same figures, not a second share.
		flood.Server, flood.Generator, flood.OtherCPUCores = checks.Server, checks.Generator, checks.OtherCPUCores
		accumulate(&res.ChecksWithFlood, checks)
		accumulate(&res.Stats, flood)
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	for _, st := range []*runStats{res.ChecksAlone, res.ChecksWithFlood, res.Stats} {
		st.finish()
	}
	res.EventsSent, res.EventsAcked = sent.Load(), acked.Load()
	if after, err := scrapeMetrics(mc, edgeURL); err == nil {
		res.EventsCounted = after["aloft_edge_stats_events_total"] - before["aloft_edge_stats_events_total"]
	}
	if extra := res.ChecksWithFlood.Server.CPUSeconds - res.ChecksAlone.Server.CPUSeconds; extra > 0 {
		res.EventsPerCoreSecond = float64(int(res.EventsCounted / extra))
	}
	res.P99Ratio = ratio(res.ChecksWithFlood.Latency.P99, res.ChecksAlone.Latency.P99)
	return res, nil
}
