// Device records and timelines: bounded, sorted, newest kept, the record
// following the newest sighting, and the merge across nodes.

package analytics

import (
	"slices"
	"testing"

	"github.com/aloft/aloft/origin/api"
)

func eventSeconds(es []api.DeviceEvent) []int64 {
	var out []int64
	for _, e := range es {
		out = append(out, (e.At-ms(10, 0, 0, 0))/1000)
	}
	return out
}

func TestTimelineBounded(t *testing.T) {
	s := openStore(t, func(c *Config) { c.TimelineLen = 5 })
	e := func(sec int) api.DeviceEvent { return ev("set", v1, ms(10, 0, sec, 0), 0) }
	ingest(t, s, api.StatsBatch{ID: "1", Devices: []api.DeviceSeen{seen("d", 10, 20, v1, e(5), e(1), e(3))}}, at(10, 21))
	ingest(t, s, api.StatsBatch{ID: "2", Devices: []api.DeviceSeen{seen("d", 10, 40, v2, e(2), e(8), e(0))}}, at(10, 41))
	// An older sighting from another edge, arriving late.
	late := seen("d", 10, 30, "1.2.0", e(7), e(4))
	late.Platform = "android"
	ingest(t, s, api.StatsBatch{ID: "3", Devices: []api.DeviceSeen{late}}, at(10, 42))
	tl, ok, err := s.Device(testApp, "d")
	if err != nil || !ok {
		t.Fatalf("device: %v %v", ok, err)
	}
	check(t, "events", eventSeconds(tl.Events), []int64{3, 4, 5, 7, 8})
	// The record follows the newest sighting (10:40), not the last batch.
	if tl.Version != v2 || tl.Platform != "ios" || tl.LastSeen != at(10, 40) || tl.App != testApp || tl.Device != "d" {
		t.Errorf("record %+v, want v2 on ios last seen 10:40", tl)
	}
	// Equal At orders by Received.
	s2 := openStore(t, nil)
	x, y := ev("set", v1, 1000, 3000), ev("reset", v1, 1000, 2000)
	ingest(t, s2, api.StatsBatch{ID: "1", Devices: []api.DeviceSeen{seen("d", 10, 0, v1, x, y)}}, at(10, 1))
	tl, _, _ = s2.Device(testApp, "d")
	check(t, "ties", tl.Events, []api.DeviceEvent{y, x})
	if _, ok, err := s2.Device(testApp, "nobody"); ok || err != nil {
		t.Errorf("unknown device: ok=%v err=%v", ok, err)
	}
}

// Appends after the newest stored event take the path that does not
// decode the stored events; the result must be the same.
func TestTimelineAppendInOrder(t *testing.T) {
	s := openStore(t, func(c *Config) { c.TimelineLen = 5 })
	e := func(sec int) api.DeviceEvent { return ev("set", v1, ms(10, 0, sec, 0), 0) }
	for i, step := range []struct {
		add  []int
		want []int64
	}{
		{[]int{0, 1, 2}, []int64{0, 1, 2}},
		{[]int{3, 4}, []int64{0, 1, 2, 3, 4}},                     // fills up
		{[]int{5, 6}, []int64{2, 3, 4, 5, 6}},                     // cuts two off
		{[]int{7}, []int64{3, 4, 5, 6, 7}},                        // one
		{[]int{13, 8, 9, 10, 11, 12}, []int64{9, 10, 11, 12, 13}}, // more than fit
		{[]int{11, 14}, []int64{10, 11, 12, 13, 14}},              // a late one: merged
	} {
		var evs []api.DeviceEvent
		for _, sec := range step.add {
			evs = append(evs, e(sec))
		}
		ingest(t, s, api.StatsBatch{ID: string(rune('a' + i)), Devices: []api.DeviceSeen{seen("d", 10, 0, v1, evs...)}}, at(10, 1))
		tl, _, _ := s.Device(testApp, "d")
		check(t, "step "+string(rune('a'+i)), eventSeconds(tl.Events), step.want)
	}
}

func TestTimelineRoundTrip(t *testing.T) {
	s := openStore(t, nil)
	e := api.DeviceEvent{At: 5, Received: 6, Action: "download_fail", Version: v2, OldVersion: v1, File: "a/b.js",
		Metadata: map[string]string{"error": "boom", "status": "500"}, Truncated: true}
	ingest(t, s, api.StatsBatch{ID: "1", Devices: []api.DeviceSeen{seen("d", 10, 0, v1, e)}}, at(10, 1))
	tl, _, _ := s.Device(testApp, "d")
	check(t, "event", tl.Events, []api.DeviceEvent{e})
}

// Sightings within a bucket count a device once per version; a bucket
// older than the record's counts (the record no longer knows it).
func TestActiveDistinct(t *testing.T) {
	s := openStore(t, nil)
	ingest(t, s, api.StatsBatch{ID: "1", Devices: []api.DeviceSeen{seen("d", 11, 10, v1), seen("d", 11, 20, v1), seen("d", 11, 30, v2)}}, at(11, 31))
	ingest(t, s, api.StatsBatch{ID: "2", Devices: []api.DeviceSeen{seen("d", 11, 40, v1)}}, at(11, 41))
	ingest(t, s, api.StatsBatch{ID: "3", Devices: []api.DeviceSeen{seen("d", 10, 50, v1)}}, at(11, 42))
	check(t, "active", partial(t, s, hourQuery()).Active, []api.ActiveCount{act(at(10, 0), v1, 1), act(at(11, 0), v1, 1), act(at(11, 0), v2, 1)})
}

func TestMergeTimelines(t *testing.T) {
	a := ev("set", v1, 1000, 0)
	b := ev("download_zip_start", v2, 2000, 0)
	c := ev("download_zip_complete", v2, 3000, 0, "duration_ms", "1000")
	d := ev("set", v2, 4000, 0)
	t1 := api.Timeline{App: testApp, Device: "x", Version: v1, Platform: "ios", LastSeen: 100, Events: []api.DeviceEvent{a, c}, Missing: []string{"n3"}}
	t2 := api.Timeline{App: testApp, Device: "x", Version: v2, Platform: "android", LastSeen: 200, Events: []api.DeviceEvent{b, d, c}}
	in := slices.Clone(t1.Events)
	got := MergeTimelines(3, t1, t2)
	check(t, "merged", got, api.Timeline{App: testApp, Device: "x", Version: v2, Platform: "android", LastSeen: 200,
		Events: []api.DeviceEvent{b, c, d}, Missing: []string{"n3"}})
	check(t, "input untouched", t1.Events, in)
	if all := MergeTimelines(0, t2, t1); len(all.Events) != 4 || all.Version != v2 {
		t.Errorf("unbounded merge %+v, want 4 events and v2", all)
	}
	if empty := MergeTimelines(5); empty.Events == nil {
		t.Error("nil events from an empty merge")
	}
}

// A done event before the open start belongs to an earlier download: it
// leaves the start open for the done that follows it.
func TestPairDoneBeforeStart(t *testing.T) {
	s := openStore(t, nil)
	for i, e := range []api.DeviceEvent{
		ev("download_zip_start", v2, ms(10, 0, 10, 0), 0),
		ev("download_zip_complete", v2, ms(10, 0, 9, 0), ms(10, 0, 11, 0)),
		ev("download_zip_complete", v2, ms(10, 0, 12, 0), 0),
	} {
		ingest(t, s, api.StatsBatch{ID: string(rune('a' + i)), Devices: []api.DeviceSeen{seen("d", 10, 1, v2, e)}}, at(10, 2))
	}
	check(t, "durations", partial(t, s, hourQuery()).Durations,
		[]api.DurationHist{{Version: v2, Buckets: [][2]int64{{int64(api.DurationBucket(2000)), 1}}}})
}
