// The multi-node property: batches split between two stores and their
// partials merged answer like one store that got every batch.

package analytics

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/aloft/aloft/origin/api"
)

var (
	randVersions  = []string{v1, v2, "1.2.0"}
	randChannels  = []string{"production", "beta"}
	randPlugins   = []string{"5.0.0", "6.0.0"}
	randPlatforms = []string{"ios", "android"}
	randRegions   = []string{"eu", "us", "ap"}
	randActions   = []string{"set", "set_fail", "download_complete", "download_zip_complete", "unzip_fail", "download_10"}
	randEvents    = []string{"download_zip_start", "download_0", "download_zip_complete", "download_complete", "set"}
)

func pick[T any](r *rand.Rand, xs []T) T { return xs[r.IntN(len(xs))] }

// randomBatch makes a batch of cells between 10:00 and 13:00 and
// sightings of the given devices, with download events when events.
func randomBatch(r *rand.Rand, id string, devices []string, events bool) api.StatsBatch {
	b := api.StatsBatch{ID: id, Region: pick(r, randRegions)}
	for range 1 + r.IntN(20) {
		c := api.StatsCell{Minute: minute(10, 0) + int64(r.IntN(180)), App: testApp, Version: pick(r, randVersions),
			Channel: pick(r, randChannels), Plugin: pick(r, randPlugins), Platform: pick(r, randPlatforms),
			Action: pick(r, randActions), N: 1 + r.Int64N(5)}
		if r.IntN(3) == 0 {
			c.Dur = [][2]int64{{r.Int64N(api.DurationBuckets), 1 + r.Int64N(3)}}
		}
		b.Cells = append(b.Cells, c)
	}
	for range r.IntN(6) {
		d := api.DeviceSeen{App: testApp, Device: pick(r, devices), Minute: minute(10, 0) + int64(r.IntN(180)), Version: pick(r, randVersions)}
		for range r.IntN(5) * btoi(events) {
			atMs := ms(10, 0, 0, r.Int64N(3*3600*1000))
			e := api.DeviceEvent{At: atMs, Received: atMs + r.Int64N(60000), Action: pick(r, randEvents), Version: pick(r, randVersions)}
			e.Bucket = e.Version
			if r.IntN(4) == 0 {
				e.Metadata = map[string]string{"duration_ms": "100"}
			}
			d.Events = append(d.Events, e)
		}
		b.Devices = append(b.Devices, d)
	}
	return b
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func mergeQueries() []api.StatsQuery {
	var qs []api.StatsQuery
	for _, r := range resolutions {
		qs = append(qs, api.StatsQuery{App: testApp, From: bucketStart(at(10, 0), r.width), To: at(13, 0) + r.width, Resolution: r.name})
	}
	return qs
}

// Any split of the batches: totals, series and delivery histograms from
// cells add exactly, since each batch counts on the one node it reached.
func TestMergeAnySplit(t *testing.T) {
	for seed := range uint64(6) {
		r := rand.New(rand.NewPCG(seed, 1))
		all, parts := openStore(t, nil), [2]*Store{openStore(t, nil), openStore(t, nil)}
		devices := []string{"d0", "d1", "d2", "d3", "d4", "d5"}
		for i := range 40 {
			b := randomBatch(r, fmt.Sprint("b", i), devices, false)
			ingest(t, all, b, at(13, 0))
			ingest(t, parts[r.IntN(2)], b, at(13, 0))
		}
		for _, q := range mergeQueries() {
			want := partial(t, all, q)
			got := api.MergePartials(q, partial(t, parts[0], q), partial(t, parts[1], q))
			if len(want.Totals) == 0 || len(want.Durations) == 0 {
				t.Fatalf("seed %d %s: a trivial stream", seed, q.Resolution)
			}
			check(t, fmt.Sprintf("seed %d %s totals", seed, q.Resolution), got.Totals, want.Totals)
			check(t, fmt.Sprintf("seed %d %s series", seed, q.Resolution), got.Series, want.Series)
			check(t, fmt.Sprintf("seed %d %s durations", seed, q.Resolution), got.Durations, want.Durations)
		}
	}
}

// Device-routed split (every batch naming a device goes to the node that
// holds that device): active counts and paired delivery times add too.
// They need it because both are computed against the device's record on
// the node: a device counted by two nodes in one bucket is two devices
// in the sum, and a download whose start and complete reached different
// nodes is timed by neither.
func TestMergeDeviceRouted(t *testing.T) {
	for seed := range uint64(6) {
		r := rand.New(rand.NewPCG(seed, 2))
		all, parts := openStore(t, nil), [2]*Store{openStore(t, nil), openStore(t, nil)}
		pools := [2][]string{{"a0", "a1", "a2", "a3"}, {"b0", "b1", "b2", "b3", "b4"}}
		for i := range 40 {
			k := r.IntN(2)
			b := randomBatch(r, fmt.Sprint("b", i), pools[k], true)
			ingest(t, all, b, at(13, 0))
			ingest(t, parts[k], b, at(13, 0))
		}
		for _, q := range mergeQueries() {
			want := partial(t, all, q)
			got := api.MergePartials(q, partial(t, parts[0], q), partial(t, parts[1], q))
			if len(want.Active) == 0 {
				t.Fatalf("seed %d: no active devices", seed)
			}
			check(t, fmt.Sprintf("seed %d %s active", seed, q.Resolution), got.Active, want.Active)
			check(t, fmt.Sprintf("seed %d %s durations", seed, q.Resolution), got.Durations, want.Durations)
			check(t, fmt.Sprintf("seed %d %s totals", seed, q.Resolution), got.Totals, want.Totals)
			check(t, fmt.Sprintf("seed %d %s report", seed, q.Resolution), Report(got, nil), Report(want, nil))
		}
	}
}

// A device split across nodes is over-counted, never under-counted, in
// the documented way: once per node that heard from it in the bucket.
func TestMergeSplitDeviceOverCounts(t *testing.T) {
	a, b := openStore(t, nil), openStore(t, nil)
	ingest(t, a, api.StatsBatch{ID: "1", Devices: []api.DeviceSeen{seen("d", 10, 5, v1)}}, at(10, 6))
	ingest(t, b, api.StatsBatch{ID: "2", Devices: []api.DeviceSeen{seen("d", 10, 6, v1)}}, at(10, 7))
	q := hourQuery()
	got := api.MergePartials(q, partial(t, a, q), partial(t, b, q))
	check(t, "split device", got.Active, []api.ActiveCount{act(at(10, 0), v1, 2)})
}
