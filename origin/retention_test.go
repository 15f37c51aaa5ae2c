package origin

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/aloft/aloft/origin/api"
)

func TestRetireVictims(t *testing.T) {
	now := time.UnixMilli(100 * 86400_000)
	day := func(d int) int64 { return now.Add(-time.Duration(d) * 24 * time.Hour).UnixMilli() }
	app := &api.App{ID: "com.example.app", Bundles: map[string]*api.Bundle{}, Channels: map[string]*api.Channel{
		"production": {Name: "production", Bundle: "1.0.1", History: []string{"1.0.0"}},
		"beta":       {Name: "beta", Bundle: "1.0.5", Rollout: &api.Rollout{Bundle: "1.0.2"}},
	}}
	for i, v := range []string{"1.0.0", "1.0.1", "1.0.2", "1.0.3", "1.0.4", "1.0.5", "1.0.6"} {
		app.Bundles[v] = &api.Bundle{Version: v, Created: day(60 - 10*i)} // 1.0.6 is 0 days old
	}
	cat := &api.Catalog{Apps: map[string]*api.App{app.ID: app}}
	cases := []struct {
		name string
		r    retentionRec
		want []string
	}{
		{"last 2", retentionRec{KeepLast: 2}, []string{"1.0.3", "1.0.4"}},
		{"younger than 25 days", retentionRec{KeepSeconds: 25 * 86400}, []string{"1.0.3"}},
		{"last 1 or younger than 5 days", retentionRec{KeepLast: 1, KeepSeconds: 5 * 86400}, []string{"1.0.3", "1.0.4"}},
		{"younger than 45 days", retentionRec{KeepSeconds: 45 * 86400}, nil},
	}
	for _, c := range cases {
		got := retireVictims(cat, map[string]retentionRec{app.ID: c.r}, now)[app.ID]
		slices.Sort(got)
		if !slices.Equal(got, c.want) {
			t.Errorf("%s: retire %v, want %v (pinned: 1.0.0 history, 1.0.1, 1.0.2 rollout, 1.0.5)", c.name, got, c.want)
		}
	}
	if got := retireVictims(cat, nil, now); len(got) != 0 {
		t.Errorf("no policy retired %v", got)
	}
}

// TestRetention_CollectRetires: a policy set through the API makes the
// next collection delete what it lets go, through raft, and say so.
func TestRetention_CollectRetires(t *testing.T) {
	n, cl := startGCNode(t, nil)
	ctx := context.Background()
	sha := putBlob(t, cl, zipOf(t, "r"))
	for _, v := range []string{"1.0.0", "1.0.1", "1.0.2"} {
		if _, err := cl.PutBundle(ctx, "com.example.app", v, api.PutBundle{Zip: sha}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := cl.SetRetention(ctx, "com.example.app", api.Retention{KeepLast: -1}); !isCode(err, api.CodeBadRequest) {
		t.Fatalf("negative keep_last: %v", err)
	}
	r, err := cl.SetRetention(ctx, "com.example.app", api.Retention{KeepLast: 1})
	if err != nil || r.KeepLast != 1 {
		t.Fatalf("set retention: %+v %v", r, err)
	}
	dry := gc(t, cl, api.CollectGarbage{DryRun: true})
	if len(dry.Retired) != 2 || len(n.Catalog().Apps["com.example.app"].Bundles) != 3 {
		t.Fatalf("dry run: %+v", dry)
	}
	rep := gc(t, cl, api.CollectGarbage{})
	bundles := n.Catalog().Apps["com.example.app"].Bundles
	if !slices.Equal(rep.Retired, []string{"com.example.app@1.0.0", "com.example.app@1.0.1"}) || len(bundles) != 1 || bundles["1.0.2"] == nil {
		t.Fatalf("retired %v, left %v", rep.Retired, bundles)
	}
	if got, err := cl.Retention(ctx, "com.example.app"); err != nil || got.KeepLast != 1 {
		t.Fatalf("get retention: %+v %v", got, err)
	}
}
