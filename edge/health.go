// Health: what the edge tells load balancers and GeoDNS (/readyz: may it
// take devices?) and operators (/healthz: which state it serves, how old,
// until when, and whether it hears from the origin).

package edge

import (
	"encoding/json"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
)

// linkState is the state of the edge's sync link to the origin.
type linkState struct {
	mu      sync.Mutex
	ok      bool
	since   time.Time // when it went up or down
	lastErr string
}

func (l *linkState) up() {
	l.mu.Lock()
	if !l.ok {
		l.ok, l.since, l.lastErr = true, time.Now(), ""
	}
	l.mu.Unlock()
}

// connected reports the link up.
func (l *linkState) connected() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ok
}

func (l *linkState) down(err error) {
	l.mu.Lock()
	if l.ok || l.since.IsZero() {
		l.ok, l.since = false, time.Now()
	}
	l.lastErr = err.Error()
	l.mu.Unlock()
}

// Ready reports whether the edge may take devices: it holds a catalog,
// its signature has not expired, it is not draining, and its device port
// is not overloaded.
func (n *Node) Ready() bool { return n.unready(time.Now()) == "" }

// unready names why the edge may not take devices ("" when it may), in
// the order an operator should read it.
func (n *Node) unready(now time.Time) string {
	v := n.view.Load()
	switch {
	case v.index == 0:
		return "starting"
	case v.stale(now):
		return "expired"
	case n.draining.Load():
		return "draining"
	case n.overloaded():
		return "overloaded"
	}
	return ""
}

// Drain makes /readyz fail from now on, while the edge goes on serving
// every request, so health checks and GeoDNS steer devices elsewhere
// before it stops. It cannot be undone: a drained edge is about to exit.
func (n *Node) Drain() { n.draining.Store(true) }

// overloaded reports a device port whose busy connections (open, not
// idle) reach nine tenths of its cap, where the guard starts evicting and
// then shedding. Idle keep-alives do not count: they are closed first
// when room is needed. Shed connections do not count either: one address
// over its own per-IP cap must not take the whole edge out of DNS.
func (n *Node) overloaded() bool {
	s := n.ln.Stats()
	return (s.Open-s.Idle)*10 >= n.ln.cfg.MaxConns*9
}

// stale reports a signed state past its expiry.
func (v *view) stale(now time.Time) bool { return !v.expires.IsZero() && !now.Before(v.expires) }

func (n *Node) handleReady(ctx *fasthttp.RequestCtx) {
	switch n.unready(time.Now()) {
	case "starting":
		writeRaw(ctx, fasthttp.StatusServiceUnavailable, `{"status":"starting","message":"no catalog from the origin yet"}`)
	case "expired":
		writeRaw(ctx, fasthttp.StatusServiceUnavailable, `{"status":"expired","message":"the catalog's signature expired without a fresher one from the origin"}`)
	case "draining":
		writeRaw(ctx, fasthttp.StatusServiceUnavailable, `{"status":"draining","message":"the edge is shutting down; it serves until it stops"}`)
	case "overloaded":
		writeRaw(ctx, fasthttp.StatusServiceUnavailable, `{"status":"overloaded","message":"the device port's connections are near their cap"}`)
	default:
		writeRaw(ctx, fasthttp.StatusOK, `{"status":"ready"}`)
	}
}

// health is the /healthz answer.
type health struct {
	Status  string `json:"status"`
	Index   uint64 `json:"index"`
	Region  string `json:"region,omitempty"`
	Expires string `json:"expires,omitempty"`
	// AgeSeconds is how long ago the edge verified its newest signature
	// (a re-signed state of the same index counts as fresh).
	AgeSeconds float64 `json:"age_seconds"`
	Origin     struct {
		Connected bool    `json:"connected"`
		ForSecs   float64 `json:"for_seconds"`
		LastError string  `json:"last_error,omitempty"`
	} `json:"origin"`
}

func (n *Node) handleHealth(ctx *fasthttp.RequestCtx) {
	now := time.Now()
	v := n.view.Load()
	h := health{Status: "ok", Index: v.index, Region: n.cfg.Region}
	switch {
	case v.index == 0:
		h.Status = "starting"
	case v.stale(now):
		h.Status = "expired"
	}
	if !v.expires.IsZero() {
		h.Expires = v.expires.UTC().Format(time.RFC3339)
		n.mu.Lock()
		h.AgeSeconds = now.Sub(n.stateAt).Seconds()
		n.mu.Unlock()
	}
	n.link.mu.Lock()
	h.Origin.Connected, h.Origin.LastError = n.link.ok, n.link.lastErr
	if !n.link.since.IsZero() {
		h.Origin.ForSecs = now.Sub(n.link.since).Seconds()
	}
	n.link.mu.Unlock()
	b, _ := json.Marshal(h)
	status := fasthttp.StatusOK
	if h.Status != "ok" {
		status = fasthttp.StatusServiceUnavailable
	}
	ctx.SetContentType("application/json")
	ctx.SetStatusCode(status)
	ctx.SetBody(b)
}
