package origin

import (
	"context"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/aloft/aloft/origin/api"
)

// TestAPIRateLimit_PerToken: over HTTP, a token past its budget gets 429
// too_many_requests with Retry-After and X-RateLimit-Reset, while another
// operator token and an edge token are still served.
func TestAPIRateLimit_PerToken(t *testing.T) {
	// 60 a minute: a burst of 10, then one a second.
	n, admin := startGCNode(t, func(c *Config) { c.APIRateLimit = 60 })
	ctx := context.Background()
	reader, err := admin.CreateToken(ctx, "dash", api.RoleRead)
	if err != nil {
		t.Fatal(err)
	}
	edgeTok, err := admin.CreateToken(ctx, "edges", api.RoleEdge)
	if err != nil {
		t.Fatal(err)
	}
	var status int
	var e api.Error
	served := 0
	for range 30 {
		if status, e = call(t, n, reader.Secret, "GET", "/api/v1/apps", ""); status != 200 {
			break
		}
		served++
	}
	if status != http.StatusTooManyRequests || e.Code != api.CodeTooManyRequests || served < 9 || served > 11 {
		t.Fatalf("after %d served: %d %+v, want 429 too_many_requests after the burst of 10", served, status, e)
	}
	req, _ := http.NewRequest("GET", "http://"+n.APIAddr()+"/api/v1/apps", nil)
	req.Header.Set("Authorization", "Bearer "+reader.Secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	ra, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
	reset, _ := strconv.ParseInt(resp.Header.Get("X-RateLimit-Reset"), 10, 64)
	if resp.StatusCode != 429 || ra < 1 || ra > 2 || reset < time.Now().Unix() || reset > time.Now().Unix()+3 {
		t.Fatalf("429 headers: status %d Retry-After %q X-RateLimit-Reset %q", resp.StatusCode, resp.Header.Get("Retry-After"), resp.Header.Get("X-RateLimit-Reset"))
	}
	// The typed client (the CLI's) waits out Retry-After and gets in.
	cl := api.NewClient("http://"+n.APIAddr(), reader.Secret, nil)
	cl.SetRetry(10 * time.Second)
	if _, err := cl.Apps(ctx); err != nil {
		t.Fatalf("a retrying client after a 429: %v", err)
	}
	if status, e := call(t, n, gcToken, "GET", "/api/v1/apps", ""); status != 200 {
		t.Fatalf("another token: %d %+v", status, e)
	}
	for i := range 30 {
		if status, e := call(t, n, edgeTok.Secret, "GET", "/api/v1/sync/keys", ""); status != 200 {
			t.Fatalf("edge token, request %d: %d %+v", i, status, e)
		}
	}
}

// TestTokenBuckets_Refill: a drained bucket refills at the rate, never
// past the burst.
func TestTokenBuckets_Refill(t *testing.T) {
	tb := newTokenBuckets(60)
	now := time.Unix(1000, 0)
	for i := range 10 {
		if ok, _ := tb.take("a", now); !ok {
			t.Fatalf("request %d of the burst refused", i)
		}
	}
	if ok, wait := tb.take("a", now); ok || wait != time.Second {
		t.Fatalf("11th: ok=%v wait=%v, want refused for 1s", ok, wait)
	}
	if ok, _ := tb.take("a", now.Add(time.Second)); !ok {
		t.Fatal("not refilled after a second")
	}
	later := now.Add(time.Hour)
	passed := 0
	for range 20 {
		if ok, _ := tb.take("a", later); ok {
			passed++
		}
	}
	if passed != 10 {
		t.Fatalf("after an hour idle %d passed, want the burst of 10", passed)
	}
	if newTokenBuckets(0) != nil {
		t.Fatal("a limit of 0 is not off")
	}
}
