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
	"math"
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
	t := time.NewTicker(n.cfg.GuardInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if n.rn.leading() {
				n.hs.checkGuards(ctx)
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
		if err := hs.checkGuard(ctx, g); err != nil && ctx.Err() == nil {
			hs.log.Warn("rollout guard check failed", "app", g.app, "channel", g.channel, "err", err)
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
func (hs *httpAPI) checkGuard(ctx context.Context, g guarded) error {
	attempts, failures, err := hs.rolloutAttempts(ctx, g)
	if err != nil {
		return err
	}
	hs.guardChecks.Add(1)
	gd := g.rollout.Guard
	lower := wilsonLower(failures, attempts, guardZ)
	if attempts < gd.MinAttempts || lower <= gd.MaxFailureRate {
		return nil
	}
	why := fmt.Sprintf("guard: %d of %d install attempts of %s failed (%.1f%%; at least %.1f%% with 95%% confidence, over the %.1f%% allowed)",
		failures, attempts, g.rollout.Bundle, 100*float64(failures)/float64(attempts), 100*lower, 100*gd.MaxFailureRate)
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
func (hs *httpAPI) rolloutAttempts(ctx context.Context, g guarded) (attempts, failures int64, err error) {
	now := hs.cfg.Clock()
	from := max(g.rollout.Started/1000, now.Add(-hs.cfg.Analytics.HourRetention).Unix())
	q := api.StatsQuery{App: g.app, Version: g.rollout.Bundle, From: from, To: now.Unix() + 60, Resolution: api.ResolutionHour}
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
