// Isolation between endpoints: one that hangs holds at most PerEndpoint
// delivery slots, so another endpoint's delivery is not delayed; and a
// hanging attempt ends at Timeout and is retried.

package webhook

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestHangingEndpointDoesNotDelayOthers(t *testing.T) {
	release := make(chan struct{})
	hang := newReceiver(t, "hang", func(_ int, _ http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	t.Cleanup(func() { close(release) }) // before the receiver's Close
	fast := newReceiver(t, "fast", status(http.StatusOK))
	cfg := testConfig(t)
	cfg.Timeout = time.Minute // the hang outlasts the test
	d := openDispatcher(t, cfg)
	for i := range 2 * cfg.Concurrency {
		enqueue(t, d, hang.ep, event("evt_hang_"+string(rune('a'+i))))
	}
	enqueue(t, d, fast.ep, event("evt_fast"))
	start := time.Now()
	run(t, d)
	waitFor(t, "the fast endpoint's delivery", func() bool {
		log := attempts(t, d, fast.ep.ID)
		return len(log) == 1 && log[0].Outcome == Delivered
	})
	if took := time.Since(start); took > cfg.Timeout/4 {
		t.Errorf("the fast delivery took %v behind a hanging endpoint", took)
	}
	if n := hang.count(); n != cfg.PerEndpoint {
		t.Errorf("the hanging endpoint has %d requests in flight, want PerEndpoint = %d", n, cfg.PerEndpoint)
	}
}

func TestHangingAttemptTimesOut(t *testing.T) {
	release := make(chan struct{})
	rc := newReceiver(t, "hang", func(n int, w http.ResponseWriter, r *http.Request) {
		if n > 1 {
			w.WriteHeader(http.StatusOK)
			return
		}
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	t.Cleanup(func() { close(release) })
	cfg := testConfig(t)
	cfg.Timeout = 200 * time.Millisecond
	d := openDispatcher(t, cfg)
	run(t, d)
	enqueue(t, d, rc.ep, event("evt_1"))
	log := waitFinal(t, d, rc.ep.ID)
	if len(log) != 2 || log[0].Outcome != Delivered {
		t.Fatalf("log %+v, want a timed-out attempt then a delivery", log)
	}
	first := log[1]
	if first.Outcome != Retrying || first.Status != 0 || !(strings.Contains(first.Error, "timeout") || strings.Contains(first.Error, "deadline exceeded")) ||
		// The attempt's clock starts just after its deadline is set, so
		// a cut at Timeout can read a hair under it.
		first.Duration < cfg.Timeout*9/10 || first.Duration > 10*cfg.Timeout {
		t.Errorf("first attempt %+v: want it cut at Timeout %v and retried", first, cfg.Timeout)
	}
}
