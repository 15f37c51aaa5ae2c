// Shared test helpers: dispatchers on real bbolt files under t.TempDir(),
// a Run that stops at cleanup, and receivers on loopback that record what
// they were sent.

package webhook

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/aloft/aloft/internal/wait"
)

// patience bounds every wait for a condition; conditions normally hold
// within milliseconds.
const patience = 10 * time.Second

// testConfig is LocalConfig on a fresh file, logging to the test's
// output (shown when it fails, or with -v).
func testConfig(t *testing.T) Config {
	c := LocalConfig(filepath.Join(t.TempDir(), "webhook.db"))
	c.Logger = slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
	return c
}

// openDispatcher opens cfg, closed at cleanup.
func openDispatcher(t *testing.T, cfg Config) *Dispatcher {
	t.Helper()
	d, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// run starts d.Run and returns the function that stops it and waits for
// it to return; cleanup calls it too (before the dispatcher's Close).
func run(t *testing.T, d *Dispatcher) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// received is one request a receiver got.
type received struct {
	at     time.Time
	header http.Header
	body   []byte
}

// receiver is an endpoint on loopback. handle answers the n-th request
// (1-based); it runs after the request is recorded.
type receiver struct {
	srv    *httptest.Server
	ep     Endpoint
	mu     sync.Mutex
	reqs   []received
	handle func(n int, w http.ResponseWriter, r *http.Request)
}

// newReceiver starts a receiver named id with a fresh secret.
func newReceiver(t *testing.T, id string, handle func(n int, w http.ResponseWriter, r *http.Request)) *receiver {
	t.Helper()
	rc := &receiver{handle: handle}
	rc.srv = httptest.NewServer(http.HandlerFunc(rc.serve))
	t.Cleanup(rc.srv.Close)
	secret, err := NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	rc.ep = Endpoint{ID: id, URL: rc.srv.URL + "/hooks/aloft", Secret: secret}
	return rc
}

func (rc *receiver) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	rc.reqs = append(rc.reqs, received{at: time.Now(), header: r.Header.Clone(), body: body})
	n := len(rc.reqs)
	rc.mu.Unlock()
	if rc.handle != nil {
		rc.handle(n, w, r)
	}
}

// got returns a copy of the requests so far.
func (rc *receiver) got() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.reqs...)
}

func (rc *receiver) count() int { return len(rc.got()) }

// status answers every request with code.
func status(code int) func(int, http.ResponseWriter, *http.Request) {
	return func(_ int, w http.ResponseWriter, _ *http.Request) { w.WriteHeader(code) }
}

// event is a valid event with id.
func event(id string) Event {
	return Event{
		ID:   id,
		Type: "bundle.published",
		At:   time.Date(2025, 1, 2, 3, 4, 5, 600, time.UTC),
		Data: json.RawMessage(`{ "app": "com.example.app", "version": "1.2.3" }`),
	}
}

func enqueue(t *testing.T, d *Dispatcher, ep Endpoint, ev Event) {
	t.Helper()
	if err := d.Enqueue(ep, ev); err != nil {
		t.Fatal(err)
	}
}

func pending(t *testing.T, d *Dispatcher) int {
	t.Helper()
	n, err := d.Pending()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func attempts(t *testing.T, d *Dispatcher, endpointID string) []Attempt {
	t.Helper()
	log, err := d.Log(endpointID, 0)
	if err != nil {
		t.Fatal(err)
	}
	return log
}

// waitFinal waits until the endpoint's newest attempt ended its delivery
// (delivered or given up) and nothing is queued, and returns the log.
func waitFinal(t *testing.T, d *Dispatcher, endpointID string) []Attempt {
	t.Helper()
	var log []Attempt
	wait.For(t, patience, "the delivery to "+endpointID+" to end", func() bool {
		log = attempts(t, d, endpointID)
		return len(log) > 0 && log[0].Outcome != Retrying && pending(t, d) == 0
	})
	return log
}

// waitFor waits (up to patience) until cond holds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	wait.For(t, patience, what, cond)
}
