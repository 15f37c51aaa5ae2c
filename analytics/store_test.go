// Tests of the store's lifecycle and ingest guarantees: config checks,
// the file lock, dedup across reopen, all-or-nothing batches, the
// roll-up, legacy counts and saturation.

package analytics

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/aloft/aloft/origin/api"
)

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig("x.db").Validate(); err != nil {
		t.Fatalf("default config refused: %v", err)
	}
	for name, tc := range map[string]struct {
		edit func(*Config)
		want string
	}{
		"no path":          {func(c *Config) { c.Path = "" }, "Path"},
		"zero minute":      {func(c *Config) { c.MinuteRetention = 0 }, "MinuteRetention"},
		"hour < minute":    {func(c *Config) { c.HourRetention = 24 * time.Hour; c.MinuteRetention = 48 * time.Hour }, "minute ≤ hour ≤ day"},
		"day < hour":       {func(c *Config) { c.DayRetention = 30 * 24 * time.Hour }, "minute ≤ hour ≤ day"},
		"no dedup":         {func(c *Config) { c.DedupWindow = 0 }, "DedupWindow"},
		"short device ret": {func(c *Config) { c.DeviceRetention = time.Hour }, "DeviceRetention"},
		"no timeline":      {func(c *Config) { c.TimelineLen = 0 }, "TimelineLen"},
		"huge timeline":    {func(c *Config) { c.TimelineLen = maxTimelineLen + 1 }, "TimelineLen"},
		"no buckets":       {func(c *Config) { c.MaxBuckets = -1 }, "MaxBuckets"},
	} {
		c := DefaultConfig("x.db")
		tc.edit(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error naming %q", name, err, tc.want)
		}
		if _, err := Open(c); err == nil {
			t.Errorf("%s: Open accepted it", name)
		}
	}
}

func TestSecondOpenFails(t *testing.T) {
	s := openStore(t, nil)
	start := time.Now()
	if s2, err := Open(s.cfg); err == nil {
		s2.Close()
		t.Fatal("a second Open of the same file succeeded")
	} else if !strings.Contains(err.Error(), "locked") {
		t.Errorf("unclear error: %v", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("second Open took %v", d)
	}
}

func setCount(t *testing.T, s *Store) int64 {
	t.Helper()
	var n int64
	for _, x := range partial(t, s, hourQuery()).Totals {
		if x.Action == "set" {
			n += x.N
		}
	}
	return n
}

func TestDedupSurvivesReopen(t *testing.T) {
	cfg := testConfig(t)
	s, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	b := api.StatsBatch{ID: "batch-1", Cells: []api.StatsCell{cell(10, 5, v1, "", "", "set", 2)},
		Devices: []api.DeviceSeen{seen("d1", 10, 5, v1)}}
	if !ingest(t, s, b, at(10, 6)) || ingest(t, s, b, at(10, 7)) {
		t.Fatal("want the first ingest counted and the second not")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if s, err = Open(cfg); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if ingest(t, s, b, at(10, 8)) {
		t.Error("the batch counted again after reopening")
	}
	if n := setCount(t, s); n != 2 {
		t.Errorf("set = %d after reopen, want 2", n)
	}
	b.ID = "batch-2"
	if !ingest(t, s, b, at(10, 9)) {
		t.Error("a new id did not count")
	}
	if n := setCount(t, s); n != 4 {
		t.Errorf("set = %d, want 4", n)
	}
	// The device counts once in the bucket however many batches name it.
	if a := partial(t, s, hourQuery()).Active; len(a) != 1 || a[0].Devices != 1 {
		t.Errorf("active %+v, want one device", a)
	}
}

func TestIngestRefusesNoID(t *testing.T) {
	s := openStore(t, nil)
	_, err := s.Ingest(api.StatsBatch{Cells: []api.StatsCell{cell(10, 5, v1, "", "", "set", 1)}}, tm(at(10, 6)))
	if !errors.Is(err, ErrBadBatch) {
		t.Fatalf("err %v, want ErrBadBatch", err)
	}
}

// A batch whose write fails halfway leaves nothing behind: a corrupt
// stored counter makes the flush fail after the id and device records
// were written in the same transaction.
func TestIngestAllOrNothing(t *testing.T) {
	s := openStore(t, nil)
	bad := cellKey(testApp, bucketStart(at(10, 5), 3600), cellDims{Version: v1, Action: "set"})
	if err := s.db.Update(func(tx *bbolt.Tx) error { return tx.Bucket(resolutions[1].cells).Put(bad, []byte{0xff}) }); err != nil {
		t.Fatal(err)
	}
	b := api.StatsBatch{ID: "x", Cells: []api.StatsCell{{Minute: minute(10, 5), App: testApp, Version: v1, Action: "set", N: 1}},
		Devices: []api.DeviceSeen{seen("d1", 10, 5, v1)}}
	if _, err := s.Ingest(b, tm(at(10, 6))); err == nil {
		t.Fatal("ingest over a corrupt counter succeeded")
	}
	if _, ok, _ := s.Device(testApp, "d1"); ok {
		t.Error("the device record of a failed batch was kept")
	}
	if err := s.db.Update(func(tx *bbolt.Tx) error { return tx.Bucket(resolutions[1].cells).Delete(bad) }); err != nil {
		t.Fatal(err)
	}
	if !ingest(t, s, b, at(10, 7)) {
		t.Error("the id of a failed batch was kept")
	}
}

// The sum of the minute cells of an hour is the hour cell, and of the
// hours the day cell; delivery histograms roll up the same way.
func TestRollUp(t *testing.T) {
	s := openStore(t, nil)
	var cells []api.StatsCell
	for m := 0; m < 120; m += 7 {
		cells = append(cells, cell(10+m/60, m%60, v1, "6.0.0", "ios", "set", int64(m+1), [2]int64{int64(m % 5), 1}))
		cells = append(cells, cell(10+m/60, m%60, v2, "5.0.0", "android", "unzip_fail", 2))
	}
	ingest(t, s, api.StatsBatch{ID: "r", Region: "eu", Cells: cells}, at(12, 0))
	day := bucketStart(at(10, 0), 86400)
	dayP := partial(t, s, api.StatsQuery{App: testApp, From: day, To: day + 86400, Resolution: api.ResolutionDay})
	var hourSum []api.StatsPartial
	for h := 10; h < 12; h++ {
		mq := api.StatsQuery{App: testApp, From: at(h, 0), To: at(h+1, 0), Resolution: api.ResolutionMinute}
		hq := mq
		hq.Resolution = api.ResolutionHour
		mp, hp := partial(t, s, mq), partial(t, s, hq)
		if len(mp.Series) == 0 {
			t.Fatalf("no minute series in hour %d", h)
		}
		check(t, "minute totals vs hour", api.MergePartials(hq, mp).Totals, hp.Totals)
		check(t, "minute durations vs hour", api.MergePartials(hq, mp).Durations, hp.Durations)
		hourSum = append(hourSum, hp)
	}
	sum := api.MergePartials(dayP.Query, hourSum...)
	check(t, "hour totals vs day", sum.Totals, dayP.Totals)
	check(t, "hour durations vs day", sum.Durations, dayP.Durations)
}

func TestLegacyCounts(t *testing.T) {
	s := openStore(t, nil)
	b := api.StatsBatch{ID: "old", Region: "eu", Counts: []api.StatsCount{
		{App: testApp, Version: v1, Action: "set", N: 3}, {App: testApp, Version: v1, Action: "set", N: 2},
		{App: testApp, Version: v1, Action: "set", N: -7}, {App: "", Version: v1, Action: "set", N: 1},
	}}
	ingest(t, s, b, at(10, 30)+59)
	q := api.StatsQuery{App: testApp, From: at(10, 30), To: at(10, 31), Resolution: api.ResolutionMinute}
	p := partial(t, s, q)
	check(t, "legacy totals", p.Totals, []api.StatsTotal{{Version: v1, Action: "set", N: 5}})
	check(t, "legacy series", p.Series, []api.SeriesCount{ser(at(10, 30), v1, "set", 5)})
}

func TestCountersSaturate(t *testing.T) {
	s := openStore(t, nil)
	for i, id := range []string{"s1", "s2"} {
		ingest(t, s, api.StatsBatch{ID: id, Cells: []api.StatsCell{
			cell(10, 5, v1, "", "", "set", math.MaxInt64-1, [2]int64{3, math.MaxInt64}),
			cell(10, 6, v1, "", "", "set", math.MaxInt64),
		}}, at(10, 10+i))
	}
	p := partial(t, s, hourQuery())
	if len(p.Totals) != 1 || p.Totals[0].N != math.MaxInt64 {
		t.Errorf("totals %+v, want one saturated", p.Totals)
	}
	if d := p.Durations; len(d) != 1 || d[0].Buckets[0][1] != math.MaxInt64 {
		t.Errorf("durations %+v, want saturated", d)
	}
}
