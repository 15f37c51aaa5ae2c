package origin

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aloft/aloft/internal/wait"
	"github.com/aloft/aloft/origin/api"
)

// scheduledActors counts the audit entries made by schedule id.
func scheduledActors(t *testing.T, cl *api.Client, id string) int {
	t.Helper()
	entries, _, err := cl.AuditAll(context.Background(), "com.example.app")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		if e.Actor == "schedule:"+id {
			n++
		}
	}
	return n
}

// TestSchedule_FiresOnceAtItsTime: a rollout step scheduled a moment
// ahead is not applied before its time, is applied once after it, and a
// second fire entry (as a second leader would propose) is refused.
func TestSchedule_FiresOnceAtItsTime(t *testing.T) {
	n, cl := guardNode(t, api.GuardPause)
	ctx := context.Background()
	at := time.Now().Add(700 * time.Millisecond)
	s, err := cl.ScheduleChannelChange(ctx, "com.example.app", "production", api.ScheduleChannel{At: at.UTC().Format(time.RFC3339Nano),
		Change: api.PutChannel{Rollout: &api.RolloutSpec{Bundle: "1.1.0", PercentBPS: 5000}}})
	if err != nil {
		t.Fatal(err)
	}
	if !s.Pending() || s.At != at.UnixMilli() || s.Channel != "production" || s.Change.Rollout == nil {
		t.Fatalf("scheduled %+v", s)
	}
	if r := rolloutOf(t, cl); r.PercentBPS != 1000 {
		t.Fatalf("the change took effect early: %+v", r)
	}
	wait.For(t, 10*time.Second, "the scheduled step", func() bool { return rolloutOf(t, cl).PercentBPS == 5000 })
	if time.Now().Before(at) {
		t.Fatalf("applied before its time %s", at)
	}
	got, err := n.svc.Schedule("com.example.app", s.ID)
	if err != nil || got.Fired < at.UnixMilli() || got.FiredIndex == 0 || got.Error != "" {
		t.Fatalf("after firing: %+v, %v", got, err)
	}
	// The guard and the draw carry on: the same rollout, widened.
	if r := rolloutOf(t, cl); r.Guard == nil {
		t.Errorf("the scheduled step dropped the guard: %+v", r)
	}
	_, err = n.rn.apply(withActor(ctx, "schedule:"+s.ID), cmdFireSchedule, "", fireScheduleCmd{App: "com.example.app", ID: s.ID, Channel: "production"})
	if !errors.Is(err, ErrConflict) {
		t.Fatalf("a second fire: %v, want a conflict", err)
	}
	if c := scheduledActors(t, cl, s.ID); c != 1 {
		t.Fatalf("%d audit entries by the schedule, want 1", c)
	}
	list, err := cl.Schedules(ctx, "com.example.app")
	if err != nil || len(list) != 1 || list[0].Pending() {
		t.Fatalf("list %+v, %v", list, err)
	}
}

// TestSchedule_AcrossLeaderChange: a change due after its leader stopped
// is fired by the next leader, once.
func TestSchedule_AcrossLeaderChange(t *testing.T) {
	nodes := startThree(t)
	ctx := context.Background()
	leader := leaderWithApp(t, nodes)
	cl := leader.client()
	s, err := cl.ScheduleChannelChange(ctx, "com.example.app", "beta", api.ScheduleChannel{AtMS: time.Now().Add(1500 * time.Millisecond).UnixMilli(),
		Change: api.PutChannel{Bundle: strp(api.BuiltinVersion), Public: boolp(true)}})
	if err != nil {
		t.Fatal(err)
	}
	leader.halt()
	var other *clusterNode
	for _, c := range nodes {
		if c != leader {
			other = c
		}
	}
	ocl := other.client()
	wait.For(t, 15*time.Second, "the change from the next leader", func() bool {
		ch, err := ocl.Channels(ctx, "com.example.app")
		return err == nil && len(ch) == 1 && ch[0].Public
	})
	got, err := other.n.svc.Schedule("com.example.app", s.ID)
	if err != nil || got.Fired < s.At {
		t.Fatalf("after firing: %+v, %v", got, err)
	}
	// Several more schedule rounds of whichever node leads now: none fires
	// it again.
	rounds := func() (sum int64) {
		for _, c := range nodes {
			if c != leader {
				sum += c.n.scheduleRounds.Load()
			}
		}
		return sum
	}
	from := rounds()
	wait.For(t, 10*time.Second, "three more schedule rounds", func() bool { return rounds() >= from+3 })
	if c := scheduledActors(t, ocl, s.ID); c != 1 {
		t.Fatalf("%d audit entries by the schedule, want 1", c)
	}
}

// TestSchedule_Refusals: bad times, conditional changes, bad specs, and
// cancelling twice are refused in words; a cancelled change never fires.
func TestSchedule_Refusals(t *testing.T) {
	n, cl := guardNode(t, api.GuardPause)
	ctx := context.Background()
	soon := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	for _, c := range []struct {
		s    api.ScheduleChannel
		want string
	}{
		{api.ScheduleChannel{Change: api.PutChannel{Promote: true}}, "at (RFC 3339) or at_ms is required"},
		{api.ScheduleChannel{At: "tomorrow", Change: api.PutChannel{Promote: true}}, "RFC 3339"},
		{api.ScheduleChannel{At: "2020-01-01T00:00:00Z", Change: api.PutChannel{Promote: true}}, "in the past"},
		{api.ScheduleChannel{At: soon, AtMS: 5, Change: api.PutChannel{Promote: true}}, "not both"},
		{api.ScheduleChannel{At: soon, Change: api.PutChannel{IfRollout: "x", Promote: true}}, "conditional"},
		{api.ScheduleChannel{At: soon, Change: api.PutChannel{Rollout: &api.RolloutSpec{Bundle: "1.1.0", PercentBPS: 20000}}}, "percent_bps"},
	} {
		_, err := cl.ScheduleChannelChange(ctx, "com.example.app", "production", c.s)
		if ae, ok := err.(*api.Error); !ok || ae.Status != 400 || !strings.Contains(ae.Message, c.want) {
			t.Errorf("%+v: %v, want 400 with %q", c.s, err, c.want)
		}
	}
	s, err := cl.ScheduleChannelChange(ctx, "com.example.app", "production", api.ScheduleChannel{AtMS: time.Now().Add(300 * time.Millisecond).UnixMilli(),
		Change: api.PutChannel{Promote: true}})
	if err != nil {
		t.Fatal(err)
	}
	if c, err := cl.CancelSchedule(ctx, "com.example.app", s.ID); err != nil || c.Cancelled == 0 {
		t.Fatalf("cancel: %+v, %v", c, err)
	}
	if _, err := cl.CancelSchedule(ctx, "com.example.app", s.ID); err == nil || err.(*api.Error).Status != 409 {
		t.Errorf("second cancel: %v, want 409", err)
	}
	// Rounds of the leader after its due time: it must not fire.
	var mark int64
	wait.For(t, 10*time.Second, "two schedule rounds past the due time", func() bool {
		if mark == 0 && time.Now().UnixMilli() > s.At {
			mark = n.scheduleRounds.Load() + 2
		}
		return mark > 0 && n.scheduleRounds.Load() >= mark
	})
	if r := rolloutOf(t, cl); r == nil {
		t.Fatal("a cancelled promote fired")
	}
}
