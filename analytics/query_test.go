// NormalizeQuery's defaults and refusals, and app isolation in scans.

package analytics

import (
	"errors"
	"testing"

	"github.com/aloft/aloft/origin/api"
)

func TestNormalizeDefaults(t *testing.T) {
	s := openStore(t, nil)
	q := api.StatsQuery{App: testApp}
	if err := s.NormalizeQuery(&q, tm(at(10, 30)+17)); err != nil {
		t.Fatal(err)
	}
	check(t, "defaults", q, api.StatsQuery{App: testApp, From: at(11, 0) - 86400, To: at(11, 0), Resolution: api.ResolutionHour})
	to := at(12, 0)
	for _, tc := range []struct {
		span int64
		want string
	}{
		{6 * 3600, api.ResolutionMinute}, {6*3600 + 1, api.ResolutionHour},
		{14 * 86400, api.ResolutionHour}, {14*86400 + 1, api.ResolutionDay},
	} {
		q := api.StatsQuery{App: testApp, From: to - tc.span, To: to}
		if err := s.NormalizeQuery(&q, tm(to)); err != nil || q.Resolution != tc.want {
			t.Errorf("span %d: %s (%v), want %s", tc.span, q.Resolution, err, tc.want)
		}
	}
	q = api.StatsQuery{App: testApp, From: at(10, 20), To: at(11, 5) + 1, Resolution: api.ResolutionMinute, Version: v1}
	if err := s.NormalizeQuery(&q, tm(to)); err != nil {
		t.Fatal(err)
	}
	check(t, "aligned", q, api.StatsQuery{App: testApp, From: at(10, 20), To: at(11, 6), Resolution: api.ResolutionMinute, Version: v1})
	q = api.StatsQuery{App: testApp, Resolution: api.ResolutionDay}
	if err := s.NormalizeQuery(&q, tm(at(10, 30))); err != nil {
		t.Fatal(err)
	}
	day := bucketStart(at(10, 0), 86400)
	check(t, "day defaults", q, api.StatsQuery{App: testApp, From: day, To: day + 86400, Resolution: api.ResolutionDay})
}

func TestNormalizeErrors(t *testing.T) {
	s := openStore(t, nil)
	now := tm(at(12, 0))
	for name, q := range map[string]api.StatsQuery{
		"no app":         {From: at(10, 0), To: at(11, 0)},
		"from = to":      {App: testApp, From: at(10, 0), To: at(10, 0)},
		"from > to":      {App: testApp, From: at(11, 0), To: at(10, 0), Resolution: api.ResolutionHour},
		"from after now": {App: testApp, From: at(13, 0)},
		"resolution":     {App: testApp, Resolution: "week"},
		"too many":       {App: testApp, From: at(12, 0) - 3*86400, To: at(12, 0), Resolution: api.ResolutionMinute},
		"negative":       {App: testApp, From: -5, To: at(12, 0)},
	} {
		if err := s.NormalizeQuery(&q, now); !errors.Is(err, ErrBadQuery) {
			t.Errorf("%s: %v, want ErrBadQuery", name, err)
		}
	}
	ok := api.StatsQuery{App: testApp, From: at(12, 0) - 2000*60, To: at(12, 0), Resolution: api.ResolutionMinute}
	if err := s.NormalizeQuery(&ok, now); err != nil {
		t.Errorf("exactly MaxBuckets refused: %v", err)
	}
	if _, err := s.Partial(api.StatsQuery{App: testApp, From: 0, To: 60, Resolution: "week"}); !errors.Is(err, ErrBadQuery) {
		t.Errorf("Partial of a bad query: %v", err)
	}
}

// Apps whose names share a prefix do not see each other's keys.
func TestAppIsolation(t *testing.T) {
	s := openStore(t, nil)
	for i, app := range []string{"com.x", "com.x2", "com.", "com.x\x00", "com.x\x80"} {
		c := cell(10, 5, v1, "", "", "set", int64(i+1))
		c.App = app
		ingest(t, s, api.StatsBatch{ID: app, Cells: []api.StatsCell{c}}, at(10, 6))
	}
	q := hourQuery()
	q.App = "com.x"
	check(t, "com.x", partial(t, s, q).Totals, []api.StatsTotal{{Version: v1, Channel: "production", Action: "set", N: 1}})
}
