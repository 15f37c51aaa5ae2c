// Scenario checkins: steady update checks from a fleet that is 95% up to
// date, against Aloft and against the bare handler's fixed answer. First
// each server's peak (closed loop), then open-loop latency at half of
// Aloft's own peak for both, as the goal is stated.

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
)

const (
	checkinsApp     = "com.bench.checkins"
	checkinsVersion = "1.4.1"
	upToDateShare   = 0.95
)

// checkinsResult is the checkins scenario's part of the report.
type checkinsResult struct {
	App           string  `json:"app"`
	Devices       int     `json:"devices"`
	UpToDateShare float64 `json:"up_to_date_share"`
	// SteadyRate is the open-loop rate of both steady runs.
	SteadyRate  float64   `json:"steady_rate"`
	AloftPeak   *runStats `json:"aloft_peak"`
	BarePeak    *runStats `json:"bare_peak"`
	AloftSteady *runStats `json:"aloft_steady"`
	BareSteady  *runStats `json:"bare_steady"`
	// PeakRatio is Aloft's peak throughput over the bare handler's.
	PeakRatio float64 `json:"peak_ratio"`
	// P99Ratio is Aloft's steady p99 over the bare handler's at the same rate.
	P99Ratio float64 `json:"p99_ratio"`
	// Edge says which process answered Aloft's checks.
	Edge string `json:"edge"`
	// Profiles are the files of the profiled steady run (in -out).
	Profiles []string `json:"profiles,omitempty"`
}

// profileEdge runs p while the edge's pprof listener at base records a
// CPU profile and an execution trace; it returns the files written.
func (h *harness) profileEdge(ctx context.Context, base string, p plan) []string {
	hc := &http.Client{Timeout: p.duration + 30*time.Second}
	secs := int(p.duration.Seconds()) - 1
	if secs < 1 {
		secs = 1
	}
	var files []string
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, prof := range []struct{ path, file string }{
		{fmt.Sprintf("/profile?seconds=%d", secs), "checkins-edge.cpu.pb.gz"},
		{fmt.Sprintf("/trace?seconds=%d", min(secs, 5)), "checkins-edge.trace"},
	} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := fetchTo(ctx, hc, base+prof.path, filepath.Join(h.opts.out, prof.file)); err != nil {
				h.logf("checkins: %s: %v", prof.file, err)
				return
			}
			mu.Lock()
			files = append(files, prof.file)
			mu.Unlock()
		}()
	}
	run(ctx, p)
	wg.Wait()
	sort.Strings(files)
	return files
}

// fetchTo saves what url answers in file.
func fetchTo(ctx context.Context, hc *http.Client, url, file string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: status %d", url, resp.StatusCode)
	}
	fh, err := os.Create(file)
	if err != nil {
		return err
	}
	if _, err := io.Copy(fh, resp.Body); err != nil {
		fh.Close()
		return err
	}
	return fh.Close()
}

// setupCheckinsApp publishes a small bundle with a manifest and records
// what Aloft answers an old plugin on its builtin bundle: that answer,
// byte for byte, is what the bare server sends to everyone.
func (h *harness) setupCheckinsApp(ctx context.Context) error {
	if err := h.ensureApp(ctx, checkinsApp); err != nil {
		return err
	}
	b, err := makeBuild(filepath.Join(h.tmp, "checkins-"+checkinsVersion), checkinsVersion, 11, 1, 200_000)
	if err != nil {
		return err
	}
	if err := h.publishDelta(ctx, checkinsApp, b); err != nil {
		return fmt.Errorf("publish %s: %w", checkinsVersion, err)
	}
	if err := h.setChannel(ctx, checkinsApp, checkinsVersion); err != nil {
		return err
	}
	client := newClient(h.edgeAddr, 1)
	body, err := waitVersion(ctx, client, h.edgeURL+"/updates", probeDevice(checkinsApp, "6.14.25", ""), checkinsVersion, h.opts.propTimeout)
	if err != nil {
		return err
	}
	h.checkBody = body
	return nil
}

// checksPlan sends the fleet's update checks to addr, round robin over
// the devices so each checks once every len(devices)/rate seconds.
func checksPlan(name, addr string, fl *fleet, rate float64, conns int, dur time.Duration) plan {
	url := "http://" + addr + "/updates"
	n := int64(len(fl.devices))
	return plan{
		name: name, rate: rate, conns: conns, duration: dur, client: newClient(addr, conns),
		fill:  func(i int64, req *fasthttp.Request) { fl.devices[i%n].fillCheck(req, url) },
		judge: func(_ int64, resp *fasthttp.Response) (string, string) { return judgeCheck(resp) },
	}
}

// judgeCheck classifies an update-check answer without decoding it all:
// the hot path of the generator must stay cheaper than the server's.
func judgeCheck(resp *fasthttp.Response) (outcome, errKind string) {
	if resp.StatusCode() != fasthttp.StatusOK {
		return "", statusKind(resp.StatusCode())
	}
	// Only answers of a KiB or more are compressed, and every refusal is
	// smaller: a gzipped answer is an update, no need to inflate it here.
	if bytes.Equal(resp.Header.ContentEncoding(), []byte("gzip")) {
		return "update", ""
	}
	body := resp.Body()
	switch {
	case bytes.HasPrefix(body, []byte(`{"version":`)):
		return "update", ""
	case bytes.Contains(body, []byte(`"kind":"up_to_date"`)):
		return "up_to_date", ""
	}
	var a answer
	if json.Unmarshal(body, &a) != nil || a.Error == "" {
		return "", "bad_body"
	}
	// Every simulated device is valid for its channel: any other refusal
	// means the harness or the server is wrong.
	return "", "refusal_" + a.Error
}

// measure runs p while metering the server process and this one.
func measure(ctx context.Context, pid int, p plan) *runStats {
	srv, self, sys, t0 := startMeter(pid), selfMeter(), sysCPU(), time.Now()
	st := run(ctx, p)
	st.Server, st.Generator = srv.end(), self.end()
	st.OtherCPUCores = otherCPU(sys, t0, st.Server, st.Generator)
	st.flagBound()
	return st
}

func runCheckins(ctx context.Context, h *harness) (*checkinsResult, error) {
	if err := h.ensureBare(ctx); err != nil {
		return nil, err
	}
	o := h.opts
	fl := newFleet(checkinsApp, o.devices, o.seed)
	fl.setMix(checkinsVersion, upToDateShare)
	res := &checkinsResult{App: checkinsApp, Devices: o.devices, UpToDateShare: upToDateShare}
	// The edge measured is an `aloft edge` of its own, as devices reach
	// it in production: aloft dev's edge shares its process with the
	// origin (raft, stats ingestion, the feed), whose work would count
	// against the check path.
	ec, edgeURL, err := h.spawnEdge(h.apiURL, h.token, "--pprof-addr", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("checkins: start the edge: %w", err)
	}
	defer ec.stop()
	edgeAddr := strings.TrimPrefix(edgeURL, "http://")
	if _, err := waitVersion(ctx, newClient(edgeAddr, 1), edgeURL+"/updates", probeDevice(checkinsApp, "6.14.25", ""), checkinsVersion, h.opts.propTimeout); err != nil {
		return nil, fmt.Errorf("checkins: the edge: %w", err)
	}
	res.Edge = "aloft edge (pid of its own), syncing from aloft dev"
	aloftPID, barePID := ec.pid(), h.bare.pid()
	// A short unmeasured warm-up per server: connections, page faults.
	run(ctx, checksPlan("warm-up", edgeAddr, fl, 0, o.peakConns, o.peakDur/8))
	run(ctx, checksPlan("warm-up", h.bareAddr, fl, 0, o.peakConns, o.peakDur/8))

	h.logf("checkins: peak, closed loop, %d connections, %s each in %d alternating turns", o.peakConns, o.peakDur, o.turns)
	peaks := interleave(ctx, []contender{
		{aloftPID, checksPlan("aloft peak", edgeAddr, fl, 0, o.peakConns, o.peakDur)},
		{barePID, checksPlan("bare peak", h.bareAddr, fl, 0, o.peakConns, o.peakDur)},
	}, o.turns)
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	res.AloftPeak, res.BarePeak = peaks[0], peaks[1]
	res.SteadyRate = o.checkRate
	if res.SteadyRate <= 0 {
		res.SteadyRate = float64(int(res.AloftPeak.Throughput / 2))
	}
	if res.SteadyRate < 1 {
		return nil, fmt.Errorf("checkins: Aloft answered nothing in its peak run: %+v", res.AloftPeak.ErrorsByKind)
	}
	h.logf("checkins: open loop at %.0f/s (half of Aloft's peak %.0f/s), %s each", res.SteadyRate, res.AloftPeak.Throughput, o.steadyDur)
	steady := interleave(ctx, []contender{
		{aloftPID, checksPlan("aloft steady", edgeAddr, fl, res.SteadyRate, o.openConns, o.steadyDur)},
		{barePID, checksPlan("bare steady", h.bareAddr, fl, res.SteadyRate, o.openConns, o.steadyDur)},
	}, o.turns)
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	res.AloftSteady, res.BareSteady = steady[0], steady[1]
	// One more steady run, not measured, under a CPU profile and an
	// execution trace of the edge: where its time and its stalls go.
	if pp, err := waitLine(ec, "aloft: pprof on ", 5*time.Second); err == nil {
		res.Profiles = h.profileEdge(ctx, strings.TrimSuffix(strings.TrimSpace(pp), "/"),
			checksPlan("aloft steady, profiled", edgeAddr, fl, res.SteadyRate, o.openConns, o.steadyDur))
	}
	res.PeakRatio = ratio(res.AloftPeak.Throughput, res.BarePeak.Throughput)
	res.P99Ratio = ratio(res.AloftSteady.Latency.P99, res.BareSteady.Latency.P99)
	h.aloftPeak = res.AloftPeak.Throughput
	return res, nil
}

// ratio returns a/b rounded to 3 decimals, 0 when b is 0.
func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return round3(a / b)
}
