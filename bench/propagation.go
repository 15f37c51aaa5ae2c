// Scenario propagation: the time from the origin's acknowledgement of a
// channel change until every edge answers the new version. Changes
// alternate between publishing a new bundle and rolling back to the one
// before. Every edge is polled once a millisecond from the moment of the
// ack: aloft dev's own edge (in process with the origin) and -spawn-edges
// `aloft edge` processes that replicate over the sync API, plus -edges.

package main

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aloft/aloft/origin/api"
	"github.com/valyala/fasthttp"
)

const propagationApp = "com.bench.propagation"

// propSample is one change.
type propSample struct {
	Action  string  `json:"action"` // "publish" or "rollback"
	Version string  `json:"version"`
	AckMS   float64 `json:"ack_ms"`
	// PerEdgeMS is, per edge, the time from the ack until it answered.
	PerEdgeMS []float64 `json:"per_edge_ms"`
	// AllMS is the slowest edge: when every edge answered.
	AllMS float64 `json:"all_ms"`
	// InstalledMS is, per edge, when it installed the change by its own
	// clock (its /healthz age of the state, read once it answered): not
	// bounded by the poll period, and it can precede the ack, which
	// travels back after the commit while the feed goes out. AllInstalledMS
	// is the latest; zero when an edge could not say.
	InstalledMS    []float64 `json:"installed_ms,omitempty"`
	AllInstalledMS float64   `json:"all_installed_ms,omitempty"`
}

// propagationResult is the propagation scenario's part of the report.
type propagationResult struct {
	Edges   []string     `json:"edges"`
	Changes int          `json:"changes"`
	Samples []propSample `json:"samples"`
	// P50MS and P99MS are nearest-rank percentiles of AllMS over the
	// changes; with 20 changes p99 is the slowest one.
	P50MS float64 `json:"p50_ms"`
	P99MS float64 `json:"p99_ms"`
	MaxMS float64 `json:"max_ms"`
	// PollMS bounds the resolution of every figure but the installed ones.
	PollMS float64 `json:"poll_ms"`
	// InstalledP50MS and InstalledP99MS summarise AllInstalledMS.
	InstalledP50MS float64 `json:"installed_p50_ms,omitempty"`
	InstalledP99MS float64 `json:"installed_p99_ms,omitempty"`
	// Where the time goes, when the series knows the processes: CPU per
	// change of one edge (on average; its answers to the probes
	// included) and of the origin's process, and probe checks per change
	// over all edges.
	EdgeCPUMSPerChange   float64 `json:"edge_cpu_ms_per_change,omitempty"`
	OriginCPUMSPerChange float64 `json:"origin_cpu_ms_per_change,omitempty"`
	ProbesPerChange      float64 `json:"probes_per_change,omitempty"`
}

func runPropagation(ctx context.Context, h *harness) (*propagationResult, error) {
	o := h.opts
	spawned, urls, err := h.startEdges(o.spawnEdges)
	// Only this scenario needs them: stopped, they cost a later scenario
	// (sync's own edges, its large catalog) nothing.
	defer stopAll(spawned)
	if err != nil {
		return nil, fmt.Errorf("start edges: %w", err)
	}
	edges := append(append([]string{h.edgeURL}, urls...), o.edges...)
	if err := h.ensureApp(ctx, propagationApp); err != nil {
		return nil, err
	}
	h.logf("propagation: %d changes, %d edge(s)", o.propChanges, len(edges))
	// The last good bundle every rollback returns to; not measured.
	base, err := h.propBundle(ctx, propagationApp, "1.9.0", 999)
	if err == nil {
		err = setChannelOn(ctx, h.api, propagationApp, base)
	}
	if err != nil {
		return nil, err
	}
	return h.propagateSeries(ctx, changeSeries{
		api: h.api, app: propagationApp, edges: edges, base: base, changes: o.propChanges, poll: time.Millisecond,
		publish: func(ctx context.Context, i int) (string, error) {
			return h.propBundle(ctx, propagationApp, fmt.Sprintf("2.0.%d", i), i)
		},
	})
}

// changeSeries is a run of channel changes on one app of one origin,
// each timed until every edge answers it.
type changeSeries struct {
	api   *api.Client
	app   string
	edges []string
	// base is the version the channel is on before the first change.
	base    string
	changes int
	// poll is how often each edge is asked: it bounds the resolution, and
	// many edges polled each millisecond would load the servers' CPU
	// more than the change itself does.
	poll time.Duration
	// publish makes bundle number i of the series, not on any channel
	// yet, and returns its version.
	publish func(ctx context.Context, i int) (string, error)
	// procs and origin, when set, are the edges' and the origin's
	// processes, whose CPU the series reports per change.
	procs  []*child
	origin *child
	// probeClients (one per edge) and healthClient are kept for the whole
	// series: a new connection to every edge at every change cost the
	// edges, on the core they share, more than the change did.
	probeClients []*fasthttp.HostClient
	healthClient *http.Client
}

// propagateSeries alternates publishing a new bundle and rolling back
// to the one before it, and summarises the times.
func (h *harness) propagateSeries(ctx context.Context, cs changeSeries) (*propagationResult, error) {
	res := &propagationResult{Edges: cs.edges, Changes: cs.changes, PollMS: ms(cs.poll)}
	cs.probeClients = make([]*fasthttp.HostClient, len(cs.edges))
	for i, e := range cs.edges {
		cs.probeClients[i] = newClient(hostOf(e), 1)
	}
	cs.healthClient = &http.Client{Timeout: 5 * time.Second}
	defer cs.healthClient.CloseIdleConnections()
	edgeCPU0, originCPU0 := cpuOf(cs.procs), cpuOf([]*child{cs.origin})
	var probes atomic.Int64
	history := []string{cs.base}
	for i := 0; i < cs.changes; i++ {
		s := propSample{Action: "publish"}
		if i%2 == 1 {
			// Roll back to the bundle before the one just published.
			s.Action, s.Version = "rollback", history[len(history)-2]
		} else {
			var err error
			if s.Version, err = cs.publish(ctx, i/2); err != nil {
				return nil, err
			}
		}
		history = append(history, s.Version)
		if err := h.propagateOnce(ctx, cs, &s, &probes); err != nil {
			return nil, fmt.Errorf("change %d (%s %s): %w", i, s.Action, s.Version, err)
		}
		res.Samples = append(res.Samples, s)
	}
	if len(res.Samples) == 0 {
		return res, nil
	}
	n := float64(len(res.Samples))
	if len(cs.procs) > 0 {
		res.EdgeCPUMSPerChange = round3(ms(cpuOf(cs.procs)-edgeCPU0) / n / float64(len(cs.procs)))
	}
	if cs.origin != nil {
		res.OriginCPUMSPerChange = round3(ms(cpuOf([]*child{cs.origin})-originCPU0) / n)
	}
	res.ProbesPerChange = round3(float64(probes.Load()) / n)
	all, inst := make([]float64, len(res.Samples)), make([]float64, len(res.Samples))
	for i, s := range res.Samples {
		all[i], inst[i] = s.AllMS, s.AllInstalledMS
	}
	sort.Float64s(all)
	sort.Float64s(inst)
	res.P50MS, res.P99MS, res.MaxMS = nearestRank(all, 50), nearestRank(all, 99), all[len(all)-1]
	res.InstalledP50MS, res.InstalledP99MS = nearestRank(inst, 50), nearestRank(inst, 99)
	return res, nil
}

// propBundle publishes a small zip bundle of app (not yet on any channel).
func (h *harness) propBundle(ctx context.Context, app, version string, change int) (string, error) {
	b, err := makeBuild(filepath.Join(h.tmp, "prop-"+app+"-"+version), version, 21, change, 20_000)
	if err != nil {
		return "", err
	}
	return version, h.publishZip(ctx, app, b)
}

// propagateOnce moves the channel to s.Version and polls every edge until
// it answers it.
func (h *harness) propagateOnce(ctx context.Context, cs changeSeries, s *propSample, probes *atomic.Int64) error {
	start := time.Now()
	if err := setChannelOn(ctx, cs.api, cs.app, s.Version); err != nil {
		return err
	}
	ack := time.Now()
	s.AckMS = ms(ack.Sub(start))
	s.PerEdgeMS, s.InstalledMS = make([]float64, len(cs.edges)), make([]float64, len(cs.edges))
	errs := make([]error, len(cs.edges))
	var wg sync.WaitGroup
	for i, e := range cs.edges {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// A probe device on a version no change uses, so every change
			// is an update for it.
			d := probeDevice(cs.app, "8.51.23", "0.0.0-probe")
			_, n, err := waitVersionEvery(ctx, cs.probeClients[i], e+"/updates", d, s.Version, h.opts.propTimeout, cs.poll)
			s.PerEdgeMS[i], errs[i] = ms(time.Since(ack)), err
			probes.Add(int64(n))
			if at, ok := installedAt(ctx, cs.healthClient, e); ok && errs[i] == nil {
				s.InstalledMS[i] = ms(at.Sub(ack))
			}
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			return fmt.Errorf("edge %s: %w", cs.edges[i], err)
		}
		s.AllMS = max(s.AllMS, s.PerEdgeMS[i])
	}
	s.AllInstalledMS = s.InstalledMS[0]
	for _, v := range s.InstalledMS {
		s.AllInstalledMS = max(s.AllInstalledMS, v)
	}
	return nil
}

// cpuOf sums the CPU time so far of the running processes among cs.
func cpuOf(cs []*child) time.Duration {
	var d time.Duration
	for _, c := range cs {
		if c != nil && !c.exited() {
			d += readProc(c.pid(), false).cpu
		}
	}
	return d
}

// installedAt reads when edge installed the state it serves, by its
// /healthz age of that state. Asked once the edge answers a change, and
// with nothing written meanwhile, that state is the change's.
func installedAt(ctx context.Context, hc *http.Client, edge string) (time.Time, bool) {
	t0 := time.Now()
	hl, err := fetchHealth(ctx, hc, edge)
	t1 := time.Now()
	if err != nil || hl.Index == 0 {
		return time.Time{}, false
	}
	// The age was taken between the request and the answer: the
	// midpoint is off by at most half a loopback round trip.
	mid := t0.Add(t1.Sub(t0) / 2)
	return mid.Add(-time.Duration(hl.AgeSeconds * float64(time.Second))), true
}

func ms(d time.Duration) float64 { return round3(float64(d.Microseconds()) / 1000) }

// nearestRank returns the p-th percentile of sorted xs.
func nearestRank(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*p/100+0.999999) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}
