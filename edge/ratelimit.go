// Per-device rate limiting of update checks and channel_self (reference
// C11). Millions of devices must not cost a map entry each, so counts live
// in a fixed-size count-min sketch per time window: two rows of counters
// indexed by independent hashes of the device id, and a device's count is
// the smaller of its two cells. Collisions can only over-count, and only by
// what colliding devices sent, which stays far below any sane limit unless
// a colliding device is itself abusive.

package edge

import (
	"hash/maphash"
	"sync/atomic"
	"time"
)

// limiterCells is the number of counters per row (4 MiB per row).
const limiterCells = 1 << 20

type limiter struct {
	limit  uint32
	window time.Duration
	seeds  [2]maphash.Seed
	rows   [2][]atomic.Uint32
	start  atomic.Int64 // current window's start, Unix ns
}

func newLimiter(perWindow int, window time.Duration) *limiter {
	l := &limiter{limit: uint32(perWindow), window: window, seeds: [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()}}
	for i := range l.rows {
		l.rows[i] = make([]atomic.Uint32, limiterCells)
	}
	return l
}

// allow counts one request of device at now and reports whether it is
// within the limit, and if not, the seconds until the window ends.
func (l *limiter) allow(device string, now time.Time) (bool, int) {
	start := l.start.Load()
	if ns := now.UnixNano(); ns-start >= int64(l.window) {
		// The first request of a new window clears it; requests racing
		// with the clear may be counted in either window, which is fine
		// for a limit.
		if l.start.CompareAndSwap(start, ns) {
			for i := range l.rows {
				for j := range l.rows[i] {
					l.rows[i][j].Store(0)
				}
			}
		}
		start = l.start.Load()
	}
	count := ^uint32(0)
	for i := range l.rows {
		h := maphash.String(l.seeds[i], device)
		count = min(count, l.rows[i][h%limiterCells].Add(1))
	}
	if count <= l.limit {
		return true, 0
	}
	left := time.Duration(start + int64(l.window) - now.UnixNano()).Seconds()
	return false, max(1, int(left+0.999))
}
