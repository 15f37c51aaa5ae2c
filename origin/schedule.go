// Scheduled channel changes: a change (a rollout step, a pause, a
// promote, a new bundle…) stored in the replicated state with the time it
// is due, and applied once by a raft entry the leader proposes when that
// time comes. The FSM stays pure: the fire entry carries the leader's
// clock, the FSM applies the stored change only if that clock is past the
// due time and the schedule has not fired, and marks it fired in the same
// step. However many leaders propose it (a leader that dies after
// proposing, a new one that finds it still pending), it takes effect once.

package origin

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/aloft/aloft/origin/api"
)

// maxDoneSchedules bounds the fired and cancelled schedules an app keeps
// (the newest), beside up to api.MaxPendingSchedules pending ones.
const maxDoneSchedules = 100

// scheduleRec is one scheduled change in the replicated state.
type scheduleRec struct {
	ID         string         `json:"id"`
	Channel    string         `json:"channel"`
	At         int64          `json:"at_ms"`
	Spec       logChannelSpec `json:"spec"`
	RolloutID  string         `json:"rollout_id"`
	Created    int64          `json:"created_ms"`
	Actor      string         `json:"actor"`
	Fired      int64          `json:"fired_ms,omitempty"`
	FiredIndex uint64         `json:"fired_index,omitempty"`
	Error      string         `json:"error,omitempty"`
	Cancelled  int64          `json:"cancelled_ms,omitempty"`
	// Done orders fired and cancelled schedules for pruning (raft index).
	Done uint64 `json:"done_index,omitempty"`
}

func (r scheduleRec) pending() bool { return r.Fired == 0 && r.Cancelled == 0 }

func (r scheduleRec) api(app string) api.Schedule {
	return api.Schedule{ID: r.ID, App: app, Channel: r.Channel, At: r.At, Change: fromLogChannelSpec(r.Spec),
		Created: r.Created, Actor: r.Actor, Fired: r.Fired, FiredIndex: r.FiredIndex, Error: r.Error, Cancelled: r.Cancelled}
}

// putScheduleCmd stores a new schedule; the leader made its id, the
// rollout id the change may need, and stamped who asked.
type putScheduleCmd struct {
	App      string      `json:"app"`
	Schedule scheduleRec `json:"schedule"`
}

type cancelScheduleCmd struct {
	App string `json:"app"`
	ID  string `json:"id"`
}

type fireScheduleCmd struct {
	App string `json:"app"`
	ID  string `json:"id"`
	// Channel is the schedule's, named by the leader: the audit target is
	// read from the command alone.
	Channel string `json:"channel"`
}

func (p *putScheduleCmd) target() target {
	return target{kind: "schedule", app: p.App, name: p.Schedule.ID}
}
func (p *cancelScheduleCmd) target() target { return target{kind: "schedule", app: p.App, name: p.ID} }

// A fire is audited as the channel change it makes.
func (p *fireScheduleCmd) target() target {
	return target{kind: "channel", app: p.App, name: p.Channel}
}

func (p *putScheduleCmd) run(s *state, now int64) (any, bool, error) {
	if s.app(p.App) == nil {
		return nil, false, fmt.Errorf("%w: %q", ErrAppNotFound, p.App)
	}
	scheds := s.Schedules[p.App]
	if _, ok := scheds[p.Schedule.ID]; ok {
		return nil, false, fmt.Errorf("%w: schedule %s exists", ErrConflict, p.Schedule.ID)
	}
	pending := 0
	for _, r := range scheds {
		if r.pending() {
			pending++
		}
	}
	if pending >= api.MaxPendingSchedules {
		return nil, false, fmt.Errorf("%w: app %s has %d pending scheduled changes, the most it may have", ErrInvalid, p.App, pending)
	}
	if s.Schedules == nil {
		s.Schedules = map[string]map[string]scheduleRec{}
	}
	if scheds == nil {
		scheds = map[string]scheduleRec{}
		s.Schedules[p.App] = scheds
	}
	r := p.Schedule
	r.Created, r.Fired, r.FiredIndex, r.Error, r.Cancelled, r.Done = now, 0, 0, "", 0, 0
	scheds[r.ID] = r
	return nil, false, nil
}

// pendingSchedule is app's schedule id, refused unless it is pending.
func (s *state) pendingSchedule(app, id string) (scheduleRec, error) {
	r, ok := s.Schedules[app][id]
	switch {
	case !ok:
		return r, fmt.Errorf("%w: schedule %s of %s", ErrNotFound, id, app)
	case !r.pending():
		return r, fmt.Errorf("%w: schedule %s already fired or was cancelled", ErrConflict, id)
	}
	return r, nil
}

func (p *cancelScheduleCmd) run(s *state, now int64) (any, bool, error) {
	r, err := s.pendingSchedule(p.App, p.ID)
	if err != nil {
		return nil, false, err
	}
	r.Cancelled, r.Done = now, s.Index
	s.Schedules[p.App][p.ID] = r
	s.pruneSchedules(p.App)
	return nil, false, nil
}

// run applies the stored change at the entry's time, once.
func (p *fireScheduleCmd) run(s *state, now int64) (any, bool, error) {
	r, err := s.pendingSchedule(p.App, p.ID)
	switch {
	case err != nil:
		return nil, false, err
	case now < r.At:
		return nil, false, fmt.Errorf("%w: schedule %s is due at %d, the entry says %d", ErrConflict, p.ID, r.At, now)
	case r.Channel != p.Channel:
		return nil, false, fmt.Errorf("%w: schedule %s is for channel %s", ErrInvalid, p.ID, r.Channel)
	}
	_, err = s.putChannel(putChannelCmd{App: p.App, Name: r.Channel, Spec: r.Spec, RolloutID: r.RolloutID, stamp: true}, now)
	r.Fired, r.FiredIndex, r.Done = now, s.Index, s.Index
	if err != nil {
		r.Error = err.Error()
	}
	// The map was copied by nothing above: the schedules are not shared
	// with readers outside the lock.
	s.Schedules[p.App][p.ID] = r
	s.pruneSchedules(p.App)
	return nil, err == nil, nil
}

// pruneSchedules keeps the newest maxDoneSchedules finished schedules.
func (s *state) pruneSchedules(app string) {
	var done []scheduleRec
	for _, r := range s.Schedules[app] {
		if !r.pending() {
			done = append(done, r)
		}
	}
	if len(done) <= maxDoneSchedules {
		return
	}
	slices.SortFunc(done, func(a, b scheduleRec) int { return int(a.Done) - int(b.Done) })
	for _, r := range done[:len(done)-maxDoneSchedules] {
		delete(s.Schedules[app], r.ID)
	}
}

// scheduleView is a schedule as the audit log shows it.
func scheduleView(r scheduleRec) any {
	return struct {
		ID        string         `json:"id"`
		Channel   string         `json:"channel"`
		At        int64          `json:"at_ms"`
		Spec      logChannelSpec `json:"spec"`
		Cancelled int64          `json:"cancelled_ms,omitempty"`
	}{r.ID, r.Channel, r.At, r.Spec, r.Cancelled}
}

// ScheduleChannelChange stores a change of channel name due at the time
// asked. The change is checked now as PutChannel checks one; what depends
// on the catalog (the bundle exists) is checked again when it falls due.
func (svc *service) ScheduleChannelChange(ctx context.Context, appID, name string, req api.ScheduleChannel, key string) (api.Schedule, error) {
	app, err := svc.App(appID)
	if err != nil {
		return api.Schedule{}, err
	}
	if err := checkChannelSpec(name, req.Change); err != nil {
		return api.Schedule{}, err
	}
	if req.Change.IfRollout != "" || req.Change.IfTripped {
		return api.Schedule{}, invalid("a scheduled change cannot be conditional on a rollout (if_rollout, if_tripped)")
	}
	at := req.AtMS
	switch {
	case req.At != "" && req.AtMS != 0:
		return api.Schedule{}, invalid("give at or at_ms, not both")
	case req.At != "":
		t, err := time.Parse(time.RFC3339, req.At)
		if err != nil {
			return api.Schedule{}, invalid("at must be an RFC 3339 time such as 2026-12-04T09:00:00Z: %v", err)
		}
		at = t.UnixMilli()
	case at == 0:
		return api.Schedule{}, invalid("at (RFC 3339) or at_ms is required")
	}
	now := svc.cfg.Clock()
	if at < now.Add(-time.Minute).UnixMilli() {
		return api.Schedule{}, invalid("at %s is in the past (now %s)", time.UnixMilli(at).UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	if at > now.AddDate(1, 0, 0).UnixMilli() {
		return api.Schedule{}, invalid("at is more than a year away")
	}
	actor := actorOf(ctx)
	id := "sch_" + strings.ToLower(api.NewIdempotencyKey()[:20])
	rec := scheduleRec{ID: id, Channel: name, At: at, Spec: toLogChannelSpec(req.Change), RolloutID: api.NewIdempotencyKey(), Actor: actor}
	r, err := svc.rn.apply(ctx, cmdPutSchedule, key, putScheduleCmd{App: app.ID, Schedule: rec})
	if err != nil {
		return api.Schedule{}, err
	}
	if r.Dup {
		return svc.scheduleCreatedAt(app.ID, r.Index)
	}
	return svc.Schedule(app.ID, id)
}

// scheduleCreatedAt finds the schedule a retried request made at idx.
func (svc *service) scheduleCreatedAt(appID string, idx uint64) (api.Schedule, error) {
	var out api.Schedule
	err := svc.createdAt(idx, "schedule", func(s *state, id string) bool {
		r, ok := s.Schedules[appID][id]
		out = r.api(appID)
		return ok
	})
	return out, err
}

// Schedule returns one schedule.
func (svc *service) Schedule(appID, id string) (api.Schedule, error) {
	var r scheduleRec
	var ok bool
	svc.fsm.read(func(s *state) { r, ok = s.Schedules[appID][id] })
	if !ok {
		return api.Schedule{}, fmt.Errorf("%w: schedule %s of %s", ErrNotFound, id, appID)
	}
	return r.api(appID), nil
}

// Schedules lists an app's schedules: pending soonest first, then the
// finished ones newest first.
func (svc *service) Schedules(appID string) ([]api.Schedule, error) {
	app, err := svc.App(appID)
	if err != nil {
		return nil, err
	}
	var recs []scheduleRec
	svc.fsm.read(func(s *state) {
		for _, r := range s.Schedules[app.ID] {
			recs = append(recs, r)
		}
	})
	slices.SortFunc(recs, func(a, b scheduleRec) int {
		switch {
		case a.pending() != b.pending():
			if a.pending() {
				return -1
			}
			return 1
		case a.pending():
			return cmpInt(a.At, b.At, a.ID, b.ID)
		}
		return cmpInt(int64(b.Done), int64(a.Done), a.ID, b.ID)
	})
	out := make([]api.Schedule, 0, len(recs))
	for _, r := range recs {
		out = append(out, r.api(app.ID))
	}
	return out, nil
}

func cmpInt(a, b int64, x, y string) int {
	if a != b {
		if a < b {
			return -1
		}
		return 1
	}
	return strings.Compare(x, y)
}

// CancelSchedule cancels a pending change.
func (svc *service) CancelSchedule(ctx context.Context, appID, id, key string) (api.Schedule, error) {
	app, err := svc.App(appID)
	if err != nil {
		return api.Schedule{}, err
	}
	if _, err := svc.rn.apply(ctx, cmdCancelSchedule, key, cancelScheduleCmd{App: app.ID, ID: id}); err != nil {
		return api.Schedule{}, err
	}
	return svc.Schedule(app.ID, id)
}

// scheduleLoop fires due schedules while this node leads.
func (n *Node) scheduleLoop(ctx context.Context) {
	n.whileLeading(ctx, n.cfg.ScheduleInterval, n.fireDue)
}

// fireDue proposes a fire entry for each pending schedule due by now.
func (n *Node) fireDue(ctx context.Context) {
	defer n.scheduleRounds.Add(1)
	type due struct{ app, id, channel string }
	var list []due
	now := time.Now().UnixMilli() // the leader's clock, as rn.apply stamps it
	n.rn.fsm.read(func(s *state) {
		for app, scheds := range s.Schedules {
			for id, r := range scheds {
				if r.pending() && r.At <= now {
					list = append(list, due{app, id, r.Channel})
				}
			}
		}
	})
	for _, d := range list {
		actx := withActor(ctx, "schedule:"+d.id)
		_, err := n.rn.apply(actx, cmdFireSchedule, "fire-"+d.id, fireScheduleCmd{App: d.app, ID: d.id, Channel: d.channel})
		switch {
		case err == nil:
			n.log.Info("scheduled change fired", "app", d.app, "channel", d.channel, "schedule", d.id)
		case ctx.Err() == nil:
			n.log.Warn("scheduled change not fired", "app", d.app, "schedule", d.id, "err", err)
		}
	}
}

func (hs *httpAPI) postSchedule(w http.ResponseWriter, r *http.Request) (int, any, error) {
	var req api.ScheduleChannel
	if err := decodeBody(w, r, &req); err != nil {
		return 0, nil, err
	}
	if err := checkChannelSpec(r.PathValue("name"), req.Change); err != nil {
		return 0, nil, err
	}
	if err := hs.checkRegions(r, req.Change); err != nil {
		return 0, nil, err
	}
	out, err := hs.svc.ScheduleChannelChange(r.Context(), r.PathValue("app"), r.PathValue("name"), req, idemKey(r))
	return http.StatusCreated, out, err
}

func (hs *httpAPI) listSchedules(_ http.ResponseWriter, r *http.Request) (int, any, error) {
	out, err := hs.svc.Schedules(r.PathValue("app"))
	return http.StatusOK, out, err
}

func (hs *httpAPI) deleteSchedule(_ http.ResponseWriter, r *http.Request) (int, any, error) {
	out, err := hs.svc.CancelSchedule(r.Context(), r.PathValue("app"), r.PathValue("id"), idemKey(r))
	return http.StatusOK, out, err
}
