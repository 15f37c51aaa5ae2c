// Stats aggregates in the replicated state, as releases before the
// analytics store (analytics.go) wrote them: their log entries still
// replay, and the all-time stats answer adds what they counted. Nothing
// new is written here. Kept bounded as before: counts fold against the
// catalog and each app holds at most maxStatsCells (version, action)
// cells. The folding is part of apply, so it reads only the state.

package origin

import (
	"math"

	"github.com/aloft/aloft/capgo"
	"github.com/aloft/aloft/origin/api"
)

// maxStatsCells bounds the (version, action) cells one app keeps; a count
// for a new cell beyond it goes to other/other. An app's live versions
// need (versions + 3) × (capgo.StatsActionCount + 1) cells at the very
// most, so this is ~150 fully populated versions (about 400 KiB of stats
// answer). Cells of deleted versions stay until stats move off raft
// (issue 10), so a long-lived app can reach the cap; its newest versions
// then count in other/other, which the stats answer shows.
const maxStatsCells = 10000

// foldStatsCount returns the cell c counts in, or false when the app is
// unknown or the count is not positive.
func (s *state) foldStatsCount(c api.StatsCount) (api.StatsCount, bool) {
	app := s.app(c.App)
	if app == nil || c.N <= 0 {
		return c, false
	}
	c.App = app.ID
	c.Version, _ = capgo.FoldStatsVersion(c.Version, app.Bundles)
	c.Action, _ = capgo.FoldStatsAction(c.Action)
	return c, true
}

func (s *state) addStats(b api.StatsBatch) {
	for _, c := range b.Counts {
		if c, ok := s.foldStatsCount(c); ok {
			s.countStat(c.App, c.Version, c.Action, c.N)
		}
	}
}

// countStat adds n to one cell, creating it within the app's cell cap.
func (s *state) countStat(app, version, action string, n int64) {
	if s.cells == nil {
		s.cells = map[string]int{}
		for a, byVer := range s.Stats {
			for _, byAct := range byVer {
				s.cells[a] += len(byAct)
			}
		}
	}
	byVer := s.Stats[app]
	if byVer == nil {
		byVer = map[string]map[string]int64{}
		s.Stats[app] = byVer
	}
	if _, ok := byVer[version][action]; !ok && s.cells[app] >= maxStatsCells {
		version, action = capgo.StatsOther, capgo.StatsOther
	}
	byAct := byVer[version]
	if byAct == nil {
		byAct = map[string]int64{}
		byVer[version] = byAct
	}
	old, ok := byAct[action]
	if !ok {
		s.cells[app]++
	}
	// Saturate: an edge token holder must not wrap a counter negative.
	byAct[action] = old + min(n, math.MaxInt64-old)
}
