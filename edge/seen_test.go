package edge

import (
	"fmt"
	"strings"
	"testing"

	"github.com/aloft/aloft/capgo"
	"github.com/aloft/aloft/origin/api"
)

// devOf returns the drained record of device dev, or fails.
func devOf(t *testing.T, devices []api.DeviceSeen, dev string) api.DeviceSeen {
	t.Helper()
	for _, d := range devices {
		if d.Device == dev {
			return d
		}
	}
	t.Fatalf("device %s not in %+v", dev, devices)
	return api.DeviceSeen{}
}

// TestSeen_ChecksRecordWhatADeviceRuns: an update check puts its device in
// the table with the version it runs (folded against the catalog), its
// plugin, platform and the channel it asks for; a repeat counts, a
// version change shows.
func TestSeen_ChecksRecordWhatADeviceRuns(t *testing.T) {
	n := newTestNode(t) // bundles 1.0.0 and 1.1.0, channel production
	for range 3 {
		request(n, "POST", "/updates", checkBody)
	}
	moved := strings.Replace(strings.Replace(checkBody, `"version_name":"1.0.0"`, `"version_name":"1.1.0"`, 1),
		`"defaultChannel":""`, `"defaultChannel":"production"`, 1)
	request(n, "POST", "/updates", moved)
	junk := strings.Replace(strings.Replace(checkBody, `"version_name":"1.0.0"`, `"version_name":"9.9.9"`, 1),
		"2b7a3c3e-5d0a-4b7e-9c31-1f2e3d4c5b6a", "00000000-0000-4000-8000-000000000001", 1)
	junk = strings.Replace(junk, `"defaultChannel":""`, `"defaultChannel":"nope"`, 1)
	request(n, "POST", "/updates", junk)
	devices, dd, de := n.seen.drain()
	if len(devices) != 2 || dd != 0 || de != 0 {
		t.Fatalf("drained %d devices (dropped %d/%d): %+v", len(devices), dd, de, devices)
	}
	d := devOf(t, devices, "2b7a3c3e-5d0a-4b7e-9c31-1f2e3d4c5b6a")
	if d.App != "com.example.app" || d.Checks != 4 || d.Version != "1.1.0" || d.Channel != "production" ||
		d.Plugin != "8.51.23" || d.Platform != "android" || d.Minute == 0 || len(d.Events) != 0 {
		t.Fatalf("record %+v", d)
	}
	j := devOf(t, devices, "00000000-0000-4000-8000-000000000001")
	if j.Version != capgo.StatsOther || j.Channel != capgo.StatsOther {
		t.Fatalf("unknown names not folded: %+v", j)
	}
	if again, _, _ := n.seen.drain(); len(again) != 0 {
		t.Fatalf("a drained table gave devices again: %+v", again)
	}
}

// TestSeen_RepeatCheckAllocatesNothing: the check path's share of the
// devices table costs no allocation for a device already in it.
func TestSeen_RepeatCheckAllocatesNothing(t *testing.T) {
	n := newTestNode(t)
	in, err := capgo.DecodeInfoAlias([]byte(checkBody))
	if err != nil {
		t.Fatal(err)
	}
	av := n.view.Load().apps["com.example.app"]
	n.seen.check(av, &in, 1)
	if a := testing.AllocsPerRun(1000, func() { n.seen.check(av, &in, 1) }); a != 0 {
		t.Fatalf("a repeat check allocates %.1f times", a)
	}
}

// TestSeen_TimelineEventsOwnTheirBytes: stats events reach the device's
// timeline with their timestamp, names and metadata (bounded), copied out
// of the request body, which fasthttp reuses.
func TestSeen_TimelineEventsOwnTheirBytes(t *testing.T) {
	n := newTestNode(t)
	n.statsDevices, n.statsApps = nil, nil
	big := strings.Repeat("x", api.MaxEventMetadata)
	body := statsBody(
		statsEv(devStats, "1.1.0", "download_zip_start", "timestamp", "1764256000000"),
		statsEv(devStats, "1.1.0:assets/app.js", "download_manifest_file_fail", "timestamp", "1764256000100"),
		statsEv(devStats, "1.1.0", "set", "old_version_name", "1.0.0"),
	)
	body = strings.Replace(body, `"action":"download_zip_start"`, `"action":"download_zip_start","metadata":{"duration_ms":"1200","why":"test","big":"`+big+`"}`, 1)
	body = strings.ReplaceAll(body, `"timestamp":"1764256000000"`, `"timestamp":1764256000000`)
	body = strings.ReplaceAll(body, `"timestamp":"1764256000100"`, `"timestamp":1764256000100`)
	ctx := request(n, "POST", "/stats", body)
	if ctx.Response.StatusCode() != 200 {
		t.Fatalf("status %d: %s", ctx.Response.StatusCode(), ctx.Response.Body())
	}
	b := ctx.Request.Body()
	for i := range b {
		b[i] = 'z' // what the next request on the connection would do
	}
	devices, _, _ := n.seen.drain()
	d := devOf(t, devices, devStats)
	if len(d.Events) != 3 || d.Version != "1.1.0" || d.Platform != "ios" {
		t.Fatalf("record %+v", d)
	}
	e0, e1, e2 := d.Events[0], d.Events[1], d.Events[2]
	if e0.At != 1764256000000 || e0.Action != "download_zip_start" || e0.Version != "1.1.0" ||
		e0.Metadata["duration_ms"] != "1200" || e0.Metadata["why"] != "test" || e0.Metadata["big"] != "" || !e0.Truncated {
		t.Fatalf("first event %+v", e0)
	}
	if e1.Version != "1.1.0" || e1.File != "assets/app.js" || e1.At != 1764256000100 {
		t.Fatalf("per-file failure %+v", e1)
	}
	if e2.OldVersion != "1.0.0" || e2.At != e2.Received || e2.Received == 0 {
		t.Fatalf("an event without a timestamp gets the receive time: %+v", e2)
	}
}

// TestStats_DurationHistogram: a download completion's metadata.duration_ms
// lands in its cell's histogram; other actions' durations do not.
func TestStats_DurationHistogram(t *testing.T) {
	n := newTestNode(t)
	n.statsDevices, n.statsApps = nil, nil
	ev := func(action, dur string) string {
		return strings.Replace(statsEv(devStats, "1.1.0", action), `"action":"`+action+`"`, `"action":"`+action+`","metadata":{"duration_ms":`+dur+`}`, 1)
	}
	request(n, "POST", "/stats", statsBody(ev("download_complete", "800"), ev("download_complete", `"800"`), ev("download_complete", "90000"), ev("set", "5")))
	var done, set *statsCell
	for k, c := range n.stats.drain() {
		switch k.action {
		case "download_complete":
			done = c
		case "set":
			set = c
		}
	}
	if done == nil || done.n != 3 || done.dur[api.DurationBucket(800)] != 2 || done.dur[api.DurationBucket(90000)] != 1 || len(done.dur) != 2 {
		t.Fatalf("download cell %+v", done)
	}
	if set == nil || set.dur != nil {
		t.Fatalf("a set's duration was kept: %+v", set)
	}
}

// TestSeen_Bounds: past MaxSeenDevices devices are left out (and counted),
// past the byte budget events are; the aggregates still count them all.
func TestSeen_Bounds(t *testing.T) {
	tb := newSeenTable(seenShards, 1<<20) // one device per shard
	n := newTestNode(t)
	av := n.view.Load().apps["com.example.app"]
	for i := range 200 {
		in, _ := capgo.DecodeInfoAlias([]byte(strings.Replace(checkBody, "2b7a3c3e-5d0a-4b7e-9c31-1f2e3d4c5b6a",
			fmt.Sprintf("00000000-0000-4000-8000-%012x", i), 1)))
		tb.check(av, &in, 1)
	}
	devices, dd, _ := tb.drain()
	if len(devices) > seenShards || len(devices) == 0 || int(dd)+len(devices) != 200 {
		t.Fatalf("%d devices kept, %d dropped", len(devices), dd)
	}
	small := newSeenTable(100, 300)
	k := statsKey{minute: 1, app: "com.example.app", version: "1.1.0", action: "set"}
	var evs []seenEvent
	for range 5 {
		evs = append(evs, seenEvent{key: k, device: devStats, ev: api.DeviceEvent{Action: "set", Version: "1.1.0"}})
	}
	small.addEvents(evs)
	devices, _, de := small.drain()
	if len(devices) != 1 || len(devices[0].Events) == 0 || len(devices[0].Events) >= 5 || int(de)+len(devices[0].Events) != 5 {
		t.Fatalf("budget: %d events kept, %d dropped", len(devices[0].Events), de)
	}
}
