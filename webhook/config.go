// Configuration of a Dispatcher: its file, its retry policy and how hard
// it may push on endpoints, with the presets and the checks Open applies.

package webhook

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"
)

// Config configures a Dispatcher. Start from DefaultConfig (or
// LocalConfig in tests); Open refuses a Config that Validate refuses.
// Durations and counts left at zero are not filled in; the function and
// pointer fields (Client, Now, Logger, OnFinal) are, when nil.
type Config struct {
	// Path is the bbolt file holding the queue, the attempt log and the
	// finished-delivery markers; required. It holds endpoint secrets (a
	// queued delivery keeps the secret it was queued with), so it is
	// created 0600. One Dispatcher at a time may have it open (Open waits
	// a second for the file lock, then fails).
	Path string
	// MaxAge is how long after it was first queued a delivery is given
	// up on; the last retry is made at MaxAge at the latest. A delivery
	// found already past it (the node was down or not the leader that
	// long) is given up without being sent. Default 24h.
	MaxAge time.Duration
	// BaseBackoff is the wait after a first failed attempt; each further
	// failure doubles it, up to MaxBackoff. A wait is drawn between half
	// of that figure and all of it (jitter), so endpoints that failed
	// together are not all retried at once. Default 5s.
	BaseBackoff time.Duration
	// MaxBackoff caps the wait between two attempts, a Retry-After answer
	// included (an endpoint cannot park a delivery for a week). At least
	// BaseBackoff. Default 1h.
	MaxBackoff time.Duration
	// Timeout bounds one attempt: connecting, sending, and reading the
	// answer's headers and its first 64 KiB. It applies even when Client
	// has no timeout of its own. Default 10s (the spec suggests 15–30s
	// for receivers that do work before answering; ours should not).
	Timeout time.Duration
	// Concurrency is how many attempts may be in flight at once, across
	// all endpoints. Default 4.
	Concurrency int
	// PerEndpoint is how many of those may go to one endpoint at once.
	// Below Concurrency, one endpoint that hangs holds at most this many
	// slots for at most Timeout each, and the others keep flowing; it
	// also keeps a backlog from flooding a receiver that just came back.
	// 1..Concurrency. Default 1.
	PerEndpoint int
	// LogLen is how many attempts are kept per endpoint in the log (the
	// newest). 1..100000. Default 200.
	LogLen int
	// DedupWindow is how long a finished delivery (delivered or given up)
	// is remembered, so that Enqueue of the same (endpoint, event) pair in
	// that time queues nothing. Keep it longer than the span in which a
	// caller may replay events (see DESIGN.md on leader changes).
	// Default 7 days.
	DedupWindow time.Duration
	// AllowHTTP accepts plain http:// endpoint URLs. Only for tests and
	// local development: the payload would travel in clear. Default false.
	AllowHTTP bool
	// AllowPrivate lets the default Client connect to loopback, private,
	// link-local, shared (100.64/10) and unspecified addresses. Off, an
	// endpoint URL cannot be used to make the origin call services on its
	// own network (SSRF); the check is made on the address actually
	// dialled, after DNS. Not applied to a Client you supply. Default
	// false.
	AllowPrivate bool
	// Client sends the requests. nil: one with Timeout, no proxy, the
	// AllowPrivate check, and no redirects followed (a 3xx answer is a
	// failed attempt, as the spec asks: update the endpoint URL instead).
	// A Client you supply should not follow redirects either.
	Client *http.Client
	// Now is the clock: attempt times, webhook-timestamp, deadlines and
	// retry times all come from it. nil: time.Now. Waits between
	// attempts are real timers computed from it, rechecked at least once
	// a minute.
	Now func() time.Time
	// Logger receives the dispatcher's logs. nil: slog.Default().
	Logger *slog.Logger
	// OnFinal, when set, is called after each delivery ends (delivered or
	// given up) with its last attempt, once that is on disk: the place to
	// disable an endpoint that answered 410 Gone or to raise an alert.
	// It runs on a delivery slot, so it must return quickly.
	OnFinal func(Attempt)
	// OnAttempt, when set, is called after every attempt is on disk,
	// retried or final (metrics); it must return quickly too.
	OnAttempt func(Attempt)
}

// maxLogLen bounds LogLen: Log reads an endpoint's whole log at most.
const maxLogLen = 100000

// DefaultConfig returns the production settings for a dispatcher whose
// file is path.
func DefaultConfig(path string) Config {
	return Config{
		Path:        path,
		MaxAge:      24 * time.Hour,
		BaseBackoff: 5 * time.Second,
		MaxBackoff:  time.Hour,
		Timeout:     10 * time.Second,
		Concurrency: 4,
		PerEndpoint: 1,
		LogLen:      200,
		DedupWindow: 7 * 24 * time.Hour,
	}
}

// LocalConfig returns settings for tests and `aloft dev`: plain http and
// loopback endpoints allowed, retries within milliseconds, a delivery
// given up after a minute.
func LocalConfig(path string) Config {
	c := DefaultConfig(path)
	c.MaxAge = time.Minute
	c.BaseBackoff = 10 * time.Millisecond
	c.MaxBackoff = 2 * time.Second
	c.Timeout = 5 * time.Second
	c.AllowHTTP = true
	c.AllowPrivate = true
	return c
}

// Validate reports the first setting a Dispatcher cannot work with.
func (c Config) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("webhook: config: "+format, args...)
	}
	switch {
	case c.Path == "":
		return errors.New("webhook: config: Path is required")
	case c.MaxAge <= 0:
		return bad("MaxAge %v must be positive (DefaultConfig: 24h)", c.MaxAge)
	case c.BaseBackoff <= 0:
		return bad("BaseBackoff %v must be positive (DefaultConfig: 5s)", c.BaseBackoff)
	case c.MaxBackoff < c.BaseBackoff:
		return bad("MaxBackoff %v is shorter than BaseBackoff %v (DefaultConfig: 1h)", c.MaxBackoff, c.BaseBackoff)
	case c.Timeout <= 0:
		return bad("Timeout %v must be positive (DefaultConfig: 10s)", c.Timeout)
	case c.Concurrency <= 0:
		return bad("Concurrency %d must be positive (DefaultConfig: 4)", c.Concurrency)
	case c.PerEndpoint <= 0 || c.PerEndpoint > c.Concurrency:
		return bad("PerEndpoint %d must be in 1..Concurrency (%d) (DefaultConfig: 1)", c.PerEndpoint, c.Concurrency)
	case c.LogLen <= 0 || c.LogLen > maxLogLen:
		return bad("LogLen %d must be in 1..%d (DefaultConfig: 200)", c.LogLen, maxLogLen)
	case c.DedupWindow <= 0:
		return bad("DedupWindow %v must be positive (DefaultConfig: 7 days)", c.DedupWindow)
	}
	return nil
}

// withDefaults fills the nil function and pointer fields.
func (c Config) withDefaults() Config {
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Client == nil {
		c.Client = newClient(c.Timeout, c.AllowPrivate)
	}
	return c
}
