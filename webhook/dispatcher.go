// The Dispatcher and its vocabulary (Endpoint, Event, Attempt): opening
// and closing its file, queueing deliveries, and reading the queue and
// the attempt log.

package webhook

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"go.etcd.io/bbolt"
)

// ErrBadEvent is wrapped by Enqueue's error for an endpoint or event that
// cannot be delivered as given (see Endpoint and Event for the rules).
var ErrBadEvent = errors.New("webhook: bad event")

// ErrClosed is returned by a Dispatcher used after Close.
var ErrClosed = errors.New("webhook: dispatcher closed")

// ErrRunning is returned by Run when another Run of the same Dispatcher
// has not returned yet: two loops would send the same delivery twice.
var ErrRunning = errors.New("webhook: dispatcher already running")

// Limits on what Enqueue accepts; see Endpoint and Event.
const (
	maxIDLen   = 128
	maxTypeLen = 128
	maxBody    = 1 << 20
)

// Endpoint is where a delivery goes, as registered by an operator.
type Endpoint struct {
	// ID names the endpoint in the queue and the log (1..128 bytes).
	ID string
	// URL receives the POST; it must pass CheckURL.
	URL string
	// Secret is the endpoint's signing secret, "whsec_" + base64(key),
	// as NewSecret makes.
	Secret string
}

// Event is one thing that happened, to be told to endpoints.
type Event struct {
	// ID is the webhook-id header: the same on every attempt, after a
	// restart and on every node that enqueues the event, so receivers
	// can deduplicate on it. Derive it from the event's origin (a raft
	// index, an idempotency key), never at random at enqueue time.
	// 1..128 characters of A-Z a-z 0-9 _ - (the spec forbids '.': the
	// signed string joins its parts with dots).
	ID string
	// Type is the full-stop delimited event type, "bundle.published":
	// identifiers of A-Z a-z 0-9 _ joined by dots, at most 128 bytes.
	Type string
	// At is when the event happened (the payload's "timestamp"); it must
	// be set, by the raft leader, so every node builds the same body.
	At time.Time
	// Data is the payload's "data", valid JSON; empty means {}. The body
	// is at most 1 MiB (the spec suggests keeping it under 20 KB).
	Data json.RawMessage
}

// Outcome is what an attempt left its delivery as.
type Outcome string

// The outcomes of an attempt.
const (
	// Retrying: the attempt failed; another is due at Attempt.Next.
	Retrying Outcome = "retrying"
	// Delivered: the endpoint answered 2xx; the delivery is finished.
	Delivered Outcome = "delivered"
	// GaveUp: the delivery is finished without success: the endpoint
	// answered 410 Gone, MaxAge passed, its address is not public, or it
	// was cancelled while the attempt was in flight.
	GaveUp Outcome = "gave up"
)

// Attempt is one try at one delivery, as kept in an endpoint's log.
type Attempt struct {
	EndpointID string
	EventID    string
	EventType  string
	// N is 1 for a delivery's first attempt, 2 for its first retry, ….
	N int
	// At is when the request started (its webhook-timestamp).
	At time.Time
	// Duration is how long the attempt took, reading the answer included.
	Duration time.Duration
	// Status is the HTTP status answered; 0 when none came back.
	Status int
	// Error says why the attempt failed ("HTTP 503 Service Unavailable",
	// a transport error, "MaxAge 24h0m0s passed"); empty when delivered.
	Error string
	// Response is the start of the answer's body (at most 256 bytes),
	// for the operator reading the log.
	Response string
	// Outcome is what the attempt left the delivery as.
	Outcome Outcome
	// Next is when the retry is due; zero unless Outcome is Retrying.
	Next time.Time
}

// Dispatcher queues deliveries on disk and, while Run runs, makes them.
// Its methods are safe for concurrent use.
type Dispatcher struct {
	cfg  Config
	db   *bbolt.DB
	kick chan struct{} // Enqueue → Run: something new may be due
	// jitter returns a number in [0, n): math/rand/v2's Int64N, which
	// tests replace to pin the backoff.
	jitter func(n int64) int64

	mu      sync.RWMutex // closed, and Close against everything else
	closed  bool
	stop    chan struct{} // closed by Close, ends Run
	running bool          // a Run has not returned
	runWG   sync.WaitGroup
}

// Open opens (or creates) the dispatcher's file at cfg.Path. What was
// queued before a restart is delivered by the next Run. A file another
// Dispatcher holds open fails after a second instead of waiting forever,
// and a file of another format is refused.
func Open(cfg Config) (*Dispatcher, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	db, err := bbolt.Open(cfg.Path, 0o600, &bbolt.Options{Timeout: time.Second})
	if errors.Is(err, bbolt.ErrTimeout) {
		return nil, fmt.Errorf("webhook: open %s: the file is locked, is another dispatcher (or process) using it? (%w)", cfg.Path, err)
	}
	if err != nil {
		return nil, fmt.Errorf("webhook: open %s: %w", cfg.Path, err)
	}
	if err := db.Update(initBuckets); err != nil {
		db.Close()
		return nil, fmt.Errorf("webhook: open %s: %w", cfg.Path, err)
	}
	return &Dispatcher{
		cfg: cfg, db: db, jitter: rand.Int64N,
		kick: make(chan struct{}, 1), stop: make(chan struct{}),
	}, nil
}

// Close ends a running Run (attempts in flight are abandoned and made
// again after the next Open), waits for it to return, and closes the
// file. Later calls return nil.
func (d *Dispatcher) Close() error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	close(d.stop)
	d.mu.Unlock()
	d.runWG.Wait()
	if tr, ok := d.cfg.Client.Transport.(*http.Transport); ok {
		tr.CloseIdleConnections()
	}
	return d.db.Close()
}

// view runs fn in a read transaction, unless the dispatcher is closed.
func (d *Dispatcher) view(fn func(*bbolt.Tx) error) error {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.closed {
		return ErrClosed
	}
	return d.db.View(fn)
}

// update runs fn in a write transaction (committed and fsynced when it
// returns nil), unless the dispatcher is closed.
func (d *Dispatcher) update(fn func(*bbolt.Tx) error) error {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.closed {
		return ErrClosed
	}
	return d.db.Update(fn)
}

// Enqueue durably queues one delivery of ev to ep and returns once it is
// on disk (fsynced). The body is built here, once, so every attempt sends
// the same bytes. A pair (ep.ID, ev.ID) that is already queued, or that
// finished within DedupWindow, is not queued again (nil is returned): the
// first Enqueue's URL and secret stay in force for it.
func (d *Dispatcher) Enqueue(ep Endpoint, ev Event) error {
	body, err := d.check(ep, ev)
	if err != nil {
		return err
	}
	now := d.cfg.Now()
	k := itemKey(ep.ID, ev.ID)
	err = d.update(func(tx *bbolt.Tx) error {
		if tx.Bucket(bucketItems).Get(k) != nil || tx.Bucket(bucketSeen).Get(k) != nil {
			return nil
		}
		return putItem(tx, &itemRecord{
			EndpointID: ep.ID, URL: ep.URL, Secret: ep.Secret,
			EventID: ev.ID, EventType: ev.Type, Body: body,
			Queued: now, Next: now,
		})
	})
	if err != nil {
		return fmt.Errorf("webhook: enqueue %s to %s: %w", ev.ID, ep.ID, err)
	}
	select {
	case d.kick <- struct{}{}:
	default:
	}
	return nil
}

// check validates ep and ev and returns the body to send.
func (d *Dispatcher) check(ep Endpoint, ev Event) ([]byte, error) {
	if ep.ID == "" || len(ep.ID) > maxIDLen {
		return nil, fmt.Errorf("%w: endpoint id %q must be 1..%d bytes", ErrBadEvent, ep.ID, maxIDLen)
	}
	if err := CheckURL(ep.URL, d.cfg.AllowHTTP); err != nil {
		return nil, fmt.Errorf("webhook: endpoint %s: %w", ep.ID, err)
	}
	if _, err := parseSecret(ep.Secret); err != nil {
		return nil, fmt.Errorf("webhook: endpoint %s: %w", ep.ID, err)
	}
	if err := checkEvent(ev); err != nil {
		return nil, err
	}
	return payload(ev)
}

// Pending returns how many deliveries are queued (not yet delivered or
// given up), in flight ones included.
func (d *Dispatcher) Pending() (int, error) {
	var n int
	err := d.view(func(tx *bbolt.Tx) error {
		n = tx.Bucket(bucketItems).Stats().KeyN
		return nil
	})
	return n, err
}

// Log returns the endpoint's newest attempts, newest first: at most limit
// of them, or all that are kept (Config.LogLen) when limit <= 0.
func (d *Dispatcher) Log(endpointID string, limit int) ([]Attempt, error) {
	if limit <= 0 || limit > d.cfg.LogLen {
		limit = d.cfg.LogLen
	}
	var out []Attempt
	err := d.view(func(tx *bbolt.Tx) error {
		var err error
		out, err = readLog(tx, endpointID, limit)
		return err
	})
	return out, err
}

// Cancel drops every delivery queued for the endpoint (deleted or
// disabled) and says how many it dropped. An attempt already in flight
// still completes, and is logged, but is not retried. Cancelled pairs are
// not remembered: Enqueue queues them again.
func (d *Dispatcher) Cancel(endpointID string) (int, error) {
	var n int
	err := d.update(func(tx *bbolt.Tx) error {
		prefix := lp(endpointID)
		var items []*itemRecord
		c := tx.Bucket(bucketItems).Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			if id, ok := keyEndpoint(k); !ok || id != endpointID {
				continue
			}
			it, err := getItem(tx, k)
			if err != nil {
				return err
			}
			items = append(items, it)
		}
		for _, it := range items {
			if err := dropItem(tx, it); err != nil {
				return err
			}
		}
		n = len(items)
		return nil
	})
	return n, err
}
