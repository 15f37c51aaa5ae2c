package geodns

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// TestHealth_Observe_Hysteresis: the first probe decides; then Fall
// failures in a row take an edge down and Rise passes bring it back,
// while an interrupted streak changes nothing.
func TestHealth_Observe_Hysteresis(t *testing.T) {
	steps := []struct {
		ok          bool
		wantReady   bool
		wantChanged bool
	}{
		{true, true, true},    // first probe: ready at once
		{false, true, false},  // one failure of fall=2
		{true, true, false},   // streak broken
		{false, true, false},  // one again
		{false, false, true},  // two: down
		{true, false, false},  // one pass of rise=3
		{true, false, false},  // two
		{false, false, false}, // broken
		{true, false, false},
		{true, false, false},
		{true, true, true}, // three: up
	}
	var h health
	for i, s := range steps {
		changed := h.observe(s.ok, "", 2, 3)
		if h.ready != s.wantReady || changed != s.wantChanged {
			t.Fatalf("step %d (ok=%v): ready %v changed %v, want %v %v", i, s.ok, h.ready, changed, s.wantReady, s.wantChanged)
		}
	}
}

// TestProbe_Answers: only a 200 within the timeout is ready; a 503 (an
// expired or starting edge), a refused connection and a hung answer are
// not.
func TestProbe_Answers(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	mux.HandleFunc("/unready", func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	// Hangs, then answers 200 late: a probe without its timeout would
	// call this edge ready (after 5 s, so a broken timeout fails the test
	// instead of hanging it).
	mux.HandleFunc("/hang", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	hc := srv.Client()
	for _, tc := range []struct {
		url  string
		want bool
	}{
		{srv.URL + "/ok", true},
		{srv.URL + "/unready", false},
		{srv.URL + "/hang", false},
		{dead.URL + "/readyz", false},
	} {
		start := time.Now()
		ok, why := probe(t.Context(), hc, tc.url, 300*time.Millisecond)
		if ok != tc.want {
			t.Fatalf("%s: ready %v (%s), want %v", tc.url, ok, why, tc.want)
		}
		if took := time.Since(start); took > 2*time.Second {
			t.Fatalf("%s: the probe took %v, past its timeout", tc.url, took)
		}
	}
}
