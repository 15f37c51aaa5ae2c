// The retry policy over real HTTP: failures retried with the same
// webhook-id, Retry-After honoured, MaxAge and 410 giving up, redirects
// and endless bodies treated as the spec asks; and the policy's pure
// parts with a pinned clock and jitter.

package webhook

import (
	"bytes"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestRetriesThenDeliversOnce(t *testing.T) {
	rc := newReceiver(t, "ep1", func(n int, w http.ResponseWriter, _ *http.Request) {
		switch n {
		case 1:
			w.WriteHeader(http.StatusInternalServerError)
		case 2:
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusServiceUnavailable)
		default:
			w.WriteHeader(http.StatusOK)
		}
	})
	d := openDispatcher(t, testConfig(t))
	run(t, d)
	enqueue(t, d, rc.ep, event("evt_1"))
	log := waitFinal(t, d, rc.ep.ID)

	reqs := rc.got()
	if len(reqs) != 3 {
		t.Fatalf("receiver got %d requests, want 3", len(reqs))
	}
	for i, r := range reqs {
		if r.header.Get(HeaderID) != "evt_1" || !bytes.Equal(r.body, reqs[0].body) {
			t.Errorf("request %d: webhook-id %q, body %s: a retry must resend the same id and body", i+1, r.header.Get(HeaderID), r.body)
		}
	}
	if gap := reqs[2].at.Sub(reqs[1].at); gap < time.Second {
		t.Errorf("third request came %v after the second; Retry-After: 1 asked for at least 1s", gap)
	}

	if len(log) != 3 {
		t.Fatalf("log has %d attempts, want 3: %+v", len(log), log)
	}
	want := []struct {
		n       int
		status  int
		outcome Outcome
	}{{3, 200, Delivered}, {2, 503, Retrying}, {1, 500, Retrying}}
	for i, w := range want {
		a := log[i]
		if a.N != w.n || a.Status != w.status || a.Outcome != w.outcome || a.EventID != "evt_1" || a.EventType != "bundle.published" {
			t.Errorf("log[%d] = %+v, want attempt %d status %d %s", i, a, w.n, w.status, w.outcome)
		}
	}
	if !log[0].Next.IsZero() || log[1].Next.Sub(log[1].At) < time.Second || log[0].At.Before(log[1].Next) {
		t.Errorf("attempt 2 at %v scheduled attempt 3 for %v (want ≥ 1s later), which started at %v",
			log[1].At, log[1].Next, log[0].At)
	}
	if log[1].Error != "HTTP 503 Service Unavailable" {
		t.Errorf("attempt 2 error %q", log[1].Error)
	}
}

func TestGivesUpAfterMaxAge(t *testing.T) {
	rc := newReceiver(t, "ep1", status(http.StatusBadGateway))
	cfg := testConfig(t)
	cfg.MaxAge = 300 * time.Millisecond
	cfg.BaseBackoff = 20 * time.Millisecond
	cfg.MaxBackoff = 100 * time.Millisecond
	d := openDispatcher(t, cfg)
	run(t, d)
	queued := time.Now()
	enqueue(t, d, rc.ep, event("evt_1"))
	log := waitFinal(t, d, rc.ep.ID)

	last := log[0]
	if last.Outcome != GaveUp || !strings.Contains(last.Error, "MaxAge") || last.Status != http.StatusBadGateway {
		t.Errorf("last attempt %+v, want given up for MaxAge after a 502", last)
	}
	if len(log) < 3 || last.N != len(log) {
		t.Errorf("%d attempts logged, the last numbered %d: want several, numbered 1..n", len(log), last.N)
	}
	// The attempt that gave up may have started before the deadline; it
	// ended after it (10ms of slack for At being wall-clock time and
	// Duration monotonic).
	if ended := last.At.Add(last.Duration); ended.Before(queued.Add(cfg.MaxAge - 10*time.Millisecond)) {
		t.Errorf("gave up after an attempt that ended %v after queueing, before MaxAge %v", ended.Sub(queued), cfg.MaxAge)
	}
	if rc.count() != len(log) {
		t.Errorf("receiver got %d requests, log has %d", rc.count(), len(log))
	}
}

func TestGoneGivesUpAtOnce(t *testing.T) {
	rc := newReceiver(t, "ep1", status(http.StatusGone))
	cfg := testConfig(t)
	var mu sync.Mutex
	var finals []Attempt
	cfg.OnFinal = func(a Attempt) {
		mu.Lock()
		finals = append(finals, a)
		mu.Unlock()
	}
	d := openDispatcher(t, cfg)
	run(t, d)
	enqueue(t, d, rc.ep, event("evt_1"))
	log := waitFinal(t, d, rc.ep.ID)

	if len(log) != 1 || log[0].Outcome != GaveUp || log[0].Status != http.StatusGone || rc.count() != 1 {
		t.Fatalf("log %+v, %d requests: want one attempt, given up on 410", log, rc.count())
	}
	// OnFinal runs after the outcome is on disk, so it may come just
	// after the log shows it.
	waitFor(t, "OnFinal", func() bool { mu.Lock(); defer mu.Unlock(); return len(finals) > 0 })
	mu.Lock()
	defer mu.Unlock()
	if len(finals) != 1 || finals[0].Status != http.StatusGone || finals[0].EndpointID != "ep1" {
		t.Errorf("OnFinal got %+v, want the 410 attempt once", finals)
	}
}

func TestRedirectIsAFailedAttempt(t *testing.T) {
	target := newReceiver(t, "target", status(http.StatusOK))
	rc := newReceiver(t, "ep1", func(_ int, w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.ep.URL, http.StatusFound)
	})
	d := openDispatcher(t, testConfig(t))
	run(t, d)
	enqueue(t, d, rc.ep, event("evt_1"))
	var log []Attempt
	waitFor(t, "a first attempt", func() bool { log = attempts(t, d, rc.ep.ID); return len(log) > 0 })
	if a := log[len(log)-1]; a.Status != http.StatusFound || a.Outcome != Retrying {
		t.Errorf("first attempt %+v, want a 302 to be retried", a)
	}
	if n, err := d.Cancel(rc.ep.ID); err != nil || n != 1 || pending(t, d) != 0 {
		t.Errorf("Cancel = %d, %v, then %d pending; want 1 dropped, none left", n, err, pending(t, d))
	}
	if target.count() != 0 {
		t.Errorf("the redirect was followed: its target got %d requests", target.count())
	}
}

func TestEndlessBodyDoesNotHoldTheAttempt(t *testing.T) {
	rc := newReceiver(t, "ep1", func(_ int, w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		chunk := bytes.Repeat([]byte("x"), 32<<10)
		for r.Context().Err() == nil {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	})
	cfg := testConfig(t)
	cfg.Timeout = 5 * time.Second
	d := openDispatcher(t, cfg)
	run(t, d)
	enqueue(t, d, rc.ep, event("evt_1"))
	log := waitFinal(t, d, rc.ep.ID)
	if a := log[0]; a.Outcome != Delivered || a.Duration > cfg.Timeout/2 || len(a.Response) != keptResponse {
		t.Errorf("attempt %+v (response %d bytes): want delivered well within Timeout, reading only the start of the body", a, len(a.Response))
	}
}

func TestBackoff(t *testing.T) {
	none := func(int64) int64 { return 0 }
	full := func(n int64) int64 { return n - 1 }
	base, ceiling := 5*time.Second, time.Hour
	cases := []struct {
		failures int
		jitter   func(int64) int64
		want     time.Duration
	}{
		{1, full, 5 * time.Second},
		{1, none, 2500 * time.Millisecond},
		{2, full, 10 * time.Second},
		{5, full, 80 * time.Second},
		{12, full, time.Hour},
		{1000, full, time.Hour},
		{1000, none, 30 * time.Minute},
	}
	for _, c := range cases {
		if got := backoff(base, ceiling, c.failures, c.jitter); got != c.want {
			t.Errorf("backoff after %d failures = %v, want %v", c.failures, got, c.want)
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	cases := []struct {
		v    string
		want time.Duration
		ok   bool
	}{
		{"1", time.Second, true},
		{" 120 ", 2 * time.Minute, true},
		{"Thu, 02 Jan 2025 03:05:05 GMT", time.Minute, true},
		{"Thu, 02 Jan 2025 03:00:00 GMT", 0, true},
		{"-1", 0, false},
		{"soon", 0, false},
		{"", 0, false},
		{"99999999999999999", 366 * 24 * time.Hour, true},
	}
	for _, c := range cases {
		if got, ok := parseRetryAfter(c.v, now); got != c.want || ok != c.ok {
			t.Errorf("parseRetryAfter(%q) = %v, %v; want %v, %v", c.v, got, ok, c.want, c.ok)
		}
	}
}

func TestNextAttempt(t *testing.T) {
	d := &Dispatcher{cfg: DefaultConfig("unused"), jitter: func(n int64) int64 { return n - 1 }}
	q := time.Date(2025, 1, 2, 3, 0, 0, 0, time.UTC)
	now := q.Add(time.Minute)
	check := func(name string, next time.Time, ok bool, want time.Time, wantOK bool) {
		t.Helper()
		if ok != wantOK || !next.Equal(want) {
			t.Errorf("%s: next %v ok %v, want %v %v", name, next, ok, want, wantOK)
		}
	}
	next, _, ok := d.nextAttempt(q, now, 1, 0, false)
	check("backoff", next, ok, now.Add(5*time.Second), true)
	next, _, ok = d.nextAttempt(q, now, 1, 30*time.Second, true)
	check("Retry-After over backoff", next, ok, now.Add(30*time.Second), true)
	next, _, ok = d.nextAttempt(q, now, 1, time.Second, true)
	check("backoff over a shorter Retry-After", next, ok, now.Add(5*time.Second), true)
	next, _, ok = d.nextAttempt(q, now, 1, 48*time.Hour, true)
	check("Retry-After capped at MaxBackoff", next, ok, now.Add(time.Hour), true)
	late := q.Add(24*time.Hour - time.Minute)
	next, _, ok = d.nextAttempt(q, late, 20, 0, false)
	check("last retry at the deadline", next, ok, q.Add(24*time.Hour), true)
	_, _, ok = d.nextAttempt(q, late, 1, 30*time.Minute, true)
	check("Retry-After past the deadline", time.Time{}, ok, time.Time{}, false)
	_, why, ok := d.nextAttempt(q, q.Add(24*time.Hour), 1, 0, false)
	check("at the deadline", time.Time{}, ok, time.Time{}, false)
	if !strings.Contains(why, "MaxAge") {
		t.Errorf("reason %q does not name MaxAge", why)
	}
}

// fakeClock is a Config.Now that tests move by hand.
type fakeClock struct{ ns atomic.Int64 }

func (c *fakeClock) now() time.Time      { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) set(t time.Time)     { c.ns.Store(t.UnixNano()) }
func (c *fakeClock) add(d time.Duration) { c.ns.Add(int64(d)) }

// TestExpiredDeliveryIsNotSent: a delivery found past MaxAge (the node
// was down, or not the leader, that long) is given up unsent.
func TestExpiredDeliveryIsNotSent(t *testing.T) {
	rc := newReceiver(t, "ep1", status(http.StatusOK))
	clock := &fakeClock{}
	clock.set(time.Now())
	cfg := testConfig(t)
	cfg.Now = clock.now
	d := openDispatcher(t, cfg)
	enqueue(t, d, rc.ep, event("evt_1"))
	clock.add(cfg.MaxAge)
	run(t, d)
	log := waitFinal(t, d, rc.ep.ID)
	if len(log) != 1 || log[0].Outcome != GaveUp || !strings.Contains(log[0].Error, "MaxAge") || rc.count() != 0 {
		t.Errorf("log %+v, %d requests: want it given up unsent", log, rc.count())
	}
}
