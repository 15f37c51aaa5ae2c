// Guarded rollouts: the leader reads, every GuardInterval, each guarded
// rollout's install attempts and failures since it started (merged from
// every node's analytics) and, when the failure share is above the
// guard's threshold with 95% confidence, pauses or rolls it back. The
// decision is an ordinary channel change through raft: audited (actor
// "guard:<node>"), idempotent per rollout (a new leader that decides the
// same does not apply it twice) and conditional on the rollout id (it
// never hits a rollout started after the decision). A guard trips once
// per rollout: an operator who resumes it has taken over.

package origin

import (
	"context"
	"fmt"
	"maps"
	"math"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/aloft/aloft/capgo"
	"github.com/aloft/aloft/origin/api"
)

// guardsSince is the first command version whose rollouts carry their
// start time (and may carry a guard): entries of older builds replay
// without one, as those builds applied them.
const guardsSince = 6

// guardZ is the normal quantile of the Wilson bound: 1.96, a 95% interval.
const guardZ = 1.96

// wilsonLower is the lower bound of the Wilson score interval of k
// successes in n trials at quantile z: the failure share the evidence
// says is at least there. 0 for n = 0.
func wilsonLower(k, n int64, z float64) float64 {
	if n <= 0 {
		return 0
	}
	nf := float64(n)
	p := float64(k) / nf
	z2 := z * z
	centre := p + z2/(2*nf)
	margin := z * math.Sqrt(p*(1-p)/nf+z2/(4*nf*nf))
	return max(0, (centre-margin)/(1+z2/nf))
}

// checkGuard refuses a guard no leader could act on.
func checkGuard(g *api.RolloutGuard) error {
	switch {
	case g == nil:
		return nil
	case !(g.MaxFailureRate > 0 && g.MaxFailureRate < 1):
		return invalid("rollout guard max_failure_rate must be between 0 and 1 (exclusive), got %v", g.MaxFailureRate)
	case g.MinAttempts < 10:
		return invalid("rollout guard min_attempts must be at least 10, got %d", g.MinAttempts)
	case g.Action != api.GuardPause && g.Action != api.GuardRollback && g.Action != api.GuardAlert:
		return invalid("rollout guard action must be %q, %q or %q, got %q", api.GuardPause, api.GuardRollback, api.GuardAlert, g.Action)
	}
	return nil
}

// guarded is one rollout the guard watches.
type guarded struct {
	app, channel string
	rollout      api.Rollout
}

func (n *Node) guardLoop(ctx context.Context) {
	n.whileLeading(ctx, n.cfg.GuardInterval, n.hs.checkGuards)
}

// whileLeading runs duty every interval while this node leads, until ctx
// ends: the leader's periodic decisions (guards, schedules, webhooks).
func (n *Node) whileLeading(ctx context.Context, interval time.Duration, duty func(context.Context)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if n.rn.leading() {
				duty(ctx)
			}
		}
	}
}

// checkGuards evaluates every guarded rollout that has not tripped, and
// finishes the rollbacks of those that tripped with action rollback.
func (hs *httpAPI) checkGuards(ctx context.Context) {
	var watch, finish []guarded
	hs.rn.fsm.read(func(s *state) {
		for _, app := range s.Catalog.Apps {
			for name, ch := range app.Channels {
				r := ch.Rollout
				switch {
				case r == nil || r.Guard == nil:
				case r.Tripped == "" && !r.Paused:
					// A guard trips once per rollout: Tripped stays until
					// an operator resumes a paused one.
					watch = append(watch, guarded{app.ID, name, *r})
				case r.Tripped != "" && r.Paused && r.Guard.Action == api.GuardRollback:
					finish = append(finish, guarded{app.ID, name, *r})
				}
			}
		}
	})
	for _, g := range watch {
		tripped, err := hs.checkGuard(ctx, g)
		if err != nil && ctx.Err() == nil {
			hs.log.Warn("rollout guard check failed", "app", g.app, "channel", g.channel, "err", err)
		}
		if err == nil && !tripped {
			if err := hs.checkStage(ctx, g); err != nil && ctx.Err() == nil {
				hs.log.Warn("staged rollout check failed", "app", g.app, "channel", g.channel, "err", err)
			}
		}
	}
	for _, g := range finish {
		if err := hs.guardRollback(ctx, g); err != nil && ctx.Err() == nil {
			hs.log.Warn("rollout guard rollback failed", "app", g.app, "channel", g.channel, "err", err)
		}
	}
}

// checkGuard reads one rollout's attempts and trips its guard when due.
// Every action starts by recording the trip (with pause and rollback, by
// pausing): the reason is then in the catalog, the audit log and the
// webhook event. A rollback follows as a change of its own (guardRollback),
// from this leader or, if it dies first, from the next one.
func (hs *httpAPI) checkGuard(ctx context.Context, g guarded) (tripped bool, err error) {
	attempts, failures, err := hs.rolloutAttempts(ctx, g, "", g.rollout.Started)
	if err != nil {
		return false, err
	}
	hs.guardChecks.Add(1)
	gd := g.rollout.Guard
	lower := wilsonLower(failures, attempts, guardZ)
	if attempts < gd.MinAttempts || lower <= gd.MaxFailureRate {
		return false, nil
	}
	return true, hs.trip(ctx, g, guardFinding(g.rollout, "", failures, attempts, lower))
}

// guardFinding says why a guard trips.
func guardFinding(r api.Rollout, region string, failures, attempts int64, lower float64) string {
	where := ""
	if region != "" {
		where = " in region " + region
	}
	return fmt.Sprintf("guard: %d of %d install attempts of %s%s failed (%.1f%%; at least %.1f%% with 95%% confidence, over the %.1f%% allowed)",
		failures, attempts, r.Bundle, where, 100*float64(failures)/float64(attempts), 100*lower, 100*r.Guard.MaxFailureRate)
}

// trip records the guard's finding and carries out its action.
func (hs *httpAPI) trip(ctx context.Context, g guarded, why string) error {
	gd := g.rollout.Guard
	spec := api.PutChannel{IfRollout: g.rollout.ID, Tripped: &why}
	if gd.Action != api.GuardAlert {
		paused := true
		spec.RolloutPaused = &paused
	}
	if _, err := hs.svc.PutChannel(hs.guardActor(ctx), g.app, g.channel, spec, "guard-"+g.rollout.ID); err != nil {
		return err
	}
	hs.log.Warn("rollout guard tripped", "app", g.app, "channel", g.channel, "bundle", g.rollout.Bundle,
		"action", gd.Action, "why", why)
	if gd.Action == api.GuardRollback {
		g.rollout.Paused, g.rollout.Tripped = true, why
		return hs.guardRollback(ctx, g)
	}
	return nil
}

// checkStage opens a staged rollout's next region once the current stage
// has run its minutes and its newest region is healthy: at least the
// guard's min_attempts there since the stage began, and a failure share
// whose Wilson lower bound is within the guard's threshold. Too few
// attempts: it waits. Unhealthy: the guard trips, naming the region (the
// whole rollout's counts may still look fine while one region fails).
func (hs *httpAPI) checkStage(ctx context.Context, g guarded) error {
	r := g.rollout
	if len(r.Regions) == 0 || r.Stage >= len(r.Regions) || r.Guard == nil {
		return nil
	}
	now := hs.cfg.Clock()
	if now.Sub(time.UnixMilli(r.StageStarted)) < time.Duration(r.StageMinutes)*time.Minute {
		return nil
	}
	region := r.Regions[r.Stage-1]
	attempts, failures, err := hs.rolloutAttempts(ctx, g, region, r.StageStarted)
	if err != nil {
		return err
	}
	hs.stageChecks.Add(1)
	if attempts < r.Guard.MinAttempts {
		return nil
	}
	if lower := wilsonLower(failures, attempts, guardZ); lower > r.Guard.MaxFailureRate {
		return hs.trip(ctx, g, guardFinding(r, region, failures, attempts, lower))
	}
	spec := api.PutChannel{IfRollout: r.ID, AdvanceStage: true}
	key := fmt.Sprintf("stage-%s-%d", r.ID, r.Stage+1)
	if _, err := hs.svc.PutChannel(withActor(ctx, "stage:"+hs.cfg.NodeID), g.app, g.channel, spec, key); err != nil {
		return err
	}
	hs.log.Info("staged rollout opened its next region", "app", g.app, "channel", g.channel, "bundle", r.Bundle,
		"healthy", region, "next", r.Regions[r.Stage], "attempts", attempts, "failures", failures)
	return nil
}

// guardRollback ends a tripped rollout, unless an operator resumed it
// since (which clears Tripped: IfTripped makes the FSM check that).
func (hs *httpAPI) guardRollback(ctx context.Context, g guarded) error {
	spec := api.PutChannel{IfRollout: g.rollout.ID, IfTripped: true, Rollback: true}
	if _, err := hs.svc.PutChannel(hs.guardActor(ctx), g.app, g.channel, spec, "guard-rollback-"+g.rollout.ID); err != nil {
		return err
	}
	hs.log.Warn("rollout guard rolled back", "app", g.app, "channel", g.channel, "bundle", g.rollout.Bundle)
	return nil
}

func (hs *httpAPI) guardActor(ctx context.Context) context.Context {
	return withActor(ctx, "guard:"+hs.cfg.NodeID)
}

// rolloutAttempts counts the rollout bundle's install attempts ("set"
// plus install failures) and failures since the rollout started, merged
// across the cluster. A node that does not answer makes it an error: a
// decision on part of the evidence could go either way.
func (hs *httpAPI) rolloutAttempts(ctx context.Context, g guarded, region string, sinceMS int64) (attempts, failures int64, err error) {
	now := hs.cfg.Clock()
	from := max(sinceMS/1000, now.Add(-hs.cfg.Analytics.HourRetention).Unix())
	q := api.StatsQuery{App: g.app, Version: g.rollout.Bundle, Region: region, From: from, To: now.Unix() + 60, Resolution: api.ResolutionHour}
	if now.Unix()-from <= 6*3600 {
		q.Resolution = api.ResolutionMinute
	}
	if err := hs.svc.stats.NormalizeQuery(&q, now); err != nil {
		return 0, 0, err
	}
	p, err := hs.clusterPartial(ctx, q, hs.cfg.AdminToken)
	if err != nil {
		return 0, 0, err
	}
	if len(p.Missing) > 0 {
		return 0, 0, fmt.Errorf("origin nodes %v did not answer; not judging on part of the counts", p.Missing)
	}
	for _, t := range p.Totals {
		switch {
		case t.Action == "set":
			attempts += t.N
		case capgo.IsFailureAction(t.Action):
			attempts += t.N
			failures += t.N
		}
	}
	return attempts, failures, nil
}

// checkRegions refuses a staged rollout naming a region no edge reports:
// a stage there would never see an attempt, so it would wait forever.
// Regions are the edges' own (aloft edge --region), as GET /api/v1/edges
// lists them; a cluster member that cannot be asked makes it an error.
func (hs *httpAPI) checkRegions(r *http.Request, spec api.PutChannel) error {
	if spec.Rollout == nil || len(spec.Rollout.Regions) == 0 {
		return nil
	}
	l, err := hs.clusterEdges(r.Context(), bearer(r))
	if err != nil {
		return err
	}
	if len(l.Partial) > 0 {
		return fmt.Errorf("%w: cannot list every edge's region (%d origin nodes did not answer); try again", ErrUnavailable, len(l.Partial))
	}
	known := map[string]bool{}
	for _, e := range l.Edges {
		if e.Region != "" {
			known[e.Region] = true
		}
	}
	for _, x := range spec.Rollout.Regions {
		if !known[x] {
			have := slices.Sorted(maps.Keys(known))
			if len(have) == 0 {
				return invalid("no edge reports region %q: no edge has reported a region yet (aloft edge --region)", x)
			}
			return invalid("no edge reports region %q (edges report: %s)", x, strings.Join(have, ", "))
		}
	}
	return nil
}
