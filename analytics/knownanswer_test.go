// A known-answer stream: five batches over three hours from two regions,
// two versions with devices moving from the first to the second, failures
// of several causes and delivery times both in cells and as event pairs.
// Every figure below was worked out by hand from the batches.

package analytics

import (
	"math"
	"reflect"
	"testing"

	"github.com/aloft/aloft/origin/api"
)

const (
	v1 = "1.0.0"
	v2 = "1.1.0"
)

// knownBatches is the whole stream in one function (longer than the
// rest) so that the figures the tests expect can be read off one place.
func knownBatches() (bs []api.StatsBatch, received []int64) {
	a := api.StatsBatch{ID: "a", Edge: "e1", Region: "eu",
		Cells: []api.StatsCell{
			cell(10, 5, v1, "6.0.0", "ios", "set", 3),
			cell(10, 5, v1, "6.0.0", "ios", "download_complete", 4, [2]int64{5, 2}, [2]int64{10, 1}),
			cell(10, 6, v1, "6.0.0", "ios", "checksum_fail", 1),
			cell(10, 6, v1, "6.0.0", "ios", "download_10", 5),
		},
		Devices: []api.DeviceSeen{
			seen("d1", 10, 5, v1), seen("d2", 10, 5, v1), seen("d3", 10, 6, v1),
			// d4 starts a download of v2 that completes in batch c.
			seen("d4", 10, 7, v1, ev("download_zip_start", v2, ms(10, 7, 0, 0), 0)),
		}}
	b := api.StatsBatch{ID: "b", Edge: "e2", Region: "us",
		Cells: []api.StatsCell{
			cell(10, 40, v1, "5.0.0", "android", "set", 1),
			cell(10, 40, v1, "5.0.0", "android", "download_fail", 2),
			cell(10, 41, v1, "5.0.0", "android", "download_zip_complete", 2),
			cell(10, 41, v1, "5.0.0", "android", "download_manifest_complete", 3),
			cell(10, 42, v2, "6.0.0", "ios", "set", 2),
			cell(10, 42, v2, "6.0.0", "ios", "download_complete", 2, [2]int64{8, 3}),
		},
		Devices: []api.DeviceSeen{
			// 1,000 ms from start to complete.
			seen("d1", 10, 40, v2, ev("download_zip_start", v2, ms(10, 39, 0, 0), 0),
				ev("download_zip_complete", v2, ms(10, 39, 1, 0), 0)),
			// Timed by the device (in the cell's Dur): not timed again,
			// and the second complete finds its start gone.
			seen("d2", 10, 41, v2, ev("download_0", v2, ms(10, 40, 0, 0), 0),
				ev("download_complete", v2, ms(10, 40, 5, 0), 0, "duration_ms", "4900"),
				ev("download_complete", v2, ms(10, 40, 6, 0), 0)),
		}}
	c := api.StatsBatch{ID: "c", Edge: "e1", Region: "eu",
		Cells: []api.StatsCell{
			cell(11, 10, v2, "6.0.0", "ios", "set", 4),
			cell(11, 10, v2, "6.0.0", "ios", "download_complete", 4, [2]int64{20, 4}),
			cell(11, 11, v2, "5.0.0", "android", "download_zip_complete", 3),
			cell(11, 12, v2, "5.0.0", "android", "update_fail", 1),
			cell(11, 12, v2, "6.0.0", "ios", "unzip_fail", 1),
			cell(11, 13, v2, "6.0.0", "ios", "app_crash", 2),
			{Minute: minute(11, 14), App: testApp, Version: "unknown", Action: "app_moved_to_foreground", N: 1},
		},
		Devices: []api.DeviceSeen{
			seen("d1", 11, 10, v2), seen("d2", 11, 11, v2),
			// 3,000 ms; the Android duplicate complete 500 ms later
			// must not count (the start is forgotten).
			seen("d3", 11, 12, v2, ev("download_manifest_start", v2, ms(11, 0, 0, 0), ms(11, 0, 4, 0)),
				ev("download_manifest_complete", v2, ms(11, 0, 3, 0), ms(11, 0, 4, 0)),
				ev("download_complete", v2, ms(11, 0, 3, 500), ms(11, 0, 4, 0))),
			// Completes a's start: 20,000 ms, received (and bucketed) at
			// 11:05; then opens another download.
			seen("d4", 11, 13, v1, ev("download_zip_complete", v2, ms(10, 7, 20, 0), ms(11, 5, 0, 0)),
				ev("download_zip_start", v2, ms(11, 13, 0, 0), 0)),
		}}
	d := api.StatsBatch{ID: "d", Edge: "e2", Region: "us",
		Cells: []api.StatsCell{cell(11, 35, v2, "5.0.0", "android", "unzip_fail", 1)},
		Devices: []api.DeviceSeen{
			seen("d1", 11, 35, v2), seen("d3", 11, 36, v2),
			// Before its open start: belongs to no download here.
			seen("d4", 11, 37, v1, ev("download_zip_complete", v2, ms(11, 12, 59, 0), ms(11, 37, 0, 0))),
		}}
	e := api.StatsBatch{ID: "e", Edge: "e1", Region: "eu",
		Cells: []api.StatsCell{cell(12, 23, v2, "6.0.0", "ios", "set", 1)},
		Devices: []api.DeviceSeen{
			seen("d1", 12, 20, v2), seen("d2", 12, 21, v2), seen("d3", 12, 22, v2), seen("d4", 12, 23, v2),
		}}
	return []api.StatsBatch{a, b, c, d, e}, []int64{at(10, 11), at(10, 45), at(11, 30), at(11, 40), at(12, 30)}
}

func ingestKnown(t *testing.T, s *Store) {
	t.Helper()
	bs, rec := knownBatches()
	for i, b := range bs {
		if !ingest(t, s, b, rec[i]) {
			t.Fatalf("batch %s not counted", b.ID)
		}
	}
	if ingest(t, s, bs[1], at(11, 50)) {
		t.Fatal("batch b counted twice")
	}
}

func check[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s:\n got %+v\nwant %+v", what, got, want)
	}
}

func hourQuery() api.StatsQuery {
	return api.StatsQuery{App: testApp, From: at(10, 0), To: at(13, 0), Resolution: api.ResolutionHour}
}

func TestKnownAnswerPartial(t *testing.T) {
	s := openStore(t, nil)
	ingestKnown(t, s)
	p := partial(t, s, hourQuery())
	h1, h2, h3 := at(10, 0), at(11, 0), at(12, 0)
	check(t, "active", p.Active, []api.ActiveCount{
		act(h1, v1, 4), act(h1, v2, 2), act(h2, v1, 1), act(h2, v2, 3), act(h3, v2, 4),
	})
	check(t, "series", p.Series, []api.SeriesCount{
		ser(h1, v1, "checksum_fail", 1), ser(h1, v1, "download_10", 5), ser(h1, v1, "download_complete", 4),
		ser(h1, v1, "download_fail", 2), ser(h1, v1, "download_manifest_complete", 3),
		ser(h1, v1, "download_zip_complete", 2), ser(h1, v1, "set", 4),
		ser(h1, v2, "download_complete", 2), ser(h1, v2, "set", 2),
		ser(h2, v2, "app_crash", 2), ser(h2, v2, "download_complete", 4), ser(h2, v2, "download_zip_complete", 3),
		ser(h2, v2, "set", 4), ser(h2, v2, "unzip_fail", 2), ser(h2, v2, "update_fail", 1),
		ser(h2, "unknown", "app_moved_to_foreground", 1),
		ser(h3, v2, "set", 1),
	})
	// Cells: v1 as sent; v2's cells (8,3) and (20,4) plus the pairs of
	// 1,000 ms (bucket 24, ≤1024), 3,000 ms (31, ≤3444), 20,000 ms (42,
	// ≤23170).
	check(t, "durations", p.Durations, []api.DurationHist{
		{Version: v1, Buckets: [][2]int64{{5, 2}, {10, 1}}},
		{Version: v2, Buckets: [][2]int64{{8, 3}, {20, 4}, {24, 1}, {31, 1}, {42, 1}}},
	})
	// 19 cells, of which c's and e's ios eu "set" of v2 share dimensions.
	if len(p.Totals) != 18 {
		t.Errorf("%d totals, want 18: %+v", len(p.Totals), p.Totals)
	}
	for _, tot := range p.Totals {
		if tot.Version == v2 && tot.Action == "set" && tot.Region == "eu" && tot.N != 5 {
			t.Errorf("v2 set eu = %d, want 5 (4 + 1)", tot.N)
		}
	}
	if len(p.Nodes) != 0 || p.Missing != nil {
		t.Errorf("nodes %v missing %v, want both empty", p.Nodes, p.Missing)
	}
}

func TestKnownAnswerReport(t *testing.T) {
	s := openStore(t, nil)
	ingestKnown(t, s)
	p := partial(t, s, hourQuery())
	p.Nodes = []string{"n1"}
	r := Report(p, map[string]int64{v2: at(10, 20)})
	h1, h2, h3 := at(10, 0), at(11, 0), at(12, 0)
	check(t, "adoption", r.Adoption, []api.AdoptionPoint{
		{Bucket: h1, Total: 6, Versions: map[string]int64{v1: 4, v2: 2}},
		{Bucket: h2, Total: 4, Versions: map[string]int64{v1: 1, v2: 3}},
		{Bucket: h3, Total: 4, Versions: map[string]int64{v2: 4}},
	})
	check(t, "versions", r.Versions, []api.VersionReport{
		{Version: v2, Devices: 4, Installs: 7, Downloads: 6, Failures: 3, SuccessRate: 0.7,
			FailuresByCause: map[string]int64{"update_fail": 1, "unzip_fail": 2},
			// Published 10:20; 3 of 4 devices by the end of 11:00-12:00,
			// all 4 by the end of 12:00-13:00.
			Adoption50: 6000, Adoption95: 9600,
			// 10 durations: rank 5 in bucket 20, 9 in 31, 10 in 42.
			Delivery: api.Percentiles{Count: 10, P50: 512, P90: 3444, P99: 23170}},
		{Version: v1, Devices: 0, Installs: 4, Downloads: 5, Failures: 3, SuccessRate: 4.0 / 7,
			FailuresByCause: map[string]int64{"checksum_fail": 1, "download_fail": 2},
			// Not in published: from its first bucket (10:00), 4 of 6
			// devices by 11:00; never 95%.
			Adoption50: 3600, Adoption95: -1,
			Delivery: api.Percentiles{Count: 3, P50: 38, P90: 91, P99: 91}},
		{Version: "unknown", SuccessRate: -1, FailuresByCause: map[string]int64{}, Adoption50: -1, Adoption95: -1},
	})
	check(t, "failures", r.Failures, api.FailureBreakdown{
		Total:      6,
		ByCause:    map[string]int64{"checksum_fail": 1, "download_fail": 2, "update_fail": 1, "unzip_fail": 2},
		ByVersion:  map[string]int64{v1: 3, v2: 3},
		ByPlugin:   map[string]int64{"6.0.0": 2, "5.0.0": 4},
		ByPlatform: map[string]int64{"ios": 2, "android": 4},
		ByRegion:   map[string]int64{"eu": 3, "us": 3},
	})
	check(t, "nodes", r.Nodes, []string{"n1"})
	check(t, "query", r.Query, hourQuery())
}

// Pair durations go to the minute their done event was received.
func TestKnownAnswerMinutes(t *testing.T) {
	s := openStore(t, nil)
	ingestKnown(t, s)
	q := api.StatsQuery{App: testApp, From: at(10, 39), To: at(10, 40), Resolution: api.ResolutionMinute, Version: v2}
	check(t, "10:39 durations", partial(t, s, q).Durations, []api.DurationHist{{Version: v2, Buckets: [][2]int64{{24, 1}}}})
	q.From, q.To = at(11, 5), at(11, 6)
	check(t, "11:05 durations", partial(t, s, q).Durations, []api.DurationHist{{Version: v2, Buckets: [][2]int64{{42, 1}}}})
	// d1 and d2 are active in 10:05 once each, though d1 came in twice
	// later in the hour.
	q = api.StatsQuery{App: testApp, From: at(10, 5), To: at(10, 6), Resolution: api.ResolutionMinute}
	check(t, "10:05 active", partial(t, s, q).Active, []api.ActiveCount{act(at(10, 5), v1, 2)})
}

func TestFilters(t *testing.T) {
	s := openStore(t, nil)
	ingestKnown(t, s)
	q := hourQuery()
	q.Version = v1
	p := partial(t, s, q)
	check(t, "v1 active", p.Active, []api.ActiveCount{act(at(10, 0), v1, 4), act(at(11, 0), v1, 1)})
	check(t, "v1 durations", p.Durations, []api.DurationHist{{Version: v1, Buckets: [][2]int64{{5, 2}, {10, 1}}}})
	for _, x := range p.Series {
		if x.Version != v1 {
			t.Errorf("version filter let %+v through", x)
		}
	}
	// Region selects cells; active devices have no region, so they all
	// stay.
	q = hourQuery()
	q.Region = "us"
	p = partial(t, s, q)
	var n int64
	for _, x := range p.Totals {
		if x.Region != "us" {
			t.Errorf("region filter let %+v through", x)
		}
		n += x.N
	}
	if n != 1+2+2+3+2+2+1 {
		t.Errorf("us events = %d, want 13", n)
	}
	if len(p.Active) != 5 {
		t.Errorf("region filter changed active counts: %+v", p.Active)
	}
	q = hourQuery()
	q.Platform, q.Channel = "android", "production"
	var fails int64
	for _, x := range Report(partial(t, s, q), nil).Versions {
		fails += x.Failures
	}
	if fails != 4 {
		t.Errorf("android failures = %d, want 4", fails)
	}
}

func TestReportEdges(t *testing.T) {
	r := Report(api.StatsPartial{}, nil)
	if r.Versions == nil || r.Adoption == nil || r.Nodes == nil || r.Failures.ByCause == nil || r.Failures.ByRegion == nil {
		t.Errorf("nil slices or maps in an empty report: %+v", r)
	}
	// Versions order semver-aware, names after, the folded buckets last.
	p := api.StatsPartial{Query: hourQuery()}
	for _, v := range []string{"other", "1.10.0", "unknown", "1.2.0", "builtin", "1.10.0-beta.1", "nightly", "2.0.0"} {
		p.Totals = append(p.Totals, api.StatsTotal{Version: v, Action: "set", N: 1})
	}
	var got []string
	for _, v := range Report(p, nil).Versions {
		got = append(got, v.Version)
	}
	check(t, "order", got, []string{"2.0.0", "1.10.0", "1.10.0-beta.1", "1.2.0", "nightly", "builtin", "unknown", "other"})
	// Failures are IsFailureAction's list, not every "_fail": disk
	// space is one, a crash is not.
	p = api.StatsPartial{Query: hourQuery(), Totals: []api.StatsTotal{
		{Version: v1, Action: "insufficient_disk_space", N: 2}, {Version: v1, Action: "app_crash", N: 3},
		{Version: v1, Action: "set", N: 1}}}
	fr := Report(p, nil)
	if f := fr.Versions[0]; f.Failures != 2 || f.SuccessRate != 1.0/3 || fr.Failures.Total != 2 || fr.Failures.ByCause["app_crash"] != 0 {
		t.Errorf("failure actions: %+v %+v", f, fr.Failures)
	}
	// Saturated counts stay saturated: no share or rank wraps negative.
	p = api.StatsPartial{Query: hourQuery(),
		Active:    []api.ActiveCount{act(at(10, 0), v1, math.MaxInt64), act(at(10, 0), v2, math.MaxInt64)},
		Durations: []api.DurationHist{{Version: v1, Buckets: [][2]int64{{3, math.MaxInt64}, {95, math.MaxInt64}}}}}
	vs := Report(p, nil).Versions
	if vs[1].Devices != math.MaxInt64 || vs[1].Adoption50 != 3600 || vs[1].Delivery.Count != math.MaxInt64 || vs[1].Delivery.P99 != api.DurationUpper(3) {
		t.Errorf("saturated: %+v", vs[1])
	}
}
