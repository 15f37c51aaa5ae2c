package localcluster_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/aloft/aloft/internal/wait"
	"github.com/aloft/aloft/localcluster"
	"github.com/aloft/aloft/origin/api"
)

// fleetDevice is the id of device i of the stats test's fleet.
func fleetDevice(i int) string { return fmt.Sprintf("00000000-0000-4000-8000-%012x", i) }

// post sends a JSON body to an edge and wants 200.
func post(t *testing.T, e *localcluster.Edge, path string, body any) {
	t.Helper()
	raw, _ := json.Marshal(body)
	resp, err := http.Post(e.URL()+path, "application/json", bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("%s on %s: %v", path, e.Name(), err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s on %s: %d", path, e.Name(), resp.StatusCode)
	}
}

// fleetInfo is the info object of device i on platform p running version.
func fleetInfo(i int, platform, version string) map[string]any {
	return map[string]any{"app_id": app, "device_id": fleetDevice(i), "platform": platform, "plugin_version": "8.51.23",
		"version_build": "0.9.0", "version_name": version, "is_prod": true, "is_emulator": false}
}

func fleetEvent(i int, platform, version, action string, ts int64, meta map[string]string) map[string]any {
	ev := fleetInfo(i, platform, version)
	ev["action"], ev["timestamp"] = action, ts
	if meta != nil {
		ev["metadata"] = meta
	}
	return ev
}

// TestStats_KnownAnswersAcrossOrigins runs a release through a fleet of
// 20 devices on two edges that ship to two different origin nodes, and
// reads back from a third exactly what the fleet did: the adoption
// curve, the failure mix by cause, platform and region, the success rate
// and the delivery times (from metadata.duration_ms and from start →
// complete pairs). Then one origin stops during a stats flood, its edge
// restarts with the events spooled, the origin comes back: every event
// counts once.
func TestStats_KnownAnswersAcrossOrigins(t *testing.T) {
	c := start(t, localcluster.Config{Origins: 3, Edges: []localcluster.EdgeSpec{
		{Name: "eu1", Region: "eu", Spool: true, DataDir: true},
		{Name: "us1", Region: "us", Spool: true, DataDir: true},
	}})
	// Pin each edge to one origin node, so the batches live on two nodes.
	c.Edges[0].Spec.OriginURL, c.Edges[1].Spec.OriginURL = c.Origins[0].URL(), c.Origins[1].URL()
	for i := range c.Edges {
		if err := c.RestartEdge(i); err != nil {
			t.Fatal(err)
		}
	}
	admin := c.Admin(2)
	ctx := context.Background()
	if _, err := admin.CreateApp(ctx, api.CreateApp{AppID: app}); err != nil {
		t.Fatal(err)
	}
	publish(t, admin, "1.0.0")
	publish(t, admin, "1.1.0")
	waitAll(t, c)

	edgeOf := func(i int) (*localcluster.Edge, string) {
		if i < 10 {
			return c.Edges[0], "ios"
		}
		return c.Edges[1], "android"
	}
	// Every device checks on 1.0.0.
	for i := range 20 {
		e, pf := edgeOf(i)
		post(t, e, "/updates", fleetInfo(i, pf, "1.0.0"))
	}
	// 16 download and install 1.1.0: the even ones say how long it took,
	// the odd ones leave it to their start → complete timestamps. Four
	// fail, one of each cause per region; device 19 started its download
	// on the eu edge and reports its failure to the us one.
	failing := map[int]string{8: "decrypt_fail", 9: "checksum_fail", 18: "checksum_fail", 19: "decrypt_fail"}
	t0 := time.Now().UnixMilli()
	for i := range 20 {
		e, pf := edgeOf(i)
		evs := []any{fleetEvent(i, pf, "1.1.0", "download_zip_start", t0, nil)}
		cause, fails := failing[i]
		switch {
		case i == 19:
			post(t, c.Edges[0], "/stats", evs)
			evs = []any{fleetEvent(i, pf, "1.1.0", cause, t0+500, nil)}
		case fails:
			evs = append(evs, fleetEvent(i, pf, "1.1.0", cause, t0+500, nil))
		case i%2 == 0:
			evs = append(evs, fleetEvent(i, pf, "1.1.0", "download_complete", t0+3000, map[string]string{"duration_ms": "1000"}))
		default:
			evs = append(evs, fleetEvent(i, pf, "1.1.0", "download_complete", t0+2000, nil))
		}
		if !fails {
			evs = append(evs, fleetEvent(i, pf, "1.1.0", "set", t0+2100, nil))
		}
		post(t, e, "/stats", evs)
	}
	// The 16 then check on 1.1.0.
	for i := range 20 {
		if _, fails := failing[i]; !fails {
			e, pf := edgeOf(i)
			post(t, e, "/updates", fleetInfo(i, pf, "1.1.0"))
		}
	}

	var rep api.StatsReport
	wait.For(t, 20*time.Second, "the fleet's stats in the report", func() bool {
		var err error
		rep, err = admin.Analytics(ctx, api.StatsQuery{App: app, Resolution: api.ResolutionHour, From: time.Now().Add(-2 * time.Hour).Unix()})
		return err == nil && versionOf(rep, "1.1.0").Installs == 16 && rep.Failures.Total == 4 && versionOf(rep, "1.1.0").Delivery.Count == 16
	})
	v := versionOf(rep, "1.1.0")
	if len(rep.Nodes) != 3 || len(rep.Missing) != 0 {
		t.Fatalf("nodes %v missing %v, want all 3 answering", rep.Nodes, rep.Missing)
	}
	if v.SuccessRate != 0.8 || v.Downloads != 16 || v.FailuresByCause["decrypt_fail"] != 2 || v.FailuresByCause["checksum_fail"] != 2 {
		t.Fatalf("1.1.0: %+v", v)
	}
	f := rep.Failures
	if f.ByRegion["eu"] != 2 || f.ByRegion["us"] != 2 || f.ByPlatform["android"] != 2 || f.ByPlatform["ios"] != 2 || f.ByPlugin["8.51.23"] != 4 {
		t.Fatalf("failure breakdown %+v", f)
	}
	// Nearest rank over 8 × 1000 ms and 8 × 2000 ms.
	if d := v.Delivery; d.P50 != api.DurationUpper(api.DurationBucket(1000)) || d.P90 != api.DurationUpper(api.DurationBucket(2000)) {
		t.Fatalf("delivery %+v", d)
	}
	// Adoption: each device counted once per bucket per version it ran.
	var on100, last api.AdoptionPoint
	for _, p := range rep.Adoption {
		on100.Total += p.Versions["1.0.0"]
		last = p
	}
	if on100.Total != 20 || last.Versions["1.1.0"] != 16 || v.Devices != 16 {
		t.Fatalf("adoption %+v (1.0.0 device-buckets %d), 1.1.0 devices %d", rep.Adoption, on100.Total, v.Devices)
	}
	// A device's timeline, merged from the two nodes it reported to. The
	// eu edge may ship the device's first event a flush after the counts
	// the wait above saw: eventually consistent, so wait for both.
	var tl api.Timeline
	wait.For(t, 20*time.Second, "device 19's two events in its timeline", func() bool {
		var err error
		tl, err = admin.Timeline(ctx, app, fleetDevice(19))
		return err == nil && len(tl.Events) >= 2
	})
	if len(tl.Events) != 2 || tl.Events[0].Action != "download_zip_start" || tl.Events[1].Action != "decrypt_fail" {
		t.Fatalf("timeline %+v", tl)
	}

	floodWhileOriginDown(t, c, admin)
}

// floodWhileOriginDown stops the eu edge's origin, floods the edge, kills
// and restarts the edge (its spool holds the flood), restarts the origin,
// and wants every flood event counted exactly once.
func floodWhileOriginDown(t *testing.T, c *localcluster.Cluster, admin *api.Client) {
	ctx := context.Background()
	if err := c.StopOrigin(0); err != nil {
		t.Fatal(err)
	}
	const perDevice, devices = 40, 10
	for round := range perDevice / 4 {
		for i := range devices {
			var evs []any
			for k := range 4 {
				evs = append(evs, fleetEvent(i, "ios", "1.1.0", "app_moved_to_foreground", int64(round*4+k), nil))
			}
			post(t, c.Edges[0], "/stats", evs)
		}
		if round == perDevice/8 {
			if err := c.RestartEdge(0); err != nil { // what was spooled so far stays
				t.Fatal(err)
			}
		}
	}
	if err := c.StartOrigin(ctx, 0); err != nil {
		t.Fatal(err)
	}
	want := int64(perDevice * devices)
	var got int64
	wait.For(t, 30*time.Second, "the flood to arrive once", func() bool {
		st, err := admin.Stats(ctx, app)
		if err != nil {
			return false
		}
		got = 0
		for _, v := range st.Versions {
			got += v.Actions["app_moved_to_foreground"]
		}
		return got >= want
	})
	// Let the edge's retries, if any were doubled, land before the check.
	if err := c.RestartEdge(0); err != nil {
		t.Fatal(err)
	}
	st, err := admin.Stats(ctx, app)
	if err != nil {
		t.Fatal(err)
	}
	got = 0
	for _, v := range st.Versions {
		got += v.Actions["app_moved_to_foreground"]
	}
	if got != want {
		t.Fatalf("flood counted %d times, sent %d", got, want)
	}
}

func versionOf(rep api.StatsReport, v string) api.VersionReport {
	for _, r := range rep.Versions {
		if r.Version == v {
			return r
		}
	}
	return api.VersionReport{}
}
