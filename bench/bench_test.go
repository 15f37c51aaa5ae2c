// Short runs of every scenario against a real `aloft dev`, asserting that
// the report is well formed and that its counts add up. Nothing here
// asserts a timing: the machine running the tests is shared and noisy.

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	binOnce sync.Once
	binDir  string
	binPath string
	binErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		_ = os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// aloftBinary builds ./cmd/aloft once for every test of the package.
func aloftBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		root, err := moduleRoot()
		if err != nil {
			binErr = err
			return
		}
		if binDir, binErr = os.MkdirTemp("", "aloft-bench-test-"); binErr != nil {
			return
		}
		binPath, binErr = goBuild(context.Background(), root, "./cmd/aloft", binDir)
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// tinyOptions shrinks every count and duration so a scenario takes a few
// seconds; no pinning, since other packages' tests share the CPUs.
func tinyOptions(t *testing.T, scenario string) options {
	o := quickOptions()
	o.pin = false
	o.out = t.TempDir()
	o.scenarios = []string{scenario}
	o.aloftBin = aloftBinary(t)
	o.devices, o.peakConns, o.peakDur, o.openConns, o.steadyDur, o.checkRate = 60, 2, 300*time.Millisecond, 8, 500*time.Millisecond, 100
	o.dlConns, o.dlDur, o.bundleMB = 2, 300*time.Millisecond, 0.2
	o.relDevices, o.relRate, o.relPre, o.relMax, o.relDLConns = 20, 100, 200*time.Millisecond, 20*time.Second, 4
	o.statsDur, o.statsBatchMax = 500*time.Millisecond, 5
	o.propChanges, o.propTimeout, o.turns, o.spawnEdges = 4, 20*time.Second, 2, 2
	o.clusterPublishes, o.clusterWriters, o.clusterWriteDur, o.killTrials, o.largeMB = 2, 2, 600*time.Millisecond, 1, 4
	o.syncEdges, o.syncChanges, o.syncMoves, o.syncNewBundles, o.syncIdle = []int{2}, 2, 2, 1, time.Second
	o.syncBig, o.syncApps, o.syncSmallApps, o.syncBundles, o.syncFiles, o.syncPool, o.syncSeedWorkers = true, 5, 2, 10, 10, 3, 4
	o.regionApps, o.regionRequests, o.regionConns, o.regionMinBytes, o.regionMaxBytes = 12, 600, 2, 8<<10, 16<<10
	return o
}

// runTiny runs one scenario and returns the report and its decoded JSON.
func runTiny(t *testing.T, scenario string) (*report, map[string]any) {
	t.Helper()
	o := tinyOptions(t, scenario)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rep, err := runBench(ctx, o, "go test", io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Errors) > 0 {
		t.Fatalf("scenario errors: %v", rep.Errors)
	}
	doc := checkReportFiles(t, o.out, scenario)
	checkCounts(t, doc, "")
	return rep, doc
}

// checkReportFiles asserts report.json, report.md and every listed PNG.
func checkReportFiles(t *testing.T, dir, scenario string) map[string]any {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("report.json does not parse: %v", err)
	}
	for _, key := range []string{"meta", "goals", "errors", "plots", scenario} {
		if _, ok := doc[key]; !ok {
			t.Errorf("report.json lacks %q", key)
		}
	}
	m := doc["meta"].(map[string]any)
	for _, key := range []string{"started", "command", "machine", "go", "placement", "scenarios"} {
		if _, ok := m[key]; !ok {
			t.Errorf("meta lacks %q", key)
		}
	}
	goals := doc["goals"].([]any)
	if len(goals) != 21 {
		t.Errorf("%d goals, want issue 4's 6, the two stats readings, issue 9's 10, the cluster's memory reading and the region's 2", len(goals))
	}
	for _, g := range goals {
		g := g.(map[string]any)
		if _, ok := g["met"]; !ok || g["id"] == "" || g["measured"] == "" {
			t.Errorf("malformed goal %v", g)
		}
	}
	plots := doc["plots"].([]any)
	if len(plots) == 0 && scenario != "cluster" && scenario != "sync" && scenario != "region" { // these scenarios draw none
		t.Error("no plots")
	}
	for _, p := range plots {
		b, err := os.ReadFile(filepath.Join(dir, p.(string)))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := png.Decode(bytes.NewReader(b)); err != nil {
			t.Errorf("%s does not decode as PNG: %v", p, err)
		}
	}
	md, err := os.ReadFile(filepath.Join(dir, "report.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"## Goals", "## " + scenario} {
		if !strings.Contains(string(md), want) {
			t.Errorf("report.md lacks %q", want)
		}
	}
	return doc
}

// checkCounts walks the report: every run must have sent something and
// account for every request (sent = answered + errors), its error kinds
// must sum to its errors and its outcomes to its answers.
func checkCounts(t *testing.T, v any, path string) {
	t.Helper()
	switch x := v.(type) {
	case map[string]any:
		if sent, ok := x["sent"].(float64); ok {
			answered, errs := x["answered"].(float64), x["errors"].(float64)
			if sent == 0 || sent != answered+errs {
				t.Errorf("%s: sent %v, answered %v, errors %v", path, sent, answered, errs)
			}
			if sum(x["errors_by_kind"]) != errs || sum(x["outcomes"]) != answered {
				t.Errorf("%s: errors_by_kind %v / outcomes %v do not add up", path, x["errors_by_kind"], x["outcomes"])
			}
		}
		for k, c := range x {
			checkCounts(t, c, path+"."+k)
		}
	case []any:
		for _, c := range x {
			checkCounts(t, c, path+"[]")
		}
	}
}

func sum(v any) float64 {
	m, _ := v.(map[string]any)
	var s float64
	for _, n := range m {
		s += n.(float64)
	}
	return s
}

func TestRun_Checkins(t *testing.T) {
	rep, _ := runTiny(t, "checkins")
	c := rep.Checkins
	for _, r := range []*runStats{c.AloftPeak, c.BarePeak, c.AloftSteady, c.BareSteady} {
		if r.Errors != 0 || r.Turns != 2 || r.Latency.Count != r.Answered {
			t.Errorf("%s: errors %v, %d turns, %d latencies for %d answers", r.Name, r.ErrorsByKind, r.Turns, r.Latency.Count, r.Answered)
		}
	}
	// 95% of the fleet is up to date; the rest is offered the bundle.
	if o := c.AloftSteady.Outcomes; o["up_to_date"] == 0 || o["update"] == 0 {
		t.Errorf("aloft steady outcomes %v, want both up_to_date and update", o)
	}
	if c.PeakRatio <= 0 || c.AloftPeak.Server.PID == 0 {
		t.Errorf("peak ratio %v, server usage %+v", c.PeakRatio, c.AloftPeak.Server)
	}
}

func TestRun_Downloads(t *testing.T) {
	rep, _ := runTiny(t, "downloads")
	d := rep.Downloads
	if d.Aloft.Answered == 0 || d.Bare.Answered == 0 || d.Aloft.BytesIn != d.Aloft.Answered*int64(d.BundleBytes) {
		t.Errorf("aloft %d answers / %d bytes, bare %d answers", d.Aloft.Answered, d.Aloft.BytesIn, d.Bare.Answered)
	}
	if d.Nginx == nil {
		requireNginx(t)
		t.Fatalf("nginx is installed but was not measured: %s", d.NginxError)
	}
}

func TestRun_Release(t *testing.T) {
	rep, _ := runTiny(t, "release")
	r := rep.Release
	for _, x := range []*releaseRun{r.Full, r.Delta} {
		if x.Adopted != x.Devices || x.DevicesZip+x.DevicesDelta != x.Devices || len(x.DownloadErrors) != 0 {
			t.Errorf("%s: %d of %d adopted (zip %d, delta %d), errors %v", x.Mode, x.Adopted, x.Devices, x.DevicesZip, x.DevicesDelta, x.DownloadErrors)
		}
		if x.T100S == nil || len(x.Adoption) < 2 {
			t.Errorf("%s: no adoption curve", x.Mode)
		}
	}
	if r.Full.DevicesDelta != 0 || r.Delta.DevicesDelta == 0 || r.Delta.BytesPerDeltaDevice != float64(r.ChangedBytes) {
		t.Errorf("full run delta devices %d; delta run %d devices at %.0f bytes, changed file %d bytes",
			r.Full.DevicesDelta, r.Delta.DevicesDelta, r.Delta.BytesPerDeltaDevice, r.ChangedBytes)
	}
}

func TestRun_Stats(t *testing.T) {
	rep, _ := runTiny(t, "stats")
	s := rep.Stats
	if s.EventsSent == 0 || s.ArrayShare == 0 {
		t.Fatalf("events sent %d, array share %v", s.EventsSent, s.ArrayShare)
	}
	// Every event the edge acknowledged must be counted, errors or not;
	// a tiny run is far below every limit, so none may fail either.
	if s.EventsAcked == 0 || s.EventsCounted != float64(s.EventsAcked) {
		t.Errorf("edge counted %v events, acknowledged %d (%d sent)", s.EventsCounted, s.EventsAcked, s.EventsSent)
	}
	if s.Stats.Errors != 0 || s.EventsAcked != s.EventsSent {
		t.Errorf("%d stats requests failed (%v); %d of %d events acknowledged", s.Stats.Errors, s.Stats.ErrorsByKind, s.EventsAcked, s.EventsSent)
	}
}

func TestRun_Propagation(t *testing.T) {
	rep, _ := runTiny(t, "propagation")
	p := rep.Propagation
	if len(p.Samples) != 4 || len(p.Edges) != 3 {
		t.Fatalf("%d samples over %d edges, want 4 over aloft dev's edge and 2 aloft edge processes", len(p.Samples), len(p.Edges))
	}
	for i, s := range p.Samples {
		want := []string{"publish", "rollback"}[i%2]
		if s.Action != want || len(s.PerEdgeMS) != len(p.Edges) {
			t.Errorf("sample %d: %+v", i, s)
		}
	}
}

// TestRun_Cluster: versitygw, two single nodes and a 3-node cluster; every
// phase must measure every target, and the leader's kill must be
// survived by a write acknowledged by another node.
func TestRun_Cluster(t *testing.T) {
	requireVersitygw(t)
	rep, _ := runTiny(t, "cluster")
	c := rep.Cluster
	if len(c.Nodes) != 3 || c.Publish == nil || c.Writes == nil || c.Memory == nil || c.Failover == nil {
		t.Fatalf("cluster result incomplete: %+v", c)
	}
	for _, r := range c.Publish.Runs {
		if r.Latency.N != 2 || r.Errors != 0 || r.Latency.P50MS <= 0 {
			t.Errorf("publish %s: %+v, errors %d (%s)", r.Target, r.Latency, r.Errors, r.LastError)
		}
	}
	if len(c.Publish.Runs) != 4 || c.Publish.P50Ratio <= 0 {
		t.Errorf("%d publish targets, p50 ratio %v", len(c.Publish.Runs), c.Publish.P50Ratio)
	}
	for _, r := range c.Writes.Runs {
		if r.Acked == 0 || r.Errors != 0 || r.Turns != 2 || r.Latency.Count != r.Acked {
			t.Errorf("writes %s: %d acked, %d errors (%s), %d turns, %d latencies", r.Target, r.Acked, r.Errors, r.LastError, r.Turns, r.Latency.Count)
		}
	}
	if len(c.Memory.Runs) != 4 {
		t.Errorf("%d memory runs, want upload and download on the single node and the cluster", len(c.Memory.Runs))
	}
	for _, m := range c.Memory.Runs {
		if m.PID == 0 || m.BaselineMB <= 0 || m.PeakMB < m.BaselineMB || m.PolledPeakMB > m.PeakMB {
			t.Errorf("memory %s %s: %+v", m.Origin, m.Phase, m)
		}
	}
	f := c.Failover
	if len(f.Cluster) != 1 || len(f.Single) != 1 {
		t.Fatalf("%d cluster and %d single trials, want 1 each", len(f.Cluster), len(f.Single))
	}
	if tr := f.Cluster[0]; tr.NewLeader == "" || tr.NewLeader == tr.Killed || tr.GapMS <= 0 || tr.AckedBefore == 0 || tr.AckedAfter == 0 {
		t.Errorf("cluster trial %+v", tr)
	}
	if tr := f.Single[0]; tr.GapMS <= 0 || tr.RestartMS <= 0 || tr.AckedAfter == 0 {
		t.Errorf("single trial %+v", tr)
	}
}
