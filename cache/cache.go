// Package cache holds an edge's bundle and delta-file bytes in a ristretto
// cache whose cost is bytes, and collapses concurrent misses for one key
// into a single load.
//
// ristretto is asynchronous and lossy by design: a Set may not be visible
// at once, or may be dropped by admission. Callers must treat the cache as
// a hint; Wait makes pending Sets visible (for tests). Every Set is counted
// as accepted or dropped in Stats.
package cache

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/dgraph-io/ristretto/v2"
	"golang.org/x/sync/singleflight"
)

// Config configures a Cache.
type Config struct {
	// MaxBytes is the total cost budget in bytes. Default 256 MiB.
	MaxBytes int64
	// MaxItemBytes is the largest value cached; larger values are loaded
	// but not kept. Default MaxBytes/4.
	MaxItemBytes int64
}

// DefaultConfig returns a 256 MiB cache.
func DefaultConfig() Config { return Config{MaxBytes: 256 << 20} }

// LocalConfig returns a small cache for tests (16 MiB).
func LocalConfig() Config { return Config{MaxBytes: 16 << 20} }

// Validate reports a configuration that cannot work.
func (c Config) Validate() error {
	if c.MaxBytes <= 0 {
		return errors.New("cache: MaxBytes must be positive")
	}
	if c.MaxItemBytes < 0 {
		return errors.New("cache: MaxItemBytes must not be negative")
	}
	return nil
}

// Cache is a byte cache with singleflight loading. Values handed out are
// shared: callers must not modify them.
type Cache struct {
	rc      *ristretto.Cache[string, []byte]
	group   singleflight.Group
	maxItem int64

	hits, misses, loads, accepted, dropped atomic.Int64
}

// Stats are cumulative counters since New.
type Stats struct {
	Hits, Misses, Loads, SetsAccepted, SetsDropped int64
}

// New builds a Cache.
func New(cfg Config) (*Cache, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.MaxItemBytes == 0 {
		cfg.MaxItemBytes = cfg.MaxBytes / 4
	}
	// NumCounters ~10x the expected item count; bundles and files average
	// well above 1 KiB, so MaxBytes/1KiB*10 over-provisions comfortably.
	counters := max(cfg.MaxBytes/1024*10, 1000)
	rc, err := ristretto.NewCache(&ristretto.Config[string, []byte]{
		NumCounters: counters,
		MaxCost:     cfg.MaxBytes,
		BufferItems: 64,
	})
	if err != nil {
		return nil, fmt.Errorf("cache: %w", err)
	}
	return &Cache{rc: rc, maxItem: cfg.MaxItemBytes}, nil
}

// Get returns a cached value.
func (c *Cache) Get(key string) ([]byte, bool) {
	v, ok := c.rc.Get(key)
	if ok {
		c.hits.Add(1)
	} else {
		c.misses.Add(1)
	}
	return v, ok
}

// Set offers a value to the cache; it may be dropped.
func (c *Cache) Set(key string, v []byte) bool {
	if int64(len(v)) > c.maxItem {
		c.dropped.Add(1)
		return false
	}
	ok := c.rc.Set(key, v, int64(len(v)))
	if ok {
		c.accepted.Add(1)
	} else {
		c.dropped.Add(1)
	}
	return ok
}

// GetOrLoad returns the cached value for key, or calls load once for all
// concurrent callers that missed, caching its result. load runs with the
// first caller's context.
func (c *Cache) GetOrLoad(ctx context.Context, key string, load func(context.Context) ([]byte, error)) ([]byte, error) {
	if v, ok := c.Get(key); ok {
		return v, nil
	}
	v, err, _ := c.group.Do(key, func() (any, error) {
		// Another caller may have filled the cache between our miss and
		// entering the flight (groupcache's load re-check).
		if v, ok := c.rc.Get(key); ok {
			return v, nil
		}
		c.loads.Add(1)
		v, err := load(ctx)
		if err != nil {
			return nil, err
		}
		c.Set(key, v)
		return v, nil
	})
	if err != nil {
		return nil, err
	}
	return v.([]byte), nil
}

// Wait blocks until pending Sets are applied.
func (c *Cache) Wait() { c.rc.Wait() }

// Stats returns the counters.
func (c *Cache) Stats() Stats {
	return Stats{Hits: c.hits.Load(), Misses: c.misses.Load(), Loads: c.loads.Load(), SetsAccepted: c.accepted.Load(), SetsDropped: c.dropped.Load()}
}

// Close releases the cache's goroutines.
func (c *Cache) Close() { c.rc.Close() }
