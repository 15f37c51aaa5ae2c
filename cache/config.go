// Configuration of a Cache: memory budget, fetch bounds and their presets.

package cache

import (
	"errors"
	"time"
)

// Config configures a Cache. A zero field takes its default (see
// DefaultConfig); a negative one is invalid.
type Config struct {
	// MaxBytes is the cost budget of cached objects, in bytes of object
	// data (ristretto's own per-item overhead is not counted). Default
	// 256 MiB.
	MaxBytes int64
	// MaxItemBytes is the largest object held in memory. Larger objects
	// are never cached: Stream hands them to the caller through a
	// verifying reader. At most MaxBytes. Default MaxBytes/4.
	MaxItemBytes int64
	// MaxFetches bounds fetches reading from sources at once (fills and
	// streams together). A fill buffers its whole object, so memory beyond
	// the cache is bounded by MaxFetches × MaxItemBytes. Default 16.
	MaxFetches int
	// BusyWait is how long a fetch waits for one of the MaxFetches slots
	// before failing with ErrBusy: under overload a device gets a quick
	// 503 rather than a queue. Default 1s.
	BusyWait time.Duration
	// FirstByteTimeout bounds one source's Fetch call plus its first byte.
	// It is what turns an origin that accepts connections but never
	// answers into a fast fallback or ErrUnavailable. Default 2s.
	FirstByteTimeout time.Duration
	// MinBytesPerSec is the slowest a source may deliver, averaged over
	// ThroughputWindow of waiting on it; a slower source is cut and the
	// next one tried. Only time spent waiting on the source counts, so a
	// slow reader of a Stream never gets a healthy source cut. Default
	// 64 KiB/s.
	MinBytesPerSec int64
	// ThroughputWindow is the stretch MinBytesPerSec is averaged over,
	// and so about how long a source that stops sending mid-object is
	// waited for. Default 5s.
	ThroughputWindow time.Duration
	// FetchTimeout bounds one whole fill, across all its sources. Size it
	// with MaxItemBytes: MaxItemBytes/FetchTimeout is the slowest
	// complete fill allowed. Streams are not bounded by it (their length
	// is set by the device's pace), only by the throughput floor and
	// their caller's context. Default 60s.
	FetchTimeout time.Duration
	// KeepLentEvery keeps one fill in KeepLentEvery from a Lender source
	// (a region's owner edge, which holds the object itself); the others
	// are served and not kept. A copy of every object an edge reads from
	// its owner filled each cache with the region's hot objects three
	// times over, so the region held a third of what it could; objects
	// asked for often still come to live near their readers (groupcache's
	// hot cache keeps one in ten). 1 keeps every fill. Default 4.
	KeepLentEvery int
	// LentBytes is the part of MaxBytes that holds the copies kept of
	// what a Lender delivered; the objects filled from other sources
	// (those a region's ring gives this edge) get the rest, so copies of
	// the region's hot objects never evict what only this edge holds.
	// Objects larger than it are served from their owner and not
	// copied. At most MaxBytes − MaxItemBytes; default MaxBytes/8
	// (groupcache's hot cache has the same share), or less where the
	// largest object needs the room; negative: nothing lent is kept, and
	// all of MaxBytes is for this cache's own fills (an edge alone).
	LentBytes int64
}

// DefaultConfig returns production defaults: a 256 MiB cache. MaxItemBytes
// is left 0 (a quarter of MaxBytes) so that changing MaxBytes alone stays valid.
func DefaultConfig() Config {
	return Config{
		MaxBytes:         256 << 20,
		MaxFetches:       16,
		BusyWait:         time.Second,
		FirstByteTimeout: 2 * time.Second,
		MinBytesPerSec:   64 << 10,
		ThroughputWindow: 5 * time.Second,
		FetchTimeout:     time.Minute,
		KeepLentEvery:    4,
	}
}

// LocalConfig returns a test preset: a 16 MiB cache and short timers,
// still long enough not to cut a loopback source on a loaded machine.
func LocalConfig() Config {
	return Config{
		MaxBytes:         16 << 20,
		MaxFetches:       8,
		BusyWait:         500 * time.Millisecond,
		FirstByteTimeout: time.Second,
		MinBytesPerSec:   16 << 10,
		ThroughputWindow: time.Second,
		FetchTimeout:     10 * time.Second,
	}
}

// Validate reports a configuration that cannot work.
func (c Config) Validate() error {
	switch {
	case c.MaxBytes <= 0:
		return errors.New("cache: MaxBytes must be positive")
	case c.MaxItemBytes < 0:
		return errors.New("cache: MaxItemBytes must not be negative")
	case c.MaxItemBytes > c.MaxBytes:
		// ristretto refuses an item costlier than the whole cache without
		// counting it anywhere; keep such objects on the streaming path.
		return errors.New("cache: MaxItemBytes must not exceed MaxBytes")
	case c.MaxFetches < 0:
		return errors.New("cache: MaxFetches must not be negative")
	case c.KeepLentEvery < 0:
		return errors.New("cache: KeepLentEvery must not be negative")
	case c.LentBytes > 0 && c.LentBytes > c.MaxBytes-c.withDefaults().MaxItemBytes:
		// The rest must still hold the largest object.
		return errors.New("cache: LentBytes must leave MaxItemBytes of MaxBytes for the cache's own fills")
	case c.BusyWait < 0, c.FirstByteTimeout < 0, c.ThroughputWindow < 0, c.FetchTimeout < 0:
		return errors.New("cache: durations must not be negative")
	case c.MinBytesPerSec < 0:
		return errors.New("cache: MinBytesPerSec must not be negative")
	}
	return nil
}

// withDefaults fills zero fields. Defaults other than MaxItemBytes do not
// scale with MaxBytes: they bound the network, not memory.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.MaxItemBytes == 0 {
		c.MaxItemBytes = c.MaxBytes / 4
	}
	if c.LentBytes == 0 {
		// What leaves the largest object room in the rest.
		c.LentBytes = min(c.MaxBytes/8, c.MaxBytes-c.MaxItemBytes)
		if c.LentBytes == 0 {
			c.LentBytes = -1 // too small to share
		}
	}
	if c.MaxFetches == 0 {
		c.MaxFetches = d.MaxFetches
	}
	if c.BusyWait == 0 {
		c.BusyWait = d.BusyWait
	}
	if c.FirstByteTimeout == 0 {
		c.FirstByteTimeout = d.FirstByteTimeout
	}
	if c.MinBytesPerSec == 0 {
		c.MinBytesPerSec = d.MinBytesPerSec
	}
	if c.ThroughputWindow == 0 {
		c.ThroughputWindow = d.ThroughputWindow
	}
	if c.FetchTimeout == 0 {
		c.FetchTimeout = d.FetchTimeout
	}
	if c.KeepLentEvery == 0 {
		c.KeepLentEvery = d.KeepLentEvery
	}
	return c
}
