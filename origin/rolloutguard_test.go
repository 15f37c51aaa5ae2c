package origin

import (
	"context"
	"math"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aloft/aloft/internal/wait"
	"github.com/aloft/aloft/origin/api"
)

func TestWilsonLower(t *testing.T) {
	for _, c := range []struct {
		k, n int64
		want float64
	}{{20, 100, 0.13337}, {5, 1000, 0.00214}, {4, 20, 0.08066}, {0, 50, 0}, {0, 0, 0}} {
		if got := wilsonLower(c.k, c.n, guardZ); math.Abs(got-c.want) > 1e-4 {
			t.Errorf("wilsonLower(%d, %d) = %.5f, want %.5f", c.k, c.n, got, c.want)
		}
	}
}

// guardNode is a node with app com.example.app, bundles 1.0.0 and 1.1.0,
// production on 1.0.0 and a guarded rollout of 1.1.0 at 10%.
func guardNode(t *testing.T, action string) (*Node, *api.Client) {
	t.Helper()
	n, cl := startGCNode(t, nil)
	ctx := context.Background()
	for _, v := range []string{"1.0.0", "1.1.0"} {
		if _, err := cl.PutBundleZip(ctx, "com.example.app", v, zipOf(t, v)); err != nil {
			t.Fatal(err)
		}
	}
	base := "1.0.0"
	if _, err := cl.PutChannel(ctx, "com.example.app", "production", api.PutChannel{Bundle: &base}); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.PutChannel(ctx, "com.example.app", "production", api.PutChannel{Rollout: &api.RolloutSpec{Bundle: "1.1.0",
		PercentBPS: 1000, Guard: &api.RolloutGuard{MaxFailureRate: 0.05, MinAttempts: 100, Action: action}}}); err != nil {
		t.Fatal(err)
	}
	return n, cl
}

// fleet pushes one edge batch: sets installs and fails decrypt failures
// of 1.1.0, as an edge would ship them.
func fleet(t *testing.T, n *Node, id string, sets, fails int64) {
	t.Helper()
	m := time.Now().Unix() / 60
	b := api.StatsBatch{ID: id, Region: "eu", Cells: []api.StatsCell{
		{Minute: m, App: "com.example.app", Version: "1.1.0", Platform: "ios", Action: "set", N: sets},
		{Minute: m, App: "com.example.app", Version: "1.1.0", Platform: "ios", Action: "decrypt_fail", N: fails},
		{Minute: m, App: "com.example.app", Version: "1.0.0", Platform: "ios", Action: "decrypt_fail", N: 1000}, // not the rollout's
	}}
	if err := n.PushStats(context.Background(), b); err != nil {
		t.Fatal(err)
	}
}

// looked waits until the guard evaluated the rollout twice more.
func looked(t *testing.T, n *Node) {
	t.Helper()
	from := n.hs.guardChecks.Load()
	wait.For(t, 10*time.Second, "two guard evaluations", func() bool { return n.hs.guardChecks.Load() >= from+2 })
}

func rolloutOf(t *testing.T, cl *api.Client) *api.Rollout {
	t.Helper()
	chs, err := cl.Channels(context.Background(), "com.example.app")
	if err != nil || len(chs) != 1 {
		t.Fatalf("channels %v: %v", chs, err)
	}
	return chs[0].Rollout
}

// TestGuard_PausesAfterTheMinimumSample: a rollout failing for 20% of
// devices is left alone below min_attempts and paused once past it, with
// the reason on the rollout and the guard as the audit log's actor.
func TestGuard_PausesAfterTheMinimumSample(t *testing.T) {
	n, cl := guardNode(t, api.GuardPause)
	fleet(t, n, "b1", 48, 12) // 60 attempts, 20% failing: under the minimum
	looked(t, n)
	if r := rolloutOf(t, cl); r == nil || r.Paused {
		t.Fatalf("paused below the minimum sample: %+v", r)
	}
	fleet(t, n, "b2", 32, 8) // 100 attempts
	var r *api.Rollout
	wait.For(t, 10*time.Second, "the guard to pause the rollout", func() bool { r = rolloutOf(t, cl); return r != nil && r.Paused })
	if !strings.Contains(r.Tripped, "20 of 100 install attempts of 1.1.0 failed") {
		t.Errorf("tripped %q", r.Tripped)
	}
	entries, _, err := cl.AuditAll(context.Background(), "com.example.app")
	if err != nil {
		t.Fatal(err)
	}
	last := entries[len(entries)-1]
	if !strings.HasPrefix(last.Actor, "guard:") {
		t.Errorf("last audit entry by %q, want the guard", last.Actor)
	}
	// Resuming clears the reason, and the guard, which trips once per
	// rollout, leaves the operator's decision alone.
	resume := false
	if _, err := cl.PutChannel(context.Background(), "com.example.app", "production", api.PutChannel{RolloutPaused: &resume}); err != nil {
		t.Fatal(err)
	}
	n.hs.checkGuards(context.Background())
	if r := rolloutOf(t, cl); r.Paused || r.Tripped != "" || r.Guard != nil {
		t.Fatalf("resumed rollout %+v, want it running with its guard disarmed", r)
	}
}

// TestGuard_LeavesAHealthyRolloutAlone: 0.5% failures over 1,000 attempts
// are below the 5% threshold: the guard looks and does nothing.
func TestGuard_LeavesAHealthyRolloutAlone(t *testing.T) {
	n, cl := guardNode(t, api.GuardPause)
	fleet(t, n, "b1", 995, 5)
	looked(t, n)
	looked(t, n)
	if r := rolloutOf(t, cl); r == nil || r.Paused || r.Tripped != "" {
		t.Fatalf("healthy rollout stopped: %+v", r)
	}
}

// TestGuard_RollsBack: with action rollback the rollout ends and the
// channel stays on its bundle.
func TestGuard_RollsBack(t *testing.T) {
	n, cl := guardNode(t, api.GuardRollback)
	fleet(t, n, "b1", 150, 50)
	wait.For(t, 10*time.Second, "the guard to roll back", func() bool { return rolloutOf(t, cl) == nil })
	chs, _ := cl.Channels(context.Background(), "com.example.app")
	if chs[0].Bundle != "1.0.0" {
		t.Fatalf("channel on %s after the rollback, want 1.0.0", chs[0].Bundle)
	}
	// Two guard entries: the pause that records why, then the rollback.
	entries, _, err := cl.AuditAll(context.Background(), "com.example.app")
	if err != nil {
		t.Fatal(err)
	}
	tail := entries[len(entries)-2:]
	if !strings.HasPrefix(tail[0].Actor, "guard:") || !strings.Contains(tail[0].After, "50 of 200 install attempts") ||
		!strings.HasPrefix(tail[1].Actor, "guard:") || !strings.Contains(tail[1].Before, "50 of 200") {
		t.Fatalf("audit tail %+v, want the guard's pause (with its reason) and then its rollback", tail)
	}
}

// TestGuard_AlertOnlyRecords: action alert records the trip once and lets
// the rollout go on.
func TestGuard_AlertOnlyRecords(t *testing.T) {
	n, cl := guardNode(t, api.GuardAlert)
	fleet(t, n, "b1", 150, 50)
	var r *api.Rollout
	wait.For(t, 10*time.Second, "the guard to trip", func() bool { r = rolloutOf(t, cl); return r != nil && r.Tripped != "" })
	if r.Paused || r.PercentBPS != 1000 {
		t.Fatalf("an alert changed the rollout: %+v", r)
	}
	entries, _, _ := cl.AuditAll(context.Background(), "com.example.app")
	n.hs.checkGuards(context.Background()) // would trip again, were it not once per rollout
	again, _, _ := cl.AuditAll(context.Background(), "com.example.app")
	if len(again) != len(entries) {
		t.Fatalf("audit grew from %d to %d entries after the trip", len(entries), len(again))
	}
}

// TestGuard_StepKeepsTheGuard: widening a guarded rollout without naming
// a guard keeps it; no_guard drops it; a rollback conditional on a trip
// that an operator resumed conflicts.
func TestGuard_StepKeepsTheGuard(t *testing.T) {
	_, cl := guardNode(t, api.GuardPause)
	ctx := context.Background()
	if _, err := cl.PutChannel(ctx, "com.example.app", "production", api.PutChannel{Rollout: &api.RolloutSpec{Bundle: "1.1.0", PercentBPS: 5000}}); err != nil {
		t.Fatal(err)
	}
	if r := rolloutOf(t, cl); r.Guard == nil || r.Guard.MinAttempts != 100 || r.PercentBPS != 5000 {
		t.Fatalf("widened rollout %+v lost its guard", r)
	}
	rid := rolloutOf(t, cl).ID
	_, err := cl.PutChannel(ctx, "com.example.app", "production", api.PutChannel{IfRollout: rid, IfTripped: true, Rollback: true})
	if ae, ok := err.(*api.Error); !ok || ae.Status != 409 {
		t.Fatalf("rollback conditional on a trip that did not happen: %v, want 409", err)
	}
	if _, err := cl.PutChannel(ctx, "com.example.app", "production", api.PutChannel{Rollout: &api.RolloutSpec{Bundle: "1.1.0", PercentBPS: 5000, NoGuard: true}}); err != nil {
		t.Fatal(err)
	}
	if r := rolloutOf(t, cl); r.Guard != nil || r.ID != rid {
		t.Fatalf("no_guard step: %+v (id was %s)", r, rid)
	}
}

// TestGuard_Refusals: a guard no leader could act on is refused, and a
// change conditional on an old rollout id conflicts.
func TestGuard_Refusals(t *testing.T) {
	_, cl := guardNode(t, api.GuardPause)
	ctx := context.Background()
	for _, g := range []api.RolloutGuard{{MaxFailureRate: 0, MinAttempts: 100, Action: "pause"},
		{MaxFailureRate: 0.1, MinAttempts: 5, Action: "pause"}, {MaxFailureRate: 0.1, MinAttempts: 100, Action: "panic"}} {
		_, err := cl.PutChannel(ctx, "com.example.app", "production", api.PutChannel{Rollout: &api.RolloutSpec{Bundle: "1.1.0", PercentBPS: 10, Guard: &g}})
		if ae, ok := err.(*api.Error); !ok || ae.Status != 400 {
			t.Errorf("guard %+v: %v, want 400", g, err)
		}
	}
	paused := true
	_, err := cl.PutChannel(ctx, "com.example.app", "production", api.PutChannel{RolloutPaused: &paused, IfRollout: "not-this-one"})
	if ae, ok := err.(*api.Error); !ok || ae.Status != 409 || ae.Code != api.CodeConflict {
		t.Errorf("conditional change on another rollout: %v, want 409 %s", err, api.CodeConflict)
	}
	if r := rolloutOf(t, cl); r.Paused {
		t.Fatalf("a refused conditional change paused the rollout: %+v", r)
	}
}

// stagedNode is guardNode with production's rollout staged over eu then
// us, and a clock the test moves past each stage's minutes.
func stagedNode(t *testing.T) (*Node, *api.Client, *atomic.Int64) {
	t.Helper()
	skew := &atomic.Int64{}
	n, cl := startGCNode(t, func(c *Config) {
		c.Clock = func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	})
	ctx := context.Background()
	for _, v := range []string{"1.0.0", "1.1.0"} {
		if _, err := cl.PutBundleZip(ctx, "com.example.app", v, zipOf(t, v)); err != nil {
			t.Fatal(err)
		}
	}
	base := "1.0.0"
	if _, err := cl.PutChannel(ctx, "com.example.app", "production", api.PutChannel{Bundle: &base}); err != nil {
		t.Fatal(err)
	}
	// Through the service: no edge reports these regions here (the API's
	// own check is TestGuard_StageRegionsMustExist's).
	_, err := n.svc.PutChannel(ctx, "com.example.app", "production", api.PutChannel{Rollout: &api.RolloutSpec{Bundle: "1.1.0",
		PercentBPS: 10000, Regions: []string{"eu", "us"},
		Guard: &api.RolloutGuard{MaxFailureRate: 0.05, MinAttempts: 100, Action: api.GuardPause}}}, "")
	if err != nil {
		t.Fatal(err)
	}
	return n, cl, skew
}

// regionFleet pushes one batch of 1.1.0 installs from region.
func regionFleet(t *testing.T, n *Node, id, region string, sets, fails int64) {
	t.Helper()
	m := time.Now().Unix() / 60
	b := api.StatsBatch{ID: id, Region: region, Cells: []api.StatsCell{
		{Minute: m, App: "com.example.app", Version: "1.1.0", Platform: "ios", Action: "set", N: sets},
		{Minute: m, App: "com.example.app", Version: "1.1.0", Platform: "ios", Action: "unzip_fail", N: fails},
	}}
	if err := n.PushStats(context.Background(), b); err != nil {
		t.Fatal(err)
	}
}

// TestGuard_StagesByRegion: the next region opens only after the stage's
// minutes and once its region is healthy with enough attempts; healthy
// counts from another region do not open it.
func TestGuard_StagesByRegion(t *testing.T) {
	n, cl, skew := stagedNode(t)
	if r := rolloutOf(t, cl); r.Stage != 1 || r.StageMinutes != 10 || !slices.Equal(r.Regions, []string{"eu", "us"}) {
		t.Fatalf("staged rollout %+v", r)
	}
	regionFleet(t, n, "b1", "eu", 300, 1)
	stages := func() int64 { return n.hs.stageChecks.Load() }
	looked(t, n)
	if r := rolloutOf(t, cl); r.Stage != 1 || stages() != 0 {
		t.Fatalf("opened before the stage's minutes: %+v (%d stage checks)", r, stages())
	}
	skew.Store(int64(11 * time.Minute))
	regionFleet(t, n, "b2", "us", 0, 0)
	wait.For(t, 10*time.Second, "the next region", func() bool { return rolloutOf(t, cl).Stage == 2 })
	r := rolloutOf(t, cl)
	if r.Paused || r.Tripped != "" || !r.ServesRegion("us") || !r.ServesRegion("ap") {
		t.Fatalf("after opening us: %+v", r)
	}
}

// TestGuard_StageWaitsForItsRegion: without attempts in the stage's own
// region it waits; with failures there the guard pauses it instead.
func TestGuard_StageWaitsForItsRegion(t *testing.T) {
	n, cl, skew := stagedNode(t)
	skew.Store(int64(11 * time.Minute))
	regionFleet(t, n, "b1", "us", 500, 0) // the wrong region's health
	from := n.hs.stageChecks.Load()
	wait.For(t, 10*time.Second, "two stage checks", func() bool { return n.hs.stageChecks.Load() >= from+2 })
	if r := rolloutOf(t, cl); r.Stage != 1 {
		t.Fatalf("opened on another region's counts: %+v", r)
	}
	regionFleet(t, n, "b2", "eu", 80, 20)
	wait.For(t, 10*time.Second, "the guard's pause", func() bool { return rolloutOf(t, cl).Paused })
	if r := rolloutOf(t, cl); r.Stage != 1 {
		t.Fatalf("an unhealthy stage opened the next: %+v", r)
	}
}

// TestGuard_StageRegionsMustExist: the API refuses regions no edge
// reports, and staging without a guard.
func TestGuard_StageRegionsMustExist(t *testing.T) {
	_, cl := guardNode(t, api.GuardPause)
	ctx := context.Background()
	g := &api.RolloutGuard{MaxFailureRate: 0.05, MinAttempts: 100, Action: api.GuardPause}
	for _, c := range []struct {
		spec api.RolloutSpec
		want string
	}{
		{api.RolloutSpec{Bundle: "1.1.0", PercentBPS: 100, Regions: []string{"eu"}, Guard: g}, `no edge reports region "eu"`},
		{api.RolloutSpec{Bundle: "1.1.0", PercentBPS: 100, Regions: []string{"eu"}}, "needs a guard"},
		{api.RolloutSpec{Bundle: "1.1.0", PercentBPS: 100, Regions: []string{"eu", "eu"}, Guard: g}, "named twice"},
		{api.RolloutSpec{Bundle: "1.1.0", PercentBPS: 100, StageMinutes: 5, Guard: g}, "stage_minutes needs regions"},
	} {
		_, err := cl.PutChannel(ctx, "com.example.app", "production", api.PutChannel{Rollout: &c.spec})
		if ae, ok := err.(*api.Error); !ok || ae.Status != 400 || !strings.Contains(ae.Message, c.want) {
			t.Errorf("%+v: %v, want 400 with %q", c.spec, err, c.want)
		}
	}
}
