// The retry policy: exponential backoff with jitter, Retry-After, and
// the MaxAge deadline; and judging an attempt into its log entry.

package webhook

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// maxErrorLen bounds the error text kept per attempt.
const maxErrorLen = 1024

// backoff is the wait after the failures-th failed attempt (1 for the
// first): BaseBackoff doubled per further failure, capped at MaxBackoff,
// then drawn from [half, all] of that by jitter(n), which returns a
// number in [0, n).
func backoff(base, ceiling time.Duration, failures int, jitter func(int64) int64) time.Duration {
	d := base
	for i := 1; i < failures && d < ceiling; i++ {
		d *= 2
	}
	d = min(d, ceiling)
	half := d / 2
	return d - half + time.Duration(jitter(int64(half)+1))
}

// parseRetryAfter reads a Retry-After value: delay-seconds or an
// HTTP-date, as of now. A date in the past is a wait of 0.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n < 0 {
			return 0, false
		}
		// Past a year the figure only matters as "more than MaxBackoff";
		// capping it here keeps the multiplication from overflowing.
		return time.Duration(min(n, 366*24*3600)) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return max(0, t.Sub(now)), true
}

// nextAttempt returns when to retry a delivery queued at queued whose
// failures-th attempt failed at now, or why it is given up instead.
// A Retry-After (ra, when hasRA) is honoured up to MaxBackoff: the retry
// is never earlier than it asks unless it asks for more than MaxBackoff.
// The last retry is made at the deadline (queued + MaxAge) rather than
// not at all, unless Retry-After asks for a time past the deadline.
func (d *Dispatcher) nextAttempt(queued, now time.Time, failures int, ra time.Duration, hasRA bool) (time.Time, string, bool) {
	deadline := queued.Add(d.cfg.MaxAge)
	if !now.Before(deadline) {
		return time.Time{}, fmt.Sprintf("gave up: MaxAge %v has passed since it was queued", d.cfg.MaxAge), false
	}
	wait := backoff(d.cfg.BaseBackoff, d.cfg.MaxBackoff, failures, d.jitter)
	if hasRA {
		ra = min(ra, d.cfg.MaxBackoff)
		wait = max(wait, ra)
	}
	next := now.Add(wait)
	if next.After(deadline) {
		if hasRA && now.Add(ra).After(deadline) {
			return time.Time{}, fmt.Sprintf("gave up: Retry-After asks for %v, past MaxAge %v since it was queued", ra, d.cfg.MaxAge), false
		}
		next = deadline
	}
	return next, "", true
}

// judge turns attempt n at it, which found res and ended at end, into
// its log entry, deciding the outcome and the next attempt's time.
func (d *Dispatcher) judge(it *itemRecord, n int, res result, end time.Time) Attempt {
	att := Attempt{
		EndpointID: it.EndpointID, EventID: it.EventID, EventType: it.EventType,
		N: n, At: res.at, Duration: res.dur, Status: res.status, Response: res.response,
	}
	delivered, final, reason := res.verdict()
	att.Error = truncate(reason, maxErrorLen)
	switch {
	case delivered:
		att.Outcome = Delivered
	case final:
		att.Outcome = GaveUp
	default:
		ra, hasRA := parseRetryAfter(res.retryAfter, end)
		next, why, ok := d.nextAttempt(it.Queued, end, n, ra, hasRA)
		if !ok {
			att.Outcome = GaveUp
			att.Error = truncate(reason+"; "+why, maxErrorLen)
			break
		}
		att.Outcome, att.Next = Retrying, next
	}
	return att
}
