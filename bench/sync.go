// Scenario sync: what the catalog sync (a signed snapshot, then deltas
// on a 50 s long-poll) costs and how fast it is, in three parts:
//
//   - propagation: publish/rollback changes timed until every one of N
//     `aloft edge` processes answers them, for each N of -sync-edges;
//   - wire (sync_wire.go): bytes per change and per idle minute, counted
//     by a proxy between one edge and the origin;
//   - big (sync_big.go): a 1,000-app catalog on an origin of its own: a
//     fresh edge's first sync, its memory, propagation, and check
//     throughput beside a 10-app catalog's in the same run.
//
// The idle window needs a catalog nobody writes to for minutes; the big
// part writes only to its own origins, so the two overlap.

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"time"

	"github.com/aloft/aloft/origin/api"
)

const syncPropApp = "com.bench.sync.prop"

// syncPropRun is the propagation series at one edge count.
type syncPropRun struct {
	// Spawned is how many `aloft edge` processes were measured (aloft
	// dev's in-process edge is not among them).
	Spawned int `json:"spawned"`
	// SyncedS is how long the edges added for this count took to start
	// and catch up.
	SyncedS float64 `json:"synced_s"`
	*propagationResult
}

// syncResult is the sync scenario's part of the report.
type syncResult struct {
	Propagation []syncPropRun `json:"propagation"`
	Wire        *wireResult   `json:"wire,omitempty"`
	Big         *bigResult    `json:"big,omitempty"`
	// BigSkipped says why the large catalog was not measured.
	BigSkipped string `json:"big_skipped,omitempty"`
	// OtherCPUCores is, per part, what the rest of the machine used.
	OtherCPUCores map[string]float64 `json:"other_cpu_cores"`
}

func runSync(ctx context.Context, h *harness) (*syncResult, error) {
	res := &syncResult{OtherCPUCores: map[string]float64{}}
	part := func(name string, run func() error) error {
		t, sys, own := time.Now(), sysCPU(), h.ownCPU()
		err := run()
		if wall := time.Since(t).Seconds(); wall > 0 {
			res.OtherCPUCores[name] = round3(max(0, (sysCPU()-sys-(h.ownCPU()-own)).Seconds()/wall))
		}
		if err != nil {
			return fmt.Errorf("sync %s: %w", name, err)
		}
		h.logf("sync %s done in %s", name, time.Since(t).Round(time.Millisecond))
		return nil
	}
	if err := part("propagation", func() (err error) { res.Propagation, err = h.syncPropagation(ctx); return }); err != nil {
		return res, err
	}
	var w *wireRig
	defer func() { w.close() }()
	if err := part("wire", func() (err error) { w, err = h.syncWire(ctx); return }); err != nil {
		if w != nil {
			res.Wire = w.res
		}
		return res, err
	}
	res.Wire = w.res
	idle := w.startIdle(ctx)
	h.logf("sync: idle window of %s started on the wire edge", h.opts.syncIdle)
	var bigErr error
	if h.opts.syncBig {
		bigErr = part("big", func() (err error) { res.Big, err = h.syncBig(ctx); return })
	} else {
		res.BigSkipped = "not run: the quick preset leaves it out (-sync-big runs it)"
	}
	if err := part("idle", func() error { return w.finishIdle(ctx, idle, h.opts.syncIdle) }); err != nil {
		return res, err
	}
	return res, bigErr
}

// syncPropagation runs the change series at each edge count, adding
// edges between counts; they are stopped at the end.
func (h *harness) syncPropagation(ctx context.Context) ([]syncPropRun, error) {
	o := h.opts
	var spawned []*child
	defer func() { stopAll(spawned) }()
	var urls []string
	if err := h.ensureApp(ctx, syncPropApp); err != nil {
		return nil, err
	}
	base, err := h.propBundle(ctx, syncPropApp, "3.0.0", 999)
	if err == nil {
		err = h.setChannel(ctx, syncPropApp, base)
	}
	if err != nil {
		return nil, err
	}
	var out []syncPropRun
	for _, n := range o.syncEdges {
		t0 := time.Now()
		cs, us, err := h.startEdges(n - len(urls))
		spawned, urls = append(spawned, cs...), append(urls, us...)
		if err == nil {
			err = h.waitAllSynced(ctx, h.api, urls)
		}
		if err != nil {
			return out, fmt.Errorf("%d edges: %w", n, err)
		}
		run := syncPropRun{Spawned: n, SyncedS: round3(time.Since(t0).Seconds())}
		// Every edge shares the servers' one core here: probes of each
		// every millisecond would be 50,000 checks/s at 50 edges, more
		// work than the sync itself. The period grows with the count so
		// they add about 3,000 checks/s at most; the installed figures,
		// from each edge's own clock, do not depend on it.
		poll := time.Millisecond * time.Duration(max(1, n/3))
		h.logf("sync propagation: %d changes on %d edges (synced in %.1f s), each polled every %s", o.syncChanges, n, run.SyncedS, poll)
		run.propagationResult, err = h.propagateSeries(ctx, changeSeries{
			api: h.api, app: syncPropApp, edges: slices.Clone(urls), base: base, changes: o.syncChanges, poll: poll,
			procs: slices.Clone(spawned), origin: h.aloft,
			publish: func(ctx context.Context, i int) (string, error) {
				return h.propBundle(ctx, syncPropApp, fmt.Sprintf("3.%d.%d", n, i), i)
			},
		})
		if err != nil {
			return out, fmt.Errorf("%d edges: %w", n, err)
		}
		out = append(out, run)
		// The series ends on a publish or a rollback; either way the
		// next count starts from what the channel serves now.
		if s := run.Samples; len(s) > 0 {
			base = s[len(s)-1].Version
		}
	}
	return out, nil
}

// originIndex asks the origin c talks to for its signed catalog index:
// a feed request "after" any index answers at once, 204 with the index
// in its header.
// Just after a write the origin may answer 500 "no signed catalog state
// yet" for a moment (between projecting the new index and signing it),
// so an error is retried for a few seconds.
func originIndex(ctx context.Context, c *api.Client) (uint64, error) {
	deadline := time.Now().Add(5 * time.Second)
	for {
		idx, err := originIndexOnce(ctx, c)
		if err == nil || time.Now().After(deadline) || ctx.Err() != nil {
			return idx, err
		}
		pause(ctx, time.Millisecond)
	}
}

func originIndexOnce(ctx context.Context, c *api.Client) (uint64, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.Base()+api.Prefix+"/sync/feed?after="+strconv.FormatUint(1<<63, 10), nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+c.Token())
	resp, err := c.HTTP().Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	idx, err := strconv.ParseUint(resp.Header.Get(api.HeaderIndex), 10, 64)
	if err != nil || idx == 0 {
		return 0, fmt.Errorf("origin index: status %d, %s %q", resp.StatusCode, api.HeaderIndex, resp.Header.Get(api.HeaderIndex))
	}
	return idx, nil
}

// edgeHealth is the part of an edge's /healthz the harness reads.
type edgeHealth struct {
	Status string `json:"status"`
	Index  uint64 `json:"index"`
	// AgeSeconds is how long ago the edge verified the state it holds.
	AgeSeconds float64 `json:"age_seconds"`
}

func httpGet(ctx context.Context, hc *http.Client, url string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	return hc.Do(req)
}

// fetchHealth reads edge's /healthz (503 while it starts still has a body).
func fetchHealth(ctx context.Context, hc *http.Client, edge string) (edgeHealth, error) {
	var hl edgeHealth
	resp, err := httpGet(ctx, hc, edge+"/healthz")
	if err != nil {
		return hl, err
	}
	defer resp.Body.Close()
	return hl, json.NewDecoder(resp.Body).Decode(&hl)
}

// readHealth reads edge's /healthz and whether /readyz says ready.
func readHealth(ctx context.Context, hc *http.Client, edge string) (edgeHealth, bool, error) {
	hl, err := fetchHealth(ctx, hc, edge)
	if err != nil {
		return hl, false, err
	}
	resp, err := httpGet(ctx, hc, edge+"/readyz")
	if err != nil {
		return hl, false, err
	}
	resp.Body.Close()
	return hl, resp.StatusCode == http.StatusOK, nil
}

// waitSynced polls edge every 10 ms until it serves index or later.
func waitSynced(ctx context.Context, edge string, index uint64, timeout time.Duration) error {
	hc := &http.Client{Timeout: 5 * time.Second}
	deadline := time.Now().Add(timeout)
	var last string
	for {
		hl, ready, err := readHealth(ctx, hc, edge)
		if err == nil && ready && hl.Index >= index {
			return nil
		}
		last = fmt.Sprintf("%+v ready=%v err=%v", hl, ready, err)
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("%s did not reach index %d within %s: %s", edge, index, timeout, last)
		}
		pause(ctx, 10*time.Millisecond)
	}
}

// waitAllSynced waits until every edge serves the origin's index.
func (h *harness) waitAllSynced(ctx context.Context, c *api.Client, edges []string) error {
	idx, err := originIndex(ctx, c)
	if err != nil {
		return err
	}
	for _, e := range edges {
		if err := waitSynced(ctx, e, idx, time.Minute); err != nil {
			return err
		}
	}
	return nil
}

// procStatus reads VmRSS and VmHWM of pid, in MB.
func procStatus(pid int) (rss, hwm float64) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0
	}
	r, _ := statusBytes(b, "VmRSS")
	w, _ := statusBytes(b, "VmHWM")
	return mb(r), mb(w)
}
