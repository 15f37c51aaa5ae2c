package localcluster_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aloft/aloft/internal/wait"
	"github.com/aloft/aloft/localcluster"
	"github.com/aloft/aloft/origin"
	"github.com/aloft/aloft/origin/api"
)

// TestRollout_StagedByRegionThroughEdges: a guarded rollout staged over
// eu then us reaches devices through eu's edge first; once eu's devices
// install it without failing and the stage's minutes pass (on the
// origin's clock, moved by the test), us's edge serves it too.
func TestRollout_StagedByRegionThroughEdges(t *testing.T) {
	var skew atomic.Int64
	c := start(t, localcluster.Config{Origins: 1, Edges: []localcluster.EdgeSpec{
		{Name: "eu1", Region: "eu"}, {Name: "us1", Region: "us"},
	}, TuneOrigin: func(_ int, oc *origin.Config) {
		oc.Clock = func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	}})
	admin := c.Admin(0)
	ctx := context.Background()
	twoReleases(t, admin)
	wait.For(t, 20*time.Second, "both edges' regions at the origin", func() bool {
		l, err := admin.Edges(ctx)
		return err == nil && len(l.Edges) == 2 && l.Edges[0].Region != "" && l.Edges[1].Region != ""
	})
	spec := api.PutChannel{Rollout: &api.RolloutSpec{Bundle: "1.1.0", PercentBPS: 10000, Regions: []string{"eu", "us"}, StageMinutes: 10,
		Guard: &api.RolloutGuard{MaxFailureRate: 0.05, MinAttempts: 10, Action: api.GuardPause}}}
	if _, err := admin.PutChannel(ctx, app, "production", spec); err != nil {
		t.Fatal(err)
	}
	waitAll(t, c)
	if got := answer(t, c.Edges[0]); got != "1.1.0" {
		t.Fatalf("eu edge offers %s at stage 1, want 1.1.0", got)
	}
	if got := answer(t, c.Edges[1]); got != "" { // the device runs 1.0.0, the channel's
		t.Fatalf("us edge offers %s at stage 1, want nothing new", got)
	}
	var evs []any
	for i := range 20 {
		evs = append(evs, fleetEvent(i, "ios", "1.1.0", "set", time.Now().UnixMilli(), nil))
	}
	post(t, c.Edges[0], "/stats", evs)
	skew.Store(int64(11 * time.Minute))
	wait.For(t, 30*time.Second, "the us edge to serve the rollout", func() bool { return answer(t, c.Edges[1]) == "1.1.0" })
	chs, err := admin.Channels(ctx, app)
	if err != nil || len(chs) != 1 || chs[0].Rollout == nil || chs[0].Rollout.Stage != 2 || chs[0].Rollout.Paused {
		t.Fatalf("channels %+v, %v", chs, err)
	}
}

// twoReleases makes the app with bundles 1.0.0 and 1.1.0 and production
// (public) on 1.0.0, ready for a rollout of 1.1.0.
func twoReleases(t *testing.T, admin *api.Client) {
	t.Helper()
	if _, err := admin.CreateApp(context.Background(), api.CreateApp{AppID: app}); err != nil {
		t.Fatal(err)
	}
	publish(t, admin, "1.0.0")
	publish(t, admin, "1.1.0")
	base := "1.0.0"
	if _, err := admin.PutChannel(context.Background(), app, "production", api.PutChannel{Bundle: &base}); err != nil {
		t.Fatal(err)
	}
}
