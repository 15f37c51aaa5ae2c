package origin

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/aloft/aloft/internal/wait"
	"github.com/aloft/aloft/origin/api"
)

// receiver is an endpoint that verifies every request with the official
// Standard Webhooks library and fails the first `fail` attempts of each
// event with 503 and Retry-After.
type receiver struct {
	t    *testing.T
	srv  *httptest.Server
	mu   sync.Mutex
	wh   *standardwebhooks.Webhook
	fail int
	seen map[string]int  // event id → attempts
	ok   map[string]bool // event id → delivered
	got  []hookBody      // verified deliveries, in arrival order (each id once)
	bad  []string
}

type hookBody struct {
	ID        string
	Type      string          `json:"type"`
	Timestamp string          `json:"timestamp"`
	Data      json.RawMessage `json:"data"`
}

func newReceiver(t *testing.T, fail int) *receiver {
	rc := &receiver{t: t, fail: fail, seen: map[string]int{}, ok: map[string]bool{}}
	rc.srv = httptest.NewServer(http.HandlerFunc(rc.serve))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) setSecret(s string) {
	wh, err := standardwebhooks.NewWebhook(s)
	if err != nil {
		rc.t.Fatal(err)
	}
	rc.mu.Lock()
	rc.wh = wh
	rc.mu.Unlock()
}

func (rc *receiver) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.wh == nil || rc.wh.Verify(body, r.Header) != nil {
		rc.bad = append(rc.bad, string(body))
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	id := r.Header.Get("webhook-id")
	rc.seen[id]++
	if rc.seen[id] <= rc.fail {
		w.Header().Set("Retry-After", "0")
		http.Error(w, "busy", http.StatusServiceUnavailable)
		return
	}
	if !rc.ok[id] {
		rc.ok[id] = true
		b := hookBody{ID: id}
		if err := json.Unmarshal(body, &b); err != nil {
			rc.bad = append(rc.bad, string(body))
		}
		rc.got = append(rc.got, b)
	}
	w.WriteHeader(http.StatusNoContent)
}

func (rc *receiver) types() []string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var out []string
	for _, b := range rc.got {
		out = append(out, b.Type)
	}
	return out
}

// TestWebhooks_DeliveredSignedRetriedLogged: catalog changes reach an
// endpoint as Standard Webhooks requests a verifier accepts, each after a
// refused first attempt, with the failures and the success in the
// delivery log; the guard's pause is its own event with the reason; an
// endpoint that subscribed to one type gets only that; a deleted
// endpoint gets nothing more.
func TestWebhooks_DeliveredSignedRetriedLogged(t *testing.T) {
	n, cl := guardNode(t, api.GuardPause)
	ctx := context.Background()
	all, only := newReceiver(t, 1), newReceiver(t, 0)
	u := all.srv.URL + "/hooks"
	wh, err := cl.AddWebhook(ctx, "com.example.app", api.PutWebhook{URL: &u})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(wh.Secret, "whsec_") || wh.ID == "" {
		t.Fatalf("created webhook %+v: want an id and a whsec_ secret", wh)
	}
	all.setSecret(wh.Secret)
	u2, events := only.srv.URL, []string{api.EventBundlePublished}
	wh2, err := cl.AddWebhook(ctx, "com.example.app", api.PutWebhook{URL: &u2, Events: &events})
	if err != nil {
		t.Fatal(err)
	}
	only.setSecret(wh2.Secret)
	list, err := cl.Webhooks(ctx, "com.example.app")
	if err != nil || len(list) != 2 {
		t.Fatalf("list %+v, %v: want two endpoints", list, err)
	}
	for _, l := range list {
		if l.Secret != "" || (l.ID == wh.ID) != (l.SecretPrefix == wh.Secret[:10]) {
			t.Fatalf("listed %+v: want no secret and the prefix of its own", l)
		}
	}

	// A publish, then a failing fleet: the guard pauses the rollout.
	if _, err := cl.PutBundleZip(ctx, "com.example.app", "1.2.0", zipOf(t, "1.2.0")); err != nil {
		t.Fatal(err)
	}
	fleet(t, n, "b1", 80, 20)
	want := []string{api.EventBundlePublished, api.EventRolloutPaused}
	// Deliveries are not ordered (a retry may overtake): compare as sets.
	wait.For(t, 20*time.Second, "the publish and the guard's pause at the endpoint", func() bool {
		got := all.types()
		slices.Sort(got)
		return slices.Equal(got, want)
	})
	all.mu.Lock()
	var paused struct {
		Channel string `json:"channel"`
		Reason  string `json:"reason"`
		Actor   string `json:"actor"`
	}
	for _, b := range all.got {
		if b.Type == api.EventRolloutPaused {
			_ = json.Unmarshal(b.Data, &paused)
		}
	}
	bad := all.bad
	all.mu.Unlock()
	if paused.Channel != "production" || !strings.Contains(paused.Reason, "20 of 100 install attempts") || !strings.HasPrefix(paused.Actor, "guard:") {
		t.Errorf("rollout.paused data %+v", paused)
	}
	if len(bad) > 0 {
		t.Errorf("requests the verifier refused: %q", bad)
	}
	wait.For(t, 10*time.Second, "the bundle event at the subscribed endpoint", func() bool {
		return slices.Equal(only.types(), []string{api.EventBundlePublished})
	})

	// The log: newest first, each event refused once then delivered.
	// (The receiver answers before the dispatcher writes the log.)
	var log api.WebhookLog
	wait.For(t, 10*time.Second, "four attempts in the log", func() bool {
		log, err = cl.WebhookDeliveries(ctx, "com.example.app", wh.ID, 0)
		return err != nil || len(log.Attempts) >= 4
	})
	if err != nil {
		t.Fatal(err)
	}
	var outcomes []string
	for i, a := range log.Attempts {
		if i > 0 && a.At > log.Attempts[i-1].At {
			t.Errorf("log not newest first: %+v", log.Attempts)
		}
		outcomes = append(outcomes, fmt.Sprintf("%s #%d %d %s", a.EventType, a.N, a.Status, a.Outcome))
	}
	slices.Sort(outcomes)
	wantLog := []string{"bundle.published #1 503 retrying", "bundle.published #2 204 delivered",
		"rollout.paused #1 503 retrying", "rollout.paused #2 204 delivered"}
	if !slices.Equal(outcomes, wantLog) {
		t.Fatalf("delivery log %v, want %v", outcomes, wantLog)
	}

	// The node's metrics counted the same attempts.
	if r, d := testutil.ToFloat64(n.hs.metrics.webhookAttempts.WithLabelValues("retrying")), testutil.ToFloat64(n.hs.metrics.webhookAttempts.WithLabelValues("delivered")); r < 2 || d < 3 {
		t.Errorf("aloft_origin_webhook_attempts_total: retrying %v, delivered %v; want at least 2 and 3", r, d)
	}

	// Deleted: a later change reaches nobody. A ping to the other
	// endpoint is delivered after it, so the wait is bounded.
	if err := cl.DeleteWebhook(ctx, "com.example.app", wh.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.PutBundleZip(ctx, "com.example.app", "1.3.0", zipOf(t, "1.3.0")); err != nil {
		t.Fatal(err)
	}
	wait.For(t, 10*time.Second, "1.3.0 at the endpoint that is left", func() bool { return len(only.types()) == 2 })
	if got := all.types(); len(got) != 2 {
		t.Fatalf("a deleted endpoint received %v", got)
	}
	if _, err := cl.WebhookDeliveries(ctx, "com.example.app", wh.ID, 0); err == nil {
		t.Error("the log of a deleted webhook answered")
	}
}

// TestWebhooks_Refusals: bad URLs, unknown events, bad secrets and
// missing endpoints are refused in words; the secret never shows outside
// the answers that made it.
func TestWebhooks_Refusals(t *testing.T) {
	n, cl := startGCNode(t, nil)
	ctx := context.Background()
	// A retried create (same idempotency key) answers the endpoint the
	// first try made, secret and all, and makes no second one.
	u := "https://x.example.com/retried"
	first, err := n.svc.AddWebhook(ctx, "com.example.app", api.PutWebhook{URL: &u}, "key-1")
	if err != nil {
		t.Fatal(err)
	}
	again, err := n.svc.AddWebhook(ctx, "com.example.app", api.PutWebhook{URL: &u}, "key-1")
	if err != nil || again.ID != first.ID || again.Secret != first.Secret {
		t.Fatalf("retried create: %+v, %v; want %+v", again, err, first)
	}
	if err := cl.DeleteWebhook(ctx, "com.example.app", first.ID); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		w    api.PutWebhook
		want string
	}{
		{api.PutWebhook{}, "url is required"},
		{api.PutWebhook{URL: strp("ftp://x.example.com/")}, "webhook url"},
		{api.PutWebhook{URL: strp("https://x.example.com/"), Events: &[]string{"bundle.exploded"}}, "unknown webhook event"},
		{api.PutWebhook{URL: strp("https://x.example.com/"), Secret: strp("hunter2")}, "webhook secret"},
		{api.PutWebhook{URL: strp("https://x.example.com/"), RotateSecret: true}, "existing webhook"},
	} {
		_, err := cl.AddWebhook(ctx, "com.example.app", c.w)
		if ae, ok := err.(*api.Error); !ok || ae.Status != 400 || !strings.Contains(ae.Message, c.want) {
			t.Errorf("%+v: %v, want 400 with %q", c.w, err, c.want)
		}
	}
	if _, err := cl.UpdateWebhook(ctx, "com.example.app", "wh_nope", api.PutWebhook{RotateSecret: true}); err == nil || err.(*api.Error).Status != 404 {
		t.Errorf("update of a missing webhook: %v, want 404", err)
	}
	wh, err := cl.AddWebhook(ctx, "com.example.app", api.PutWebhook{URL: strp("https://x.example.com/")})
	if err != nil {
		t.Fatal(err)
	}
	rot, err := cl.UpdateWebhook(ctx, "com.example.app", wh.ID, api.PutWebhook{RotateSecret: true})
	if err != nil || rot.Secret == "" || rot.Secret == wh.Secret {
		t.Fatalf("rotated %+v, %v: want a new secret", rot, err)
	}
	entries, _, err := cl.AuditAll(ctx, "com.example.app")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.Contains(e.Before+e.After, wh.Secret[10:]) || strings.Contains(e.Before+e.After, rot.Secret[10:]) {
			t.Fatalf("the audit log shows a secret: %+v", e)
		}
	}
}

// TestWebhookEvent_Classifies: the event type of each kind of channel
// change, from the audit entry alone.
func TestWebhookEvent_Classifies(t *testing.T) {
	for _, c := range []struct{ before, after, want string }{
		{``, `{"name":"beta"}`, api.EventChannelChanged},
		{`{"rollout":{"id":"r","bundle":"2","paused":false}}`, `{"rollout":{"id":"r","bundle":"2","paused":true,"tripped":"guard: x"}}`, api.EventRolloutPaused},
		{`{"rollout":{"id":"r","bundle":"2"}}`, `{"rollout":{"id":"r","bundle":"2","tripped":"guard: x"}}`, api.EventRolloutFailureAlert},
		{`{"rollout":{"id":"r","bundle":"2"},"updated_ms":1}`, `{"updated_ms":2}`, api.EventRolloutRolledBack},
		{`{"bundle":"1","rollout":{"id":"r","bundle":"2"}}`, `{"bundle":"2"}`, api.EventChannelChanged}, // promoted
		{`{"bundle":"1"}`, `{"bundle":"2"}`, api.EventChannelChanged},
		{`{"rollout":{"id":"r","bundle":"2","percent_bps":10}}`, `{"rollout":{"id":"r","bundle":"2","percent_bps":20}}`, api.EventChannelChanged},
	} {
		ev, ok := webhookEvent(api.AuditEntry{Index: 7, Hash: "abcdef0123456789ff", App: "a.b", Object: "channel beta", Action: "put_channel", Before: c.before, After: c.after})
		if !ok || ev.Type != c.want || ev.ID != "evt_7_abcdef0123456789" {
			t.Errorf("%s → %s: %+v, want %s", c.before, c.after, ev, c.want)
		}
	}
	if _, ok := webhookEvent(api.AuditEntry{Object: "token ci", Action: "put_token"}); ok {
		t.Error("a token change became an event")
	}
}

// TestWebhooks_NewLeaderDelivers: an event the leader could not deliver
// before it stopped is delivered by the next leader, from the replicated
// audit log, with the same webhook-id; the merged delivery log names
// the node that is down as missing.
func TestWebhooks_NewLeaderDelivers(t *testing.T) {
	nodes := startThree(t)
	ctx := context.Background()
	leader := leaderWithApp(t, nodes)
	cl := leader.client()
	rc := newReceiver(t, 1<<30) // refuses everything, for now
	u := rc.srv.URL
	wh, err := cl.AddWebhook(ctx, "com.example.app", api.PutWebhook{URL: &u})
	if err != nil {
		t.Fatal(err)
	}
	rc.setSecret(wh.Secret)
	if _, err := cl.PutChannel(ctx, "com.example.app", "beta", api.PutChannel{Bundle: strp(api.BuiltinVersion)}); err != nil {
		t.Fatal(err)
	}
	var first string
	wait.For(t, 10*time.Second, "a refused attempt at the endpoint", func() bool {
		rc.mu.Lock()
		defer rc.mu.Unlock()
		for id := range rc.seen {
			first = id
		}
		return first != ""
	})
	leader.halt()
	rc.mu.Lock()
	rc.fail = 0
	rc.mu.Unlock()
	wait.For(t, 20*time.Second, "the new leader's delivery", func() bool {
		rc.mu.Lock()
		defer rc.mu.Unlock()
		return len(rc.got) == 1
	})
	rc.mu.Lock()
	got := rc.got[0]
	rc.mu.Unlock()
	if got.ID != first || got.Type != api.EventChannelChanged {
		t.Fatalf("delivered %s %s, want %s (the id the first leader sent) of channel.changed", got.ID, got.Type, first)
	}
	var other *clusterNode
	for _, c := range nodes {
		if c != leader {
			other = c
		}
	}
	var log api.WebhookLog
	wait.For(t, 10*time.Second, "the delivery in the log", func() bool {
		log, err = other.client().WebhookDeliveries(ctx, "com.example.app", wh.ID, 0)
		return err == nil && len(log.Attempts) > 0 && log.Attempts[0].Outcome == "delivered"
	})
	if !slices.Equal(log.Missing, []string{leader.id}) {
		t.Errorf("missing %v, want the stopped node %s", log.Missing, leader.id)
	}
}
