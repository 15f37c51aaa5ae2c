// Per-token request limits on the operator API: a token bucket per token,
// held by each node for the requests it receives first. A leaked or
// runaway script's token is slowed to its budget without touching the
// other tokens; 429 says when to come back. Edge tokens are not limited:
// every edge of a deployment may share one, and their sync requests are
// bounded by the long-poll already.

package origin

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/aloft/aloft/origin/api"
)

// ErrRateLimited is a request over its token's budget.
var ErrRateLimited = errors.New("origin: too many requests")

// maxBuckets bounds the buckets a node keeps: tokens are few, but a
// deployment that makes and revokes many over months should not grow
// without end. Past it, full (idle) buckets are dropped.
const maxBuckets = 10000

// tokenBuckets is every token's bucket on this node.
type tokenBuckets struct {
	rate  float64 // tokens per second
	burst float64

	mu sync.Mutex
	b  map[string]*bucket // by token hash
}

type bucket struct {
	level float64
	at    time.Time
}

// newTokenBuckets allows perMinute requests a minute per token with bursts
// of a sixth of that (ten seconds' worth); nil when perMinute is 0.
func newTokenBuckets(perMinute int) *tokenBuckets {
	if perMinute <= 0 {
		return nil
	}
	return &tokenBuckets{rate: float64(perMinute) / 60, burst: math.Max(1, float64(perMinute)/6), b: map[string]*bucket{}}
}

// take spends one request of token at now, or reports how long until one
// is available.
func (tb *tokenBuckets) take(token string, now time.Time) (bool, time.Duration) {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	b := tb.b[token]
	if b == nil {
		if len(tb.b) >= maxBuckets {
			tb.dropFullLocked(now)
		}
		b = &bucket{level: tb.burst, at: now}
		tb.b[token] = b
	}
	b.level = math.Min(tb.burst, b.level+now.Sub(b.at).Seconds()*tb.rate)
	b.at = now
	if b.level >= 1 {
		b.level--
		return true, 0
	}
	return false, time.Duration((1 - b.level) / tb.rate * float64(time.Second))
}

// dropFullLocked forgets buckets that have refilled: a new bucket starts
// full, so nothing is lost.
func (tb *tokenBuckets) dropFullLocked(now time.Time) {
	for k, b := range tb.b {
		if b.level+now.Sub(b.at).Seconds()*tb.rate >= tb.burst {
			delete(tb.b, k)
		}
	}
}

// limitToken refuses c's request when its token is over budget, with
// Retry-After and X-RateLimit-Reset set on w.
func (hs *httpAPI) limitToken(w http.ResponseWriter, c caller) error {
	if hs.apiLimit == nil || c.Role == api.RoleEdge {
		return nil
	}
	ok, wait := hs.apiLimit.take(c.hash, time.Now())
	if ok {
		return nil
	}
	secs := int(math.Ceil(wait.Seconds()))
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	w.Header().Set("X-RateLimit-Reset", strconv.FormatInt(time.Now().Add(wait).Unix()+1, 10))
	return fmt.Errorf("%w: token %q is over its %.0f requests a minute on this node; retry in %d s", ErrRateLimited, c.Name, hs.apiLimit.rate*60, secs)
}
