// Scenario release: the fleet checks at a steady rate; mid-run the
// operator points the channel at a new bundle; every device is offered it
// on its next check, downloads it, reports it and runs it. Once with full
// zips (1.4.0 → 1.4.1, zip only) and once with a delta manifest (1.4.1 →
// 1.4.2, zip + manifest), each new build differing from the last in one
// file. "Publish" is the channel change: the bundle's bytes were uploaded
// before, as `aloft bundle upload` does before it moves a channel.

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"path/filepath"
	"time"

	"github.com/valyala/fasthttp"
)

const releaseApp = "com.bench.release"

// adoptPoint is one point of an adoption curve.
type adoptPoint struct {
	S        float64 `json:"s"` // since the publish request
	Fraction float64 `json:"fraction"`
}

// releaseRun is one release (full or delta).
type releaseRun struct {
	Mode    string `json:"mode"`
	From    string `json:"from"`
	To      string `json:"to"`
	Devices int    `json:"devices"`
	// CheckIntervalS is how often each device checks: adoption time can
	// never beat it, so it is the figure to read T95 against.
	CheckRate      float64   `json:"check_rate"`
	CheckIntervalS float64   `json:"check_interval_s"`
	PublishAckMS   float64   `json:"publish_ack_ms"`
	Checks         *runStats `json:"checks"`
	// PerDevice spans one device's whole download; PerRequest one GET.
	PerDevice      percentiles      `json:"download_per_device_ms"`
	PerRequest     percentiles      `json:"download_per_request_ms"`
	DownloadErrors map[string]int64 `json:"download_errors"`
	DevicesZip     int              `json:"devices_zip"`
	DevicesDelta   int              `json:"devices_delta"`
	BytesZip       int64            `json:"bytes_zip"`
	BytesDelta     int64            `json:"bytes_delta"`
	// BytesPerDevice averages over every device that updated; the two
	// others over the devices that took each path.
	BytesPerDevice      float64 `json:"bytes_per_device"`
	BytesPerZipDevice   float64 `json:"bytes_per_zip_device"`
	BytesPerDeltaDevice float64 `json:"bytes_per_delta_device"`
	Adopted             int     `json:"adopted"`
	AdoptedShare        float64 `json:"adopted_share"`
	// T50S, T95S and T100S: seconds from the publish request until that
	// share of the fleet runs the new version; null when never reached.
	T50S        *float64     `json:"t50_s"`
	T95S        *float64     `json:"t95_s"`
	T100S       *float64     `json:"t100_s"`
	Adoption    []adoptPoint `json:"adoption"`
	StatsPosted int64        `json:"stats_posted"`
}

// releaseResult is the release scenario's part of the report.
type releaseResult struct {
	ZipBytes int `json:"zip_bytes"`
	// ChangedBytes is the stored payload of the one changed file.
	ChangedBytes int         `json:"changed_file_bytes"`
	Full         *releaseRun `json:"full"`
	Delta        *releaseRun `json:"delta"`
	// DeltaShareOfZip: delta bytes per manifest device over the zip size.
	DeltaShareOfZip float64 `json:"delta_share_of_zip"`
}

func runRelease(ctx context.Context, h *harness) (*releaseResult, error) {
	v1, err := h.bigBuild()
	if err != nil {
		return nil, err
	}
	size := int(h.opts.bundleMB * 1e6)
	v2, err := makeBuild(filepath.Join(h.tmp, "big-1.4.1"), "1.4.1", 7, 1, size)
	if err != nil {
		return nil, err
	}
	v3, err := makeBuild(filepath.Join(h.tmp, "big-1.4.2"), "1.4.2", 7, 2, size)
	if err != nil {
		return nil, err
	}
	if err := h.setupRelease(ctx, v1, v2, v3); err != nil {
		return nil, err
	}
	res := &releaseResult{ZipBytes: len(v3.zip)}
	for _, f := range v3.manifest {
		if !v2.hashes[f.Hash] {
			res.ChangedBytes += len(f.Payload)
		}
	}
	if res.Full, err = h.releaseOnce(ctx, "full", v1, v2, 101); err != nil {
		return nil, err
	}
	if res.Delta, err = h.releaseOnce(ctx, "delta", v2, v3, 202); err != nil {
		return nil, err
	}
	res.DeltaShareOfZip = round4(res.Delta.BytesPerDeltaDevice / float64(res.ZipBytes))
	return res, nil
}

func (h *harness) setupRelease(ctx context.Context, v1, v2, v3 *webBuild) error {
	if err := h.ensureApp(ctx, releaseApp); err != nil {
		return err
	}
	for _, b := range []*webBuild{v1, v2} {
		if err := h.publishZip(ctx, releaseApp, b); err != nil {
			return fmt.Errorf("publish %s: %w", b.version, err)
		}
	}
	if err := h.publishDelta(ctx, releaseApp, v3); err != nil {
		return fmt.Errorf("publish %s: %w", v3.version, err)
	}
	if err := h.setChannel(ctx, releaseApp, v1.version); err != nil {
		return err
	}
	_, err := waitVersion(ctx, newClient(h.edgeAddr, 1), h.edgeURL+"/updates", probeDevice(releaseApp, "8.51.23", ""), v1.version, h.opts.propTimeout)
	return err
}

// releaseOnce runs the fleet on from, publishes to after relPre, and ends
// once every device runs to or relMax passes.
func (h *harness) releaseOnce(ctx context.Context, mode string, from, to *webBuild, seed uint64) (*releaseRun, error) {
	o := h.opts
	fl := newFleet(releaseApp, o.relDevices, o.seed+seed)
	for _, d := range fl.devices {
		d.setVersion(from.version)
	}
	up := newUpdater(h.edgeAddr, h.edgeURL, from.hashes, to.version, o.relDLConns, len(fl.devices))
	p := releaseChecks(h, mode, fl, up)
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	srv, self, sys, t0 := startMeter(h.aloft.pid()), selfMeter(), sysCPU(), time.Now()
	done := make(chan *runStats, 1)
	go func() { done <- run(runCtx, p) }()
	h.logf("release %s: %d devices checking at %.0f/s; publishing %s after %s", mode, len(fl.devices), o.relRate, to.version, o.relPre)
	ack, err := h.publishAfter(ctx, o.relPre, up, to.version)
	if err == nil {
		waitAdopted(ctx, up, int64(len(fl.devices)), o.relMax)
	}
	cancel()
	checks := <-done
	up.close()
	checks.Server, checks.Generator = srv.end(), self.end()
	checks.OtherCPUCores = otherCPU(sys, t0, checks.Server, checks.Generator)
	if err != nil {
		return nil, err
	}
	return summarizeRelease(mode, from, to, fl, up, checks, ack, o.relRate), nil
}

// releaseChecks is the fleet's open-loop checks; an answer offering a new
// version goes to the updater.
func releaseChecks(h *harness, mode string, fl *fleet, up *updater) plan {
	o := h.opts
	url := h.edgeURL + "/updates"
	n := int64(len(fl.devices))
	return plan{
		name: "release " + mode + " checks", rate: o.relRate, conns: o.openConns, duration: o.relPre + o.relMax,
		client: newClient(h.edgeAddr, o.openConns),
		fill:   func(i int64, req *fasthttp.Request) { fl.devices[i%n].fillCheck(req, url) },
		judge: func(i int64, resp *fasthttp.Response) (string, string) {
			outcome, kind := judgeCheck(resp)
			if outcome == "update" {
				var a answer
				body, err := resp.BodyUncompressed()
				if err != nil || json.Unmarshal(body, &a) != nil {
					return "", "bad_body"
				}
				up.offer(fl.devices[i%n], a)
			}
			return outcome, kind
		},
	}
}

// publishAfter waits, then moves the channel, returning the time the
// origin took to acknowledge.
func (h *harness) publishAfter(ctx context.Context, wait time.Duration, up *updater, version string) (time.Duration, error) {
	select {
	case <-time.After(wait):
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	pub := time.Now()
	up.pub.Store(&pub)
	err := h.setChannel(ctx, releaseApp, version)
	return time.Since(pub), err
}

func waitAdopted(ctx context.Context, up *updater, n int64, limit time.Duration) {
	deadline := time.NewTimer(limit)
	defer deadline.Stop()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for up.adoptedN.Load() < n {
		select {
		case <-tick.C:
		case <-deadline.C:
			return
		case <-ctx.Done():
			return
		}
	}
}

func summarizeRelease(mode string, from, to *webBuild, fl *fleet, up *updater, checks *runStats, ack time.Duration, rate float64) *releaseRun {
	n := len(fl.devices)
	r := &releaseRun{Mode: mode, From: from.version, To: to.version, Devices: n, CheckRate: rate,
		CheckIntervalS: round3(float64(n) / rate), PublishAckMS: round3(float64(ack.Microseconds()) / 1000),
		Checks: checks, PerDevice: up.perDevice.summary(), PerRequest: up.perGet.summary(),
		DownloadErrors: up.errs, DevicesZip: up.devZip, DevicesDelta: up.devDelta,
		BytesZip: up.bytesZip, BytesDelta: up.bytesDelta, StatsPosted: up.statsPosted.Load()}
	r.Adopted = fl.count(to.version)
	r.AdoptedShare = round4(float64(r.Adopted) / float64(n))
	if k := up.devZip + up.devDelta; k > 0 {
		r.BytesPerDevice = math.Round(float64(up.bytesZip+up.bytesDelta) / float64(k))
	}
	if up.devZip > 0 {
		r.BytesPerZipDevice = math.Round(float64(up.bytesZip) / float64(up.devZip))
	}
	if up.devDelta > 0 {
		r.BytesPerDeltaDevice = math.Round(float64(up.bytesDelta) / float64(up.devDelta))
	}
	times := up.adoption()
	at := func(f float64) *float64 {
		i := int(math.Ceil(f*float64(n))) - 1
		if i < 0 || i >= len(times) {
			return nil
		}
		s := round3(times[i].Seconds())
		return &s
	}
	r.T50S, r.T95S, r.T100S = at(0.5), at(0.95), at(1)
	r.Adoption = adoptionCurve(times, n)
	return r
}

// adoptionCurve keeps at most ~300 points of the step curve.
func adoptionCurve(times []time.Duration, n int) []adoptPoint {
	out := []adoptPoint{{0, 0}}
	step := max(1, len(times)/300)
	for i := 0; i < len(times); i += step {
		out = append(out, adoptPoint{S: round3(times[i].Seconds()), Fraction: round4(float64(i+1) / float64(n))})
	}
	if k := len(times); k > 0 && (k-1)%step != 0 {
		out = append(out, adoptPoint{S: round3(times[k-1].Seconds()), Fraction: round4(float64(k) / float64(n))})
	}
	return out
}

func round4(x float64) float64 { return math.Round(x*10000) / 10000 }
