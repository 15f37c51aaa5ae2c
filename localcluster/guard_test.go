package localcluster_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aloft/aloft/internal/wait"
	"github.com/aloft/aloft/localcluster"
	"github.com/aloft/aloft/origin/api"
	"github.com/aloft/aloft/webhook"
)

// TestGuard_FleetThroughEdges: a fleet of 100 devices reports through two
// edges (of two origin nodes) that 20 of them failed to install the
// rollout bundle; the leader pauses the rollout, every edge stops
// offering it to devices outside it, and a webhook endpoint is told, with
// a signature that verifies.
func TestGuard_FleetThroughEdges(t *testing.T) {
	c := start(t, localcluster.Config{Origins: 3, Edges: []localcluster.EdgeSpec{
		{Name: "eu1", Region: "eu"}, {Name: "us1", Region: "us"},
	}})
	c.Edges[0].Spec.OriginURL, c.Edges[1].Spec.OriginURL = c.Origins[0].URL(), c.Origins[1].URL()
	for i := range c.Edges {
		if err := c.RestartEdge(i); err != nil {
			t.Fatal(err)
		}
	}
	admin := c.Admin(2)
	ctx := context.Background()
	twoReleases(t, admin)

	var mu sync.Mutex
	var secret string
	var told []string
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		var ev struct {
			Type string `json:"type"`
		}
		_ = json.Unmarshal(body, &ev)
		if sig, err := webhook.Sign(secret, r.Header.Get("webhook-id"), unixHeader(r), body); err != nil || sig != r.Header.Get("webhook-signature") {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		told = append(told, ev.Type)
	}))
	t.Cleanup(recv.Close)
	u, events := recv.URL, []string{api.EventRolloutPaused}
	wh, err := admin.AddWebhook(ctx, app, api.PutWebhook{URL: &u, Events: &events})
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	secret = wh.Secret
	mu.Unlock()

	spec := api.PutChannel{Rollout: &api.RolloutSpec{Bundle: "1.1.0", PercentBPS: 10000,
		// 100 attempts: each edge reports 50, so the guard can trip only
		// on the two merged (its verdict names both), not on whichever
		// edge's stats reach the origin first.
		Guard: &api.RolloutGuard{MaxFailureRate: 0.05, MinAttempts: 100, Action: api.GuardPause}}}
	if _, err := admin.PutChannel(ctx, app, "production", spec); err != nil {
		t.Fatal(err)
	}
	waitAll(t, c)
	for _, e := range c.Edges {
		if got := answer(t, e); got != "1.1.0" {
			t.Fatalf("%s offers %q before the pause, want the rollout's 1.1.0", e.Name(), got)
		}
	}
	now := time.Now().UnixMilli()
	for half := range 2 {
		var evs []any
		for i := half * 50; i < half*50+50; i++ {
			action := "set"
			if i%5 == 0 {
				action = "download_fail"
			}
			evs = append(evs, fleetEvent(i, "android", "1.1.0", action, now, nil))
		}
		post(t, c.Edges[half], "/stats", evs)
	}
	wait.For(t, 30*time.Second, "the guard's pause", func() bool {
		chs, err := admin.Channels(ctx, app)
		return err == nil && len(chs) == 1 && chs[0].Rollout != nil && chs[0].Rollout.Paused
	})
	chs, _ := admin.Channels(ctx, app)
	if !strings.Contains(chs[0].Rollout.Tripped, "20 of 100 install attempts") {
		t.Errorf("tripped %q", chs[0].Rollout.Tripped)
	}
	waitAll(t, c)
	// answer()'s device runs 1.0.0: paused, the rollout lets no one new
	// in, so nothing new for it anywhere.
	for _, e := range c.Edges {
		if got := answer(t, e); got != "" {
			t.Errorf("%s offers %s after the pause", e.Name(), got)
		}
	}
	wait.For(t, 20*time.Second, "the webhook", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(told) == 1 && told[0] == api.EventRolloutPaused
	})
}

// unixHeader reads webhook-timestamp.
func unixHeader(r *http.Request) time.Time {
	var s int64
	for _, c := range r.Header.Get("webhook-timestamp") {
		s = s*10 + int64(c-'0')
	}
	return time.Unix(s, 0)
}
