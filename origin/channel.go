// Applying a channel update: merge the operator's partial spec into the
// channel, keep a bundle history for rollback, and start a new rollout id
// whenever the rollout's bundle changes.

package origin

import (
	"fmt"
	"slices"

	"github.com/aloft/aloft/origin/api"
)

func (s *state) putChannel(p putChannelCmd, now int64) (*api.Channel, error) {
	cur := s.app(p.App)
	if cur == nil {
		return nil, fmt.Errorf("%w: %q", ErrAppNotFound, p.App)
	}
	var ch api.Channel
	if old := cur.Channels[p.Name]; old != nil {
		ch = *old
		ch.History = append([]string(nil), old.History...)
	} else {
		ch = api.Channel{Name: p.Name, ID: cur.NextChannelID, IOS: true, Android: true, Electron: true,
			AllowEmulator: true, AllowDevice: true, AllowDev: true, AllowProd: true, DisableAutoUpdate: api.DisableNone}
	}
	if err := mergeChannel(&ch, p, cur, now); err != nil {
		return nil, err
	}
	ch.Updated = now
	app, _ := s.editApp(p.App)
	if cur.Channels[p.Name] == nil {
		app.NextChannelID++
	}
	app.Channels[p.Name] = &ch
	return &ch, nil
}

func mergeChannel(ch *api.Channel, p putChannelCmd, app *api.App, now int64) error {
	sp := p.Spec
	if id := sp.IfRollout; id != "" && (ch.Rollout == nil || ch.Rollout.ID != id) {
		return fmt.Errorf("%w: channel %q no longer runs rollout %s", ErrConflict, ch.Name, id)
	}
	if sp.IfTripped && (ch.Rollout == nil || ch.Rollout.Tripped == "") {
		return fmt.Errorf("%w: channel %q's rollout has not tripped its guard, or was resumed since", ErrConflict, ch.Name)
	}
	if sp.AdvanceStage {
		r := ch.Rollout
		if sp.IfRollout == "" || r == nil || r.Stage >= len(r.Regions) || r.Paused || r.Tripped != "" {
			return fmt.Errorf("%w: channel %q has no staged rollout with a region left to open", ErrConflict, ch.Name)
		}
		next := *r
		next.Stage, next.StageStarted = r.Stage+1, now
		ch.Rollout = &next
	}
	if sp.Bundle != nil && *sp.Bundle != ch.Bundle {
		if err := bundleUsable(app, *sp.Bundle); err != nil {
			return err
		}
		pushHistory(ch, ch.Bundle)
		ch.Bundle = *sp.Bundle
	}
	for _, f := range []struct {
		src *bool
		dst *bool
	}{
		{sp.IOS, &ch.IOS}, {sp.Android, &ch.Android}, {sp.Electron, &ch.Electron},
		{sp.AllowEmulator, &ch.AllowEmulator}, {sp.AllowDevice, &ch.AllowDevice},
		{sp.AllowDev, &ch.AllowDev}, {sp.AllowProd, &ch.AllowProd},
		{sp.Public, &ch.Public}, {sp.AllowDeviceSelfSet, &ch.AllowDeviceSelfSet},
		{sp.DisableAutoUpdateUnderNative, &ch.DisableAutoUpdateUnderNative},
	} {
		if f.src != nil {
			*f.dst = *f.src
		}
	}
	if sp.DisableAutoUpdate != nil {
		ch.DisableAutoUpdate = *sp.DisableAutoUpdate
	}
	if sp.Rollback {
		rollback(ch, app)
	}
	if sp.Promote {
		if ch.Rollout == nil {
			return fmt.Errorf("%w: channel %q has no rollout to promote", ErrInvalid, ch.Name)
		}
		pushHistory(ch, ch.Bundle)
		ch.Bundle, ch.Rollout = ch.Rollout.Bundle, nil
	}
	if sp.ClearRollout {
		ch.Rollout = nil
	}
	if sp.RolloutPaused != nil {
		if ch.Rollout == nil {
			return fmt.Errorf("%w: channel %q has no rollout to pause or resume", ErrInvalid, ch.Name)
		}
		r := *ch.Rollout
		r.Paused = *sp.RolloutPaused
		if !r.Paused && r.Tripped != "" {
			// Resumed after its guard tripped: the operator has looked
			// and taken over; a rollout step naming a guard re-arms one.
			r.Tripped, r.Guard = "", nil
		}
		ch.Rollout = &r
	}
	if sp.Tripped != nil && ch.Rollout != nil {
		r := *ch.Rollout
		r.Tripped = *sp.Tripped
		ch.Rollout = &r
	}
	if r := sp.Rollout; r != nil {
		if err := bundleUsable(app, r.Bundle); err != nil {
			return err
		}
		next := &api.Rollout{Bundle: r.Bundle, PercentBPS: r.PercentBPS, Paused: r.Paused, ID: p.RolloutID,
			Guard: r.Guard.guard()}
		if p.stamp {
			next.Started = now
		}
		if len(r.Regions) > 0 {
			next.Regions, next.Stage, next.StageStarted, next.StageMinutes = slices.Clone(r.Regions), 1, now, r.StageMin
		}
		if old := ch.Rollout; old != nil && old.Bundle == r.Bundle {
			// Same rollout: keep every device's draw, the guard's count
			// and what it found; a step that names no guard keeps the one
			// the rollout has, so widening it cannot drop it by omission.
			next.ID, next.Started, next.Tripped = old.ID, old.Started, old.Tripped
			if next.Guard == nil && !r.NoGuard {
				next.Guard = old.Guard
			}
			// Its staging too: a step changes the share, not the stages.
			next.Regions, next.Stage, next.StageStarted, next.StageMinutes = old.Regions, old.Stage, old.StageStarted, old.StageMinutes
		}
		ch.Rollout = next
	}
	return nil
}

// bundleUsable checks that a channel may point at name.
func bundleUsable(app *api.App, name string) error {
	if name == "" || name == api.BuiltinVersion {
		return nil
	}
	if _, ok := app.Bundles[name]; !ok {
		return fmt.Errorf("%w: %s %s", ErrBundleNotFound, app.ID, name)
	}
	return nil
}

func pushHistory(ch *api.Channel, bundle string) {
	if bundle == "" {
		return
	}
	ch.History = append(ch.History, bundle)
	if len(ch.History) > maxHistory {
		ch.History = ch.History[len(ch.History)-maxHistory:]
	}
}

// rollback ends the rollout and restores the previous bundle. A rollout in
// progress is itself what gets rolled back: its devices return to the
// channel's bundle, which does not change.
// History entries whose bundle was deleted since are skipped.
func rollback(ch *api.Channel, app *api.App) {
	if ch.Rollout != nil {
		ch.Rollout = nil
		return
	}
	for n := len(ch.History); n > 0; n = len(ch.History) {
		prev := ch.History[n-1]
		ch.History = ch.History[:n-1]
		if bundleUsable(app, prev) == nil {
			ch.Bundle = prev
			return
		}
	}
	ch.Bundle = api.BuiltinVersion
}
