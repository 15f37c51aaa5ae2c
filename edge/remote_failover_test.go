package edge

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aloft/aloft/origin/api"
)

// TestRemoteOrigin_CancelDoesNotMoveOn: a request the edge itself gave
// up on (a hint whose peer answered first, shutdown) leaves the node in
// use alone; one that ran out of time moves to the next.
func TestRemoteOrigin_CancelDoesNotMoveOn(t *testing.T) {
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	defer hang.Close()
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	defer other.Close()
	r := NewRemoteOrigin(hang.URL+","+other.URL, "t")
	req := api.FeedRequest{After: 1}

	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	if _, err := r.Feed(ctx, req); err == nil {
		t.Fatal("a cancelled request succeeded")
	}
	if got := r.client().Base(); got != hang.URL {
		t.Fatalf("after a cancel the edge moved to %s", got)
	}
	dctx, dcancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer dcancel()
	if _, err := r.Feed(dctx, req); err == nil {
		t.Fatal("a request past its deadline succeeded")
	}
	if got := r.client().Base(); got != other.URL {
		t.Fatalf("after a timeout the edge stayed on %s", got)
	}
}
