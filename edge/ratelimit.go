// Per-device rate limiting of update checks, channel_self and stats
// events (reference C11). Millions of devices must not cost a map entry each, so counts live
// in a fixed-size count-min sketch per time window: two rows of counters
// indexed by independent hashes of the device id, and a device's count is
// the smaller of its two cells. Collisions can only over-count, and only by
// what colliding devices sent, which stays far below any sane limit unless
// a colliding device is itself abusive.

package edge

import (
	"crypto/rand"
	"encoding/binary"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cespare/xxhash/v2"
)

// limiterCells is the number of counters per row for update checks (4 MiB
// per row).
const limiterCells = 1 << 20

// maxHotKeys bounds the keys one limiter reports to its region's peers
// per window. Past it, further keys are still counted here, only not
// shared: a flood of distinct ids degrades to per-edge limits rather
// than to unbounded gossip.
const maxHotKeys = 8192

type limiter struct {
	limit  uint32
	window time.Duration
	mix    [2]uint64 // per-process keys: cells cannot be predicted from ids
	cells  int
	cur    atomic.Pointer[limiterWindow]
	// spare is a zeroed window made in the background, swapped in when a
	// window ends: clearing 2 × 2^20 counters in place stalled the
	// request that started each window (and, on one core, every request
	// behind it) for milliseconds.
	spare atomic.Pointer[limiterWindow]

	// threshold is the local count at which a key starts being reported
	// to the region's peers (0: not shared); remote is what they report,
	// summed, for one window. See share.go.
	threshold atomic.Uint32
	remote    atomic.Pointer[remoteCounts]
}

// limiterWindow is one window's counts. Windows are aligned to the wall
// clock (number = Unix ns / window), so every edge of a region counts the
// same window and peers' reports can be added up.
type limiterWindow struct {
	id   int64
	rows [2][]atomic.Uint32

	hotMu sync.Mutex
	hot   map[uint64]struct{} // keys at or past threshold: reported
}

// remoteCounts is the sum of the region's peers' reported counts for
// window id, by key fingerprint. Immutable once published.
type remoteCounts struct {
	id     int64
	counts map[uint64]uint32
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
	var k [16]byte
	_, _ = rand.Read(k[:])
	l := &limiter{limit: uint32(perWindow), window: window, cells: cells,
		mix: [2]uint64{binary.LittleEndian.Uint64(k[:8]), binary.LittleEndian.Uint64(k[8:])}}
	w := newLimiterWindow(cells)
	w.id = time.Now().UnixNano() / int64(window) // else the first request renews it
	l.cur.Store(w)
	l.spare.Store(newLimiterWindow(cells))
	return l
}

// fingerprint names a key the same way on every edge, so peers' counts
// of one device add up. It is not keyed: finding another id with a
// victim's fingerprint needs the victim's id, with which an attacker
// could simply send the victim's requests.
func fingerprint(key string) uint64 { return xxhash.Sum64String(key) }

// cell is row i's counter index for fingerprint fp: a keyed mix, so an
// attacker cannot aim ids at one cell pair.
func (l *limiter) cell(fp uint64, i int) uint64 {
	x := fp ^ l.mix[i]
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	x ^= x >> 33
	return x % uint64(l.cells)
}

// allow counts one request of device at now and reports whether it is
// within the limit, and if not, the seconds until the window ends.
func (l *limiter) allow(device string, now time.Time) (bool, int) {
	return l.allowN(device, 1, now)
}

// allowN is allow for n events at once. The decision adds the region's
// peers' last reports for the key to this edge's own count.
func (l *limiter) allowN(device string, n int, now time.Time) (bool, int) {
	ns := now.UnixNano()
	id := ns / int64(l.window)
	w := l.cur.Load()
	if id > w.id {
		w = l.renew(w, id)
	}
	fp := fingerprint(device)
	local := ^uint32(0)
	for i := range w.rows {
		local = min(local, w.rows[i][l.cell(fp, i)].Add(uint32(n)))
	}
	total := local
	if r := l.remote.Load(); r != nil && r.id == w.id {
		total += r.counts[fp]
	}
	// Marked when the count crosses the threshold, and again each time
	// it passes a multiple of it: a key that crossed before this edge
	// learned its peers (or before the threshold fell as the region
	// grew) is still reported, for one lock per threshold's worth of
	// its requests.
	if th := l.threshold.Load(); th > 0 && local >= th && (local-uint32(n) < th || local/th != (local-uint32(n))/th) {
		w.markHot(fp)
	}
	if total <= l.limit {
		return true, 0
	}
	left := time.Duration((w.id+1)*int64(l.window) - ns).Seconds()
	return false, max(1, int(left+0.999))
}

// markHot adds fp to the keys this window reports, up to maxHotKeys.
func (w *limiterWindow) markHot(fp uint64) {
	w.hotMu.Lock()
	defer w.hotMu.Unlock()
	if w.hot == nil {
		w.hot = map[uint64]struct{}{}
	}
	if len(w.hot) < maxHotKeys {
		w.hot[fp] = struct{}{}
	}
}

// hotCounts returns the current window's number and this edge's own
// count of every reported key.
func (l *limiter) hotCounts(now time.Time) (int64, []keyCount) {
	w := l.cur.Load()
	if now.UnixNano()/int64(l.window) != w.id {
		return 0, nil // nothing counted yet in the current window
	}
	w.hotMu.Lock()
	out := make([]keyCount, 0, len(w.hot))
	for fp := range w.hot {
		out = append(out, keyCount{fp: fp})
	}
	w.hotMu.Unlock()
	for i := range out {
		c := ^uint32(0)
		for r := range w.rows {
			c = min(c, w.rows[r][l.cell(out[i].fp, r)].Load())
		}
		out[i].n = c
	}
	return w.id, out
}

// renew starts window id in place of old, and returns the current one.
// Requests racing with it may be counted in either window, which is fine
// for a limit.
func (l *limiter) renew(old *limiterWindow, id int64) *limiterWindow {
	nw := l.spare.Swap(nil)
	if nw == nil {
		// Two windows within the time it takes to make one: rare.
		nw = newLimiterWindow(l.cells)
	}
	nw.id = id
	if !l.cur.CompareAndSwap(old, nw) {
		l.spare.CompareAndSwap(nil, nw) // unused: still zero
		return l.cur.Load()
	}
	go func() { l.spare.CompareAndSwap(nil, newLimiterWindow(l.cells)) }() // made off the request's path
	return nw
}

// appCells is the per-app limiters' counters per row (16 KiB a row):
// apps are the catalog's, thousands at most, so cells rarely collide.
const appCells = 1 << 12
