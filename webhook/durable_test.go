// The queue on disk: deliveries survive Close and Open (queued, failed,
// or in flight), one (endpoint, event) pair is delivered once however
// often it is enqueued, the log keeps its newest LogLen attempts per
// endpoint, and a file of another format is refused.

package webhook

import (
	"context"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	"go.etcd.io/bbolt"
)

func TestQueuedDeliverySurvivesRestart(t *testing.T) {
	rc := newReceiver(t, "ep1", status(http.StatusOK))
	cfg := testConfig(t)
	d, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	enqueue(t, d, rc.ep, event("evt_1"))
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if rc.count() != 0 {
		t.Fatal("delivered without Run")
	}

	d = openDispatcher(t, cfg)
	if n := pending(t, d); n != 1 {
		t.Fatalf("after reopening, %d pending, want 1", n)
	}
	run(t, d)
	log := waitFinal(t, d, rc.ep.ID)
	if len(log) != 1 || log[0].Outcome != Delivered || rc.count() != 1 {
		t.Errorf("log %+v, %d requests: want one delivery", log, rc.count())
	}
}

// TestInFlightAndFailedDeliveriesSurviveRestart stops the dispatcher
// while one attempt hangs and after another failed: after Open, both are
// delivered, the failure counted and the cut-short attempt not.
func TestInFlightAndFailedDeliveriesSurviveRestart(t *testing.T) {
	var up atomic.Bool
	hang := newReceiver(t, "hang", func(_ int, w http.ResponseWriter, r *http.Request) {
		if !up.Load() {
			<-r.Context().Done()
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	fail := newReceiver(t, "fail", func(_ int, w http.ResponseWriter, _ *http.Request) {
		if !up.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	cfg := testConfig(t)
	d, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	stop := run(t, d)
	enqueue(t, d, hang.ep, event("evt_1"))
	enqueue(t, d, fail.ep, event("evt_1"))
	waitFor(t, "the hanging attempt and the failed one", func() bool {
		return hang.count() == 1 && len(attempts(t, d, fail.ep.ID)) == 1
	})
	stop()
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}

	up.Store(true)
	d = openDispatcher(t, cfg)
	if n := pending(t, d); n != 2 {
		t.Fatalf("after reopening, %d pending, want 2", n)
	}
	failed := len(attempts(t, d, fail.ep.ID))
	run(t, d)
	waitFor(t, "both deliveries", func() bool { return pending(t, d) == 0 })

	hangLog := attempts(t, d, hang.ep.ID)
	if len(hangLog) != 1 || hangLog[0].Outcome != Delivered || hangLog[0].N != 1 || hang.count() != 2 {
		t.Errorf("hang: log %+v, %d requests: want the cut-short attempt uncounted, then delivered", hangLog, hang.count())
	}
	failLog := attempts(t, d, fail.ep.ID)
	if len(failLog) != failed+1 || failLog[0].Outcome != Delivered || failLog[0].N != failed+1 || failLog[1].Status != 503 {
		t.Errorf("fail: log %+v: want the %d failures kept across the restart, then attempt %d delivered", failLog, failed, failed+1)
	}
	for _, r := range append(hang.got(), fail.got()...) {
		if r.header.Get(HeaderID) != "evt_1" {
			t.Errorf("webhook-id %q, want evt_1 on every attempt", r.header.Get(HeaderID))
		}
	}
}

func TestEnqueueTwiceDeliversOnce(t *testing.T) {
	rc := newReceiver(t, "ep1", status(http.StatusOK))
	other := newReceiver(t, "ep2", status(http.StatusOK))
	moved := newReceiver(t, "ep1", status(http.StatusOK)) // ep1 re-registered elsewhere
	d := openDispatcher(t, testConfig(t))
	ev := event("evt_1")
	enqueue(t, d, rc.ep, ev)
	enqueue(t, d, rc.ep, ev)
	enqueue(t, d, moved.ep, ev)
	if n := pending(t, d); n != 1 {
		t.Fatalf("%d pending after enqueueing one pair three times, want 1", n)
	}
	enqueue(t, d, other.ep, ev)
	if n := pending(t, d); n != 2 {
		t.Fatalf("%d pending after enqueueing the event to a second endpoint, want 2", n)
	}
	run(t, d)
	waitFor(t, "both deliveries", func() bool { return pending(t, d) == 0 })
	enqueue(t, d, rc.ep, ev)
	if n := pending(t, d); n != 0 {
		t.Errorf("%d pending after enqueueing a delivered pair again, want 0", n)
	}
	if rc.count() != 1 || other.count() != 1 {
		t.Errorf("requests: %d and %d, want 1 each", rc.count(), other.count())
	}
	if moved.count() != 0 {
		t.Errorf("the pair went to the URL of a later Enqueue (%d requests): the first one's stays in force", moved.count())
	}
	if log := attempts(t, d, rc.ep.ID); len(log) != 1 {
		t.Errorf("log %+v, want one attempt", log)
	}
}

func TestLogKeepsNewestPerEndpoint(t *testing.T) {
	fails := func(n int, w http.ResponseWriter, _ *http.Request) {
		if n <= 4 {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusOK)
	}
	a := newReceiver(t, "a", fails)
	ab := newReceiver(t, "ab", status(http.StatusOK)) // shares a's id as prefix
	cfg := testConfig(t)
	cfg.LogLen = 3
	d := openDispatcher(t, cfg)
	run(t, d)
	enqueue(t, d, a.ep, event("evt_1"))
	enqueue(t, d, ab.ep, event("evt_1"))
	waitFor(t, "both deliveries", func() bool { return pending(t, d) == 0 })

	log := attempts(t, d, "a")
	if len(log) != 3 || log[0].N != 5 || log[1].N != 4 || log[2].N != 3 {
		t.Fatalf("log of a %+v, want attempts 5, 4, 3", log)
	}
	if two, _ := d.Log("a", 2); len(two) != 2 || two[0].N != 5 {
		t.Errorf("Log(a, 2) = %+v", two)
	}
	if log := attempts(t, d, "ab"); len(log) != 1 || log[0].EndpointID != "ab" {
		t.Errorf("log of ab %+v, want its one attempt only", log)
	}
	if log := attempts(t, d, "nobody"); len(log) != 0 {
		t.Errorf("log of an unknown endpoint: %+v", log)
	}
	var stored int
	_ = d.view(func(tx *bbolt.Tx) error {
		c := tx.Bucket(bucketLog).Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			if isLogKey(k, lp("a")) {
				stored++
			}
		}
		return nil
	})
	if stored != cfg.LogLen {
		t.Errorf("the file holds %d log entries of a, want LogLen = %d", stored, cfg.LogLen)
	}
}

func TestOpenRefusesOtherFormats(t *testing.T) {
	cfg := testConfig(t)
	db, err := bbolt.Open(cfg.Path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return err
		}
		return b.Put(keyFormat, []byte{99})
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(cfg); err == nil || !strings.Contains(err.Error(), "format 99") {
		t.Errorf("Open of a format-99 file: %v", err)
	}
}

func TestFileIsPrivate(t *testing.T) {
	cfg := testConfig(t)
	openDispatcher(t, cfg)
	if fi, err := os.Stat(cfg.Path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("file mode %v (%v), want 0600: it holds secrets", fi.Mode(), err)
	}
	if _, err := Open(cfg); err == nil || !strings.Contains(err.Error(), "locked") {
		t.Errorf("a second Open of a file in use: %v, want it refused as locked", err)
	}
}

func TestClosedAndRunningErrors(t *testing.T) {
	d, err := Open(testConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	run(t, d)
	waitFor(t, "Run to start", func() bool {
		d.mu.RLock()
		defer d.mu.RUnlock()
		return d.running
	})
	ended, cancel := context.WithCancel(t.Context())
	cancel() // so a second Run that wrongly starts returns at once
	if err := d.Run(ended); err != ErrRunning {
		t.Errorf("second Run: %v, want ErrRunning", err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	rc := newReceiver(t, "ep1", nil)
	if err := d.Enqueue(rc.ep, event("evt_1")); err == nil || !strings.Contains(err.Error(), ErrClosed.Error()) {
		t.Errorf("Enqueue after Close: %v", err)
	}
	if _, err := d.Pending(); err != ErrClosed {
		t.Errorf("Pending after Close: %v", err)
	}
	if err := d.Run(t.Context()); err != ErrClosed {
		t.Errorf("Run after Close: %v", err)
	}
}
