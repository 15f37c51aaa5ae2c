// Edge configuration: every field documented with its unit and default.

package edge

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/aloft/aloft/cache"
	"github.com/aloft/aloft/gossip"
)

// Config configures one edge Node.
type Config struct {
	// Addr is the device-facing listen address. Default "127.0.0.1:7080";
	// port 0 picks a free port (see Node.Addr).
	Addr string
	// PublicURL is the base (scheme://host[/prefix]) of the download links
	// the edge hands out. Empty means each request's own scheme and host,
	// but only for a host on AllowedHosts.
	PublicURL string
	// AllowedHosts lists the host or host:port values links may be built
	// from when PublicURL is empty (a name without a port also matches it
	// with the edge's own port). A request naming another host gets links
	// to the first entry. Empty means DefaultAllowedHosts: loopback and
	// this machine's own names and addresses.
	AllowedHosts []string
	// TrustedProxies are the peers whose X-Forwarded-Proto and
	// X-Forwarded-Host are believed (the host is still checked against
	// AllowedHosts). Empty: those headers are ignored.
	TrustedProxies []netip.Prefix
	// MaxConns caps the device connections held open; from nine tenths of
	// it on, idle connections are closed first, and past it connections
	// are answered 503 with Retry-After. 0 derives it from the process's
	// descriptor limit (half of it, at most 100,000).
	MaxConns int
	// MaxConnsPerIP caps the open connections from one client IP. Default
	// 1000: carrier-grade NAT puts many phones behind one address, and a
	// phone holds a connection only while it checks or downloads. 0 is no cap.
	MaxConnsPerIP int
	// ReadTimeout bounds reading one request, headers and body: from the
	// connection's opening for its first request, from the first byte for
	// later ones. Default 10s (device requests are at most MaxBodyBytes).
	ReadTimeout time.Duration
	// WriteTimeout bounds writing one answer, a download included.
	// Default 5 min.
	WriteTimeout time.Duration
	// IdleTimeout closes keep-alive connections that wait this long for
	// their next request. Default 60s.
	IdleTimeout time.Duration
	// RetryAfter is what shed connections are told to wait. Default 5s.
	RetryAfter time.Duration
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
	// StatsFlushInterval is how often the stats counted in memory go to
	// the spool (written and fsynced when SpoolDir is set), from where
	// they are shipped to the origin. It is what a crash can lose.
	// Default 1s.
	StatsFlushInterval time.Duration
	// MaxStatsKeys bounds distinct per-minute cells (app, channel,
	// version, plugin version, platform, action) held between flushes;
	// events beyond it are dropped and counted. Default 100000.
	MaxStatsKeys int
	// MaxSeenDevices bounds the devices (per app) whose checks and events
	// one flush records for the origin's adoption counts and timelines;
	// past it they still count in the aggregates. Default 200000.
	MaxSeenDevices int
	// MaxTimelineBytes bounds the device timeline events held between
	// flushes (about 100 bytes plus metadata each). Default 16 MiB.
	MaxTimelineBytes int64
	// RetryInterval is the pause after a failed origin call, and the
	// first pause of the stats shipper's exponential backoff. Default 1s.
	RetryInterval time.Duration
	// StatsRetryMax caps the stats shipper's backoff (never below
	// RetryInterval). Default 1 minute.
	StatsRetryMax time.Duration
	// RateLimit caps update checks and channel_self requests per device
	// per RateLimitWindow; over it the edge answers 429 with Retry-After,
	// which the plugin honours (reference C11). Default 60: a plugin
	// checks at app start and resume and at most every periodCheckDelay
	// (600 s at least), so a real device stays far below one a second,
	// while a script hammering one id is turned away. Counted by device
	// id, never by IP, so devices behind one carrier NAT do not share a
	// budget. 0 is off.
	RateLimit int
	// AppRateLimit caps update checks and channel_self requests per app
	// per RateLimitWindow across the region, whichever devices send
	// them, so one app's traffic (or a script spraying device ids at
	// it) cannot take a region's capacity from the others. Over it the
	// app's devices get 429 with Retry-After and keep the bundle they
	// run. Default 600000 (10,000 a second per region): an app with five
	// million daily devices checking ten times a day averages under 600
	// a second. 0 is off.
	AppRateLimit int
	// StatsDeviceLimit caps stats events (not requests) per device id per
	// RateLimitWindow; over it /stats answers 429 with Retry-After and the
	// plugin keeps the events queued. Default 500: a plugin queues at most
	// 200 events, so a full queue flushed after a day offline plus a busy
	// session still passes. 0 is off.
	StatsDeviceLimit int
	// StatsAppLimit caps stats events per app per RateLimitWindow across
	// the region, whichever devices send them. Default 60000 (1000 a
	// second); size it as devices in the region × events per device per
	// minute, with room: a fleet of 100k devices sending 20 events an
	// hour each needs 33k. 0 is off.
	StatsAppLimit int
	// RateLimitWindow is the window of every rate limit above. Default 1
	// minute. Windows are aligned to the wall clock, so the edges of a
	// region (with synchronised clocks) count the same window.
	RateLimitWindow time.Duration
	// RateLimitShare is how often an edge with gossip sends its region's
	// peers its counts of the devices and apps near a limit, so every
	// limit above holds across the region, not per edge (share.go states
	// the error bound). 0 counts per edge only. Default 1s.
	RateLimitShare time.Duration
	// SpoolDir holds stats batches until the origin takes them: every
	// StatsFlushInterval the new counts are written there (temp file,
	// fsync, rename, directory fsync) before they are shipped, so they
	// survive a crash or kill -9, and are sent after the next start.
	// Empty: the same queue lives in memory only, and what was not shipped
	// is lost when the edge stops.
	SpoolDir string
	// MaxSpoolBatches and MaxSpoolBytes bound the spool (in memory too);
	// past either, the oldest batches are dropped, logged and counted.
	// Defaults 1000 and 64 MiB. An origin outage grows the spool by one
	// rewritten batch, not one per flush.
	MaxSpoolBatches int
	MaxSpoolBytes   int64

	// Name identifies the edge to the origin (GET /api/v1/edges) and to
	// its gossip peers. Default: the host name and the device port.
	Name string
	// Region groups edges that fill their caches from each other (a miss
	// asks the region's owner of the object before the blob store).
	Region string
	// DataDir keeps the last verified catalog state, so a restarted edge
	// serves at once from disk with the origin down, and the catalog keys
	// it trusts. Empty: memory only (tests, `aloft dev`).
	DataDir string
	// DataSyncDelay is how long a catalog delta written to DataDir may
	// wait for its fsync; every delta in that time shares one. A delta is
	// written at once, so the edge's process dying loses nothing; a
	// machine crash may lose this much, and the edge then starts from the
	// signed state before it and catches up. Snapshots are always fsynced
	// before they replace the last one. Default 1 s; 0 fsyncs each delta.
	DataSyncDelay time.Duration
	// TrustKeys are the origin catalog keys the edge trusts, by key id.
	// Empty: the keys are fetched from the origin at the first sync and
	// kept in DataDir (trust on first use); later keys are accepted only
	// when an already trusted key endorses them.
	TrustKeys map[string]ed25519.PublicKey
	// Gossip joins the region's edges when set (see gossip.Config; Name
	// and Meta are filled in by the edge). Nil: no gossip, no peer fill.
	Gossip *gossip.Config
	// PeerToken is the secret edges present on each other's peer routes
	// (catalog states and cache fills). Required with Gossip.
	PeerToken string
	// PeerURL is the base URL peers reach this edge's device port at.
	// Default: http:// and the bound address.
	PeerURL string
	// AdvertiseAddr, when valid, is the IP devices reach this edge at: the
	// edge reports it to the origin with its readiness URL (PeerURL +
	// /readyz), and aloft geodns --origin puts ready edges' addresses in
	// DNS. Zero: not announced.
	AdvertiseAddr netip.Addr
	// PrefetchMaxBytes: on publish the edge fetches a new servable
	// bundle's zip and delta files ahead of the first device when the
	// bundle is at most this size. Default 64 MiB; negative turns it off.
	PrefetchMaxBytes int64
}

// DefaultConfig returns production defaults; Origin must still be set.
func DefaultConfig() Config {
	return Config{
		Addr:               "127.0.0.1:7080",
		Cache:              cache.DefaultConfig(),
		MaxBodyBytes:       1 << 20,
		StatsFlushInterval: time.Second,
		MaxStatsKeys:       100000,
		MaxSeenDevices:     200000,
		MaxTimelineBytes:   16 << 20,
		RetryInterval:      time.Second,
		StatsRetryMax:      time.Minute,
		RateLimit:          60,
		AppRateLimit:       600000,
		StatsDeviceLimit:   500,
		StatsAppLimit:      60000,
		RateLimitWindow:    time.Minute,
		RateLimitShare:     time.Second,
		MaxConnsPerIP:      1000,
		ReadTimeout:        10 * time.Second,
		WriteTimeout:       5 * time.Minute,
		IdleTimeout:        time.Minute,
		RetryAfter:         5 * time.Second,
		MaxSpoolBatches:    1000,
		MaxSpoolBytes:      64 << 20,
		PrefetchMaxBytes:   64 << 20,
		DataSyncDelay:      time.Second,
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
	c.StatsRetryMax = 500 * time.Millisecond
	c.RateLimitShare = 100 * time.Millisecond
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
	case c.StatsFlushInterval <= 0 || c.RetryInterval <= 0 || c.StatsRetryMax <= 0:
		return errors.New("edge: StatsFlushInterval, RetryInterval and StatsRetryMax must be positive")
	case c.MaxStatsKeys <= 0 || c.MaxSpoolBatches <= 0 || c.MaxSpoolBytes <= 0 || c.MaxSeenDevices <= 0 || c.MaxTimelineBytes <= 0:
		return errors.New("edge: MaxStatsKeys, MaxSeenDevices, MaxTimelineBytes, MaxSpoolBatches and MaxSpoolBytes must be positive")
	case c.RateLimitShare < 0:
		return errors.New("edge: RateLimitShare must be 0 (per edge) or positive")
	case c.RateLimit < 0 || c.AppRateLimit < 0 || c.StatsDeviceLimit < 0 || c.StatsAppLimit < 0:
		return errors.New("edge: RateLimit, AppRateLimit, StatsDeviceLimit and StatsAppLimit must be 0 (off) or positive")
	case (c.RateLimit > 0 || c.AppRateLimit > 0 || c.StatsDeviceLimit > 0 || c.StatsAppLimit > 0) && c.RateLimitWindow <= 0:
		return errors.New("edge: RateLimitWindow must be positive when a rate limit is on")
	case c.MaxConns < 0 || c.MaxConnsPerIP < 0:
		return errors.New("edge: MaxConns and MaxConnsPerIP must be 0 (derived / no cap) or positive")
	case c.ReadTimeout <= 0 || c.WriteTimeout <= 0 || c.IdleTimeout <= 0:
		return errors.New("edge: ReadTimeout, WriteTimeout and IdleTimeout must be positive")
	case c.RetryAfter < time.Second:
		return errors.New("edge: RetryAfter must be at least 1s (it is sent in whole seconds)")
	case c.Gossip != nil && c.PeerToken == "":
		return errors.New("edge: PeerToken is required with Gossip (peers authenticate with it)")
	}
	for _, h := range c.AllowedHosts {
		if err := checkAllowedHost(h); err != nil {
			return err
		}
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

// checkAllowedHost refuses an allow-list entry that is not a bare host or
// host:port (a scheme or path there would never match a Host header).
func checkAllowedHost(h string) error {
	h = strings.TrimSpace(h)
	host := h
	if hh, _, err := net.SplitHostPort(h); err == nil {
		host = hh
	}
	host = strings.Trim(host, "[]")
	if host == "" || strings.ContainsAny(host, "/?#@ ") || strings.Contains(h, "://") {
		return fmt.Errorf("edge: allowed host %q must be a host name or address, optionally with :port (no scheme or path)", h)
	}
	return nil
}
