// Per-device rate limiting of update checks, channel_self and stats
// events (reference C11). Millions of devices must not cost a map entry each, so counts live
// in a fixed-size count-min sketch per time window: two rows of counters
// indexed by independent hashes of the device id, and a device's count is
// the smaller of its two cells. Collisions can only over-count, and only by
// what colliding devices sent, which stays far below any sane limit unless
// a colliding device is itself abusive.

package edge

import (
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"
)

// limiterCells is the number of counters per row for update checks (4 MiB
// per row).
const limiterCells = 1 << 20

type limiter struct {
	limit  uint32
	window time.Duration
	seeds  [2]maphash.Seed
	cells  int
	cur    atomic.Pointer[limiterWindow]
	// spare is a zeroed window made in the background, swapped in when a
	// window ends: clearing 2 × 2^20 counters in place stalled the
	// request that started each window (and, on one core, every request
	// behind it) for milliseconds.
	spare atomic.Pointer[limiterWindow]
}

// limiterWindow is one window's counts.
type limiterWindow struct {
	start int64 // Unix ns; set before the window is published
	rows  [2][]atomic.Uint32
}

func newLimiterWindow(cells int) *limiterWindow {
	w := &limiterWindow{}
	for i := range w.rows {
		w.rows[i] = make([]atomic.Uint32, cells)
	}
	return w
}

// newLimiter makes a limiter of perWindow per device with cells counters
// per row.
func newLimiter(perWindow int, window time.Duration, cells int) *limiter {
	l := &limiter{limit: uint32(perWindow), window: window, seeds: [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()}, cells: cells}
	l.cur.Store(newLimiterWindow(cells))
	l.spare.Store(newLimiterWindow(cells))
	return l
}

// allow counts one request of device at now and reports whether it is
// within the limit, and if not, the seconds until the window ends.
func (l *limiter) allow(device string, now time.Time) (bool, int) {
	return l.allowN(device, 1, now)
}

// allowN is allow for n events at once.
func (l *limiter) allowN(device string, n int, now time.Time) (bool, int) {
	w := l.cur.Load()
	if ns := now.UnixNano(); ns-w.start >= int64(l.window) {
		w = l.renew(w, ns)
	}
	count := ^uint32(0)
	cells := uint64(l.cells)
	for i := range w.rows {
		h := maphash.String(l.seeds[i], device)
		count = min(count, w.rows[i][h%cells].Add(uint32(n)))
	}
	if count <= l.limit {
		return true, 0
	}
	left := time.Duration(w.start + int64(l.window) - now.UnixNano()).Seconds()
	return false, max(1, int(left+0.999))
}

// renew starts a new window at ns in place of old, and returns the
// current one. Requests racing with it may be counted in either window,
// which is fine for a limit.
func (l *limiter) renew(old *limiterWindow, ns int64) *limiterWindow {
	nw := l.spare.Swap(nil)
	if nw == nil {
		// Two windows within the time it takes to make one: rare.
		nw = newLimiterWindow(l.cells)
	}
	nw.start = ns
	if !l.cur.CompareAndSwap(old, nw) {
		l.spare.CompareAndSwap(nil, nw) // unused: still zero
		return l.cur.Load()
	}
	go func() { l.spare.CompareAndSwap(nil, newLimiterWindow(l.cells)) }() // made off the request's path
	return nw
}

// appLimiter counts stats events per app in fixed windows. Apps are the
// catalog's (events of unknown apps are not counted), so a map stays small.
type appLimiter struct {
	limit  int64
	window time.Duration

	mu     sync.Mutex
	start  time.Time
	counts map[string]int64
}

func newAppLimiter(perWindow int, window time.Duration) *appLimiter {
	return &appLimiter{limit: int64(perWindow), window: window, counts: map[string]int64{}}
}

// allowN counts n events of app at now, like limiter.allowN. app must not
// alias a request body: it is kept as a map key.
func (l *appLimiter) allowN(app string, n int, now time.Time) (bool, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.start) >= l.window {
		l.start, l.counts = now, map[string]int64{}
	}
	l.counts[app] += int64(n)
	if l.counts[app] <= l.limit {
		return true, 0
	}
	left := l.start.Add(l.window).Sub(now).Seconds()
	return false, max(1, int(left+0.999))
}
