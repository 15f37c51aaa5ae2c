// Edge configuration: every field documented with its unit and default.

package edge

import (
	"errors"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/aloft/aloft/cache"
)

// Config configures one edge Node.
type Config struct {
	// Addr is the device-facing listen address. Default "127.0.0.1:7080";
	// port 0 picks a free port (see Node.Addr).
	Addr string
	// PublicURL is the base (scheme://host[/prefix]) of the download links
	// the edge hands out. Empty means each request's own scheme and host.
	PublicURL string
	// Origin is where the catalog, blobs and stats go. Required.
	Origin Origin
	// Logger receives the edge's logs. Default slog.Default().
	Logger *slog.Logger
	// Registry receives the edge's metrics. Default a new registry per node.
	Registry *prometheus.Registry
	// Cache configures the bundle/file byte cache.
	Cache cache.Config
	// MaxBodyBytes caps device request bodies; larger ones get 413.
	// Default 1 MiB (a stats batch of 200 events is about 100 KiB).
	MaxBodyBytes int
	// StatsFlushInterval is how often aggregated stats go to the origin.
	// Default 2s.
	StatsFlushInterval time.Duration
	// MaxStatsKeys bounds distinct (app, version, action) counters held
	// between flushes; events beyond it are dropped and counted. Default 100000.
	MaxStatsKeys int
	// RetryInterval is the pause after a failed origin call. Default 1s.
	RetryInterval time.Duration
	// RateLimit caps update checks and channel_self requests per device
	// per RateLimitWindow; over it the edge answers 429 with Retry-After,
	// which the plugin honours (reference C11). 0 (the default) is off.
	RateLimit int
	// StatsDeviceLimit caps stats events (not requests) per device id per
	// RateLimitWindow; over it /stats answers 429 with Retry-After and the
	// plugin keeps the events queued. Default 500: a plugin queues at most
	// 200 events, so a full queue flushed after a day offline plus a busy
	// session still passes. 0 is off.
	StatsDeviceLimit int
	// StatsAppLimit caps stats events per app per RateLimitWindow on this
	// edge, whichever devices send them. Default 60000 (1000 a second);
	// size it as devices on the edge × events per device per minute, with
	// room: a fleet of 100k devices sending 20 events an hour each needs
	// 33k. 0 is off.
	StatsAppLimit int
	// RateLimitWindow is the window of every rate limit above. Default 1
	// minute.
	RateLimitWindow time.Duration
	// SpoolDir keeps stats batches the origin did not take before
	// shutdown, and sends them after the next start. Empty: no spool
	// (unsent stats are lost when the edge stops while the origin is down).
	SpoolDir string
}

// DefaultConfig returns production defaults; Origin must still be set.
func DefaultConfig() Config {
	return Config{
		Addr:               "127.0.0.1:7080",
		Cache:              cache.DefaultConfig(),
		MaxBodyBytes:       1 << 20,
		StatsFlushInterval: 2 * time.Second,
		MaxStatsKeys:       100000,
		RetryInterval:      time.Second,
		StatsDeviceLimit:   500,
		StatsAppLimit:      60000,
		RateLimitWindow:    time.Minute,
	}
}

// LocalConfig returns a test preset: a free loopback port, short timers and
// a small cache.
func LocalConfig() Config {
	c := DefaultConfig()
	c.Addr = "127.0.0.1:0"
	c.Cache = cache.LocalConfig()
	c.StatsFlushInterval = 50 * time.Millisecond
	c.RetryInterval = 50 * time.Millisecond
	return c
}

// Validate reports a configuration that cannot work.
func (c *Config) Validate() error {
	switch {
	case c.Origin == nil:
		return errors.New("edge: Config.Origin is required")
	case c.Addr == "":
		return errors.New("edge: Config.Addr is required")
	case c.MaxBodyBytes <= 0:
		return errors.New("edge: MaxBodyBytes must be positive")
	case c.StatsFlushInterval <= 0 || c.RetryInterval <= 0:
		return errors.New("edge: StatsFlushInterval and RetryInterval must be positive")
	case c.MaxStatsKeys <= 0:
		return errors.New("edge: MaxStatsKeys must be positive")
	case c.RateLimit < 0 || c.StatsDeviceLimit < 0 || c.StatsAppLimit < 0:
		return errors.New("edge: RateLimit, StatsDeviceLimit and StatsAppLimit must be 0 (off) or positive")
	case (c.RateLimit > 0 || c.StatsDeviceLimit > 0 || c.StatsAppLimit > 0) && c.RateLimitWindow <= 0:
		return errors.New("edge: RateLimitWindow must be positive when a rate limit is on")
	}
	if c.PublicURL != "" {
		u, err := url.Parse(c.PublicURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return errors.New("edge: PublicURL must be an absolute http(s) URL, e.g. https://updates.example.com")
		}
		c.PublicURL = strings.TrimRight(c.PublicURL, "/")
	}
	return c.Cache.Validate()
}
