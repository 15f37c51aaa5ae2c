// Package cache holds an edge's bundle and delta-file bytes, content
// addressed by lowercase hex SHA-256, in a ristretto cache whose cost is
// bytes, and fills misses from an ordered list of Sources (the region's
// owner edge, then the origin or blob store).
//
// Every object is verified against its SHA-256 and exact catalog length
// before it is cached or handed out; concurrent misses for one object
// collapse into one fill, detached from any one caller; fetches are bounded
// by a semaphore, a first-byte deadline, a throughput floor and an overall
// deadline, so an unreachable or stalled origin yields a fast error
// (ErrUnavailable), never a hang. Objects larger than MaxItemBytes are not
// cached: Stream hands them out through Verify, which withholds the last
// byte until the hash is proven. DESIGN.md beside this file has the why.
//
// ristretto is asynchronous and lossy by design: a Set may be dropped or
// refused by admission. Admissions are therefore read from ristretto's own
// metrics, never from Set's return value, and the cache is only ever a
// hint: nothing that must not be lost (the catalog) belongs in it.
package cache

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/dgraph-io/ristretto/v2"
	"golang.org/x/sync/singleflight"
)

// Cache is a verified, bounded byte cache with singleflight fills. The
// []byte values it hands out are shared with the cache and other callers:
// they must never be modified. Its methods are safe for concurrent use.
type Cache struct {
	cfg Config
	// rc holds what this cache fills from sources that do not lend (the
	// objects a region's ring makes it the owner of, or every object of
	// an edge alone); lentRC the copies it keeps of what owners lent it.
	// Two budgets, because in one a copy of a hot object evicted objects
	// the edge owns (TinyLFU favours the copies: every edge asks for
	// them), and each eviction became one more origin fetch for the
	// region: 21 per object where the region's caches could hold the
	// whole working set.
	// lentRC is nil when LentBytes is negative (nothing lent is kept).
	rc, lentRC *ristretto.Cache[string, []byte]
	group      singleflight.Group
	// slots is the fetch semaphore: one token per fetch reading from a
	// source, MaxFetches in all.
	slots chan struct{}

	hits, misses, loads, streams, busy, failures, offered atomic.Int64
	// lent counts fills from a Lender, lentNotKept those served and not kept.
	lent, lentNotKept atomic.Int64

	mu      sync.Mutex
	sources map[string]*sourceCounters

	// life orders stores against Close: a fill that outlives its caller
	// (a pre-fetch, a device that hung up) may end after Close, and
	// ristretto must not be handed a Set while it closes.
	life   sync.RWMutex
	closed bool

	// testHookMiss, when set, runs after a lookup missed and before the
	// caller joins a flight: tests use it to hold callers in the window
	// the re-check inside the flight exists for.
	testHookMiss func()
}

// New builds a Cache; zero Config fields take their defaults.
func New(cfg Config) (*Cache, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	rc, err := newRistretto(cfg.MaxBytes - max(cfg.LentBytes, 0))
	if err != nil {
		return nil, err
	}
	var lentRC *ristretto.Cache[string, []byte]
	if cfg.LentBytes > 0 {
		if lentRC, err = newRistretto(cfg.LentBytes); err != nil {
			rc.Close()
			return nil, err
		}
	}
	return &Cache{
		cfg:     cfg,
		rc:      rc,
		lentRC:  lentRC,
		slots:   make(chan struct{}, cfg.MaxFetches),
		sources: map[string]*sourceCounters{},
	}, nil
}

// newRistretto builds one byte-costed ristretto of maxCost bytes.
func newRistretto(maxCost int64) (*ristretto.Cache[string, []byte], error) {
	// NumCounters ~10x the expected item count; bundles and files average
	// well above 1 KiB, so maxCost/1KiB*10 over-provisions comfortably.
	rc, err := ristretto.NewCache(&ristretto.Config[string, []byte]{
		NumCounters: max(maxCost/1024*10, 1000),
		MaxCost:     maxCost,
		BufferItems: 64,
		// Metrics are how admissions are counted (see Stats); their cost
		// is a few sharded atomic adds per operation.
		Metrics: true,
		// Cost is exactly the object's bytes, so MaxBytes means bytes.
		IgnoreInternalCost: true,
	})
	if err != nil {
		return nil, fmt.Errorf("cache: %w", err)
	}
	return rc, nil
}

// lookup finds key in either budget.
func (c *Cache) lookup(key string) ([]byte, bool) {
	if b, ok := c.rc.Get(key); ok {
		return b, true
	}
	if c.lentRC == nil {
		return nil, false
	}
	return c.lentRC.Get(key)
}

// tiers lists the ristretto instances in use.
func (c *Cache) tiers() []*ristretto.Cache[string, []byte] {
	if c.lentRC == nil {
		return []*ristretto.Cache[string, []byte]{c.rc}
	}
	return []*ristretto.Cache[string, []byte]{c.rc, c.lentRC}
}

// Get returns the verified bytes of object sha (size bytes long, as the
// catalog records), from memory or else filled from srcs, tried in order.
// Concurrent callers for one object share one fill, which runs detached
// from their contexts (bounded by FetchTimeout) with the srcs of the caller
// that started it; a caller whose ctx ends gets ctx.Err() at once while the
// fill goes on for the others and for the cache.
//
// Errors: ctx.Err() as is; ErrTooLarge when size exceeds MaxItemBytes (use
// Stream); ErrBusy when no fetch slot freed within BusyWait; a *FetchError
// when no source delivered the object. ErrBusy, and a FetchError that a
// retry may cure, match ErrUnavailable: answer those with 503 and
// Retry-After, the rest (corrupt or missing everywhere) with 502.
func (c *Cache) Get(ctx context.Context, sha string, size int64, srcs []Source) ([]byte, error) {
	if !c.Cacheable(size) {
		return nil, fmt.Errorf("%w: %s is %d bytes", ErrTooLarge, sha, size)
	}
	if b, ok := c.lookup(sha); ok {
		c.hits.Add(1)
		return b, nil
	}
	c.misses.Add(1)
	if err := checkKey(sha, size); err != nil {
		return nil, err
	}
	if c.testHookMiss != nil {
		c.testHookMiss()
	}
	return c.do(ctx, sha, func(fctx context.Context) ([]byte, error) {
		return c.fill(fctx, sha, size, srcs, false)
	})
}

// Cacheable reports whether an object of size bytes is held in memory
// (Get, Prefetch) rather than streamed (Stream): size <= MaxItemBytes.
func (c *Cache) Cacheable(size int64) bool { return size <= c.cfg.MaxItemBytes }

// Has reports whether object sha is in memory now. ristretto counts the
// lookup as an access, as it does for Get.
func (c *Cache) Has(sha string) bool {
	_, ok := c.lookup(sha)
	return ok
}

// Prefetch fills object sha from srcs unless it is already cached (and
// keeps it even when a Lender delivered it: a new release is about to be
// every edge's hottest object), through
// the same flight as Get (a publish-time pre-push and a device's first
// download of the same bundle share one fetch). It returns once the fill
// ended or ctx did; ristretto may still decline to keep the object (see
// Stats.Rejected). Objects larger than MaxItemBytes get ErrTooLarge.
func (c *Cache) Prefetch(ctx context.Context, sha string, size int64, srcs []Source) error {
	if !c.Cacheable(size) {
		return fmt.Errorf("%w: %s is %d bytes", ErrTooLarge, sha, size)
	}
	if c.Has(sha) {
		return nil
	}
	if err := checkKey(sha, size); err != nil {
		return err
	}
	_, err := c.do(ctx, sha, func(fctx context.Context) ([]byte, error) {
		return c.fill(fctx, sha, size, srcs, true) // a release about to be asked for everywhere: kept
	})
	return err
}

// GetOrLoad returns the cached value for key, or calls load once for all
// concurrent callers that missed and caches its result. It is the API the
// edge used before Sources existed and is kept until the edge moves to Get:
// load runs detached from ctx (bounded by FetchTimeout), outside the fetch
// semaphore, and its bytes are not verified here. As before, the caller
// waits for the load whatever ctx does: ctx.Done is never called, which a
// *fasthttp.RequestCtx built without a server (as in the edge's tests)
// would answer with a panic.
func (c *Cache) GetOrLoad(ctx context.Context, key string, load func(context.Context) ([]byte, error)) ([]byte, error) {
	if b, ok := c.lookup(key); ok {
		c.hits.Add(1)
		return b, nil
	}
	c.misses.Add(1)
	return c.do(context.WithoutCancel(ctx), key, func(fctx context.Context) ([]byte, error) {
		c.loads.Add(1)
		return load(fctx)
	})
}

// do runs fill once for all concurrent callers of key and caches its
// result. The cache is looked up again inside the flight (groupcache's
// re-check): a caller that missed just before the previous flight for key
// ended would otherwise start a second fetch of an object now in memory.
func (c *Cache) do(ctx context.Context, key string, fill func(context.Context) ([]byte, error)) ([]byte, error) {
	ch := c.group.DoChan(key, func() (any, error) {
		if b, ok := c.lookup(key); ok {
			return b, nil
		}
		// Detached: a device that hangs up must not fail the fill for
		// everyone else waiting on it. WithoutCancel keeps ctx's values.
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.cfg.FetchTimeout)
		defer cancel()
		b, err := fill(fctx)
		switch err {
		case nil:
			c.store(c.rc, key, b)
		case errLentKept:
			c.store(c.lentRC, key, b)
		case errLent:
			// served to everyone waiting, not kept
		default:
			return nil, err
		}
		return b, nil
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return nil, r.Err
		}
		return r.Val.([]byte), nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// store offers b to ristretto and waits until ristretto has decided, so
// that when the flight ends an admitted object is visible to the next
// lookup (ristretto applies Sets asynchronously). Whether it was admitted
// is left to ristretto's metrics: Set's true only means "buffered".
func (c *Cache) store(rc *ristretto.Cache[string, []byte], key string, b []byte) {
	if int64(len(b)) > c.cfg.MaxItemBytes {
		return
	}
	c.life.RLock()
	defer c.life.RUnlock()
	if c.closed {
		return
	}
	c.offered.Add(1)
	rc.Set(key, b, int64(len(b)))
	rc.Wait()
}

// Wait blocks until pending Sets are applied (for tests; fills already
// wait for their own Set).
func (c *Cache) Wait() {
	c.life.RLock()
	defer c.life.RUnlock()
	if !c.closed {
		for _, rc := range c.tiers() {
			rc.Wait()
		}
	}
}

// Close releases the cache's goroutines. Fills still running finish
// without caching.
func (c *Cache) Close() {
	c.life.Lock()
	defer c.life.Unlock()
	if !c.closed {
		c.closed = true
		for _, rc := range c.tiers() {
			rc.Close()
		}
	}
}
