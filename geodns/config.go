// The configuration: the zone and host to answer, the regions (which
// clients each serves, and where they go when it has no ready edge), the
// edges, and the probe timers. It reads from a JSON file, the form
// `aloft geodns --config` and deploy/cluster use.

package geodns

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"time"
)

// ErrConfig wraps every configuration error.
var ErrConfig = errors.New("geodns: config")

// DefaultView names the zone of clients the GeoIP database places in no
// region.
const DefaultView = "default"

// Config is one GeoDNS answerer. Every field has its JSON name beside it.
type Config struct {
	// Zone is the DNS zone served, e.g. "aloft.test" (no trailing dot).
	Zone string `json:"zone"`
	// Host is the name devices resolve, relative to Zone, e.g. "updates".
	Host string `json:"host"`
	// TTL is the answers' time to live in seconds: how long a resolver
	// may keep sending devices to an edge that has since gone unready.
	// Default 5.
	TTL uint32 `json:"ttl"`
	// Listen is the address CoreDNS serves on, IP:port (UDP and TCP).
	Listen string `json:"listen"`
	// GeoIPDB is the MaxMind database CoreDNS places clients with.
	GeoIPDB string `json:"geoip_db"`
	// Dir receives the Corefile and the zone files (zones/<view>.zone).
	Dir string `json:"dir"`
	// Regions are the client regions, matched in this order: the first
	// whose countries or continents hold the client's serves it.
	Regions []Region `json:"regions"`
	// Default is the region order for clients placed in no region,
	// nearest first. Empty: every region in the order of Regions.
	Default []string `json:"default"`
	// Edges are the edges answered with, listed by hand.
	Edges []Edge `json:"edges"`
	// Origin, when set, is the origin's API URL (several comma-separated):
	// every Interval the edges it lists with an address and a readiness
	// URL (aloft edge --advertise-addr), live and of a known region, are
	// answered with too; an edge listed by hand wins over one of the same
	// name. While the origin cannot be asked the last list it gave stays.
	Origin string `json:"origin"`
	// OriginToken is a read token for Origin (aloft geodns takes it from
	// ALOFT_TOKEN).
	OriginToken string `json:"-"`
	// Interval is how often every edge is probed. Default 1 s.
	Interval time.Duration `json:"-"`
	// ProbeTimeout bounds one /readyz request: an edge too busy to answer
	// within it is as unready as one that refuses. Default 800 ms.
	ProbeTimeout time.Duration `json:"-"`
	// Fall is how many failed probes in a row take an edge out of the
	// answers. Default 2, so one lost packet does not move a region.
	Fall int `json:"fall"`
	// Rise is how many passed probes in a row put it back. Default 2.
	Rise int `json:"rise"`
	// Reload is how often CoreDNS re-reads the zone files. Default 1 s.
	Reload time.Duration `json:"-"`
	// Logger receives state changes. Default slog.Default().
	Logger *slog.Logger `json:"-"`
}

// Region is a group of edges and the clients sent to them.
type Region struct {
	// Name is the region, as the edges' --region names it ("eu").
	Name string `json:"name"`
	// Continents are GeoIP continent codes of clients served ("EU").
	Continents []string `json:"continents"`
	// Countries are ISO 3166-1 alpha-2 codes of clients served ("TR").
	Countries []string `json:"countries"`
	// Failover lists the regions its clients go to, nearest first, when
	// it has no ready edge.
	Failover []string `json:"failover"`
}

// Edge is one edge.
type Edge struct {
	// Name identifies the edge in logs.
	Name string `json:"name"`
	// Region is one of Config.Regions.
	Region string `json:"region"`
	// Addr is the IP devices reach it at: its A (or AAAA) record.
	Addr netip.Addr `json:"addr"`
	// ReadyURL is its readiness endpoint, e.g. http://10.0.1.5:7080/readyz;
	// a 200 answer is ready, anything else (or none) is not.
	ReadyURL string `json:"ready_url"`
}

// DefaultConfig is a production preset without zone, regions or edges.
func DefaultConfig() Config {
	return Config{TTL: 5, Interval: time.Second, ProbeTimeout: 800 * time.Millisecond, Fall: 2, Rise: 2, Reload: time.Second}
}

// LocalConfig is the preset of tests: probes every 200 ms, each edge out
// after one failure and back after one pass.
func LocalConfig() Config {
	c := DefaultConfig()
	c.Interval, c.ProbeTimeout, c.Fall, c.Rise = 200*time.Millisecond, 500*time.Millisecond, 1, 1
	return c
}

// fileConfig is Config as JSON, durations as Go duration strings.
type fileConfig struct {
	Config
	Interval     string `json:"interval"`
	ProbeTimeout string `json:"probe_timeout"`
	Reload       string `json:"reload"`
}

// ReadConfig reads a JSON configuration onto DefaultConfig.
func ReadConfig(path string) (Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	f := fileConfig{Config: DefaultConfig()}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return Config{}, fmt.Errorf("%w: %s: %w", ErrConfig, path, err)
	}
	c := f.Config
	for _, d := range []struct {
		s   string
		dst *time.Duration
	}{{f.Interval, &c.Interval}, {f.ProbeTimeout, &c.ProbeTimeout}, {f.Reload, &c.Reload}} {
		if d.s == "" {
			continue
		}
		if *d.dst, err = time.ParseDuration(d.s); err != nil {
			return Config{}, fmt.Errorf("%w: %s: %w", ErrConfig, path, err)
		}
	}
	return c, nil
}

// Validate reports the first thing that cannot work.
func (c *Config) Validate() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrConfig, fmt.Sprintf(format, a...))
	}
	c.Zone = strings.TrimSuffix(c.Zone, ".")
	switch {
	case c.Zone == "" || c.Host == "":
		return bad("zone and host are required")
	case c.Dir == "" || c.GeoIPDB == "":
		return bad("dir and geoip_db are required")
	case c.TTL == 0 || c.Interval <= 0 || c.ProbeTimeout <= 0 || c.Fall < 1 || c.Rise < 1 || c.Reload < time.Second:
		return bad("ttl, interval, probe_timeout, fall and rise must be positive, reload at least 1s")
	case len(c.Regions) == 0 || len(c.Edges) == 0 && c.Origin == "":
		return bad("at least one region, and edges or an origin to list them")
	}
	if h, _, err := net.SplitHostPort(c.Listen); err != nil || net.ParseIP(h) == nil {
		return bad("listen %q: want IP:port", c.Listen)
	}
	names := map[string]bool{DefaultView: true}
	for _, r := range c.Regions {
		if r.Name == "" || names[r.Name] || strings.ContainsAny(r.Name, "/. \t") {
			return bad("region %q: empty, repeated, reserved or not a plain name", r.Name)
		}
		names[r.Name] = true
	}
	for _, r := range c.Regions {
		if err := c.knownRegions(r.Failover); err != nil {
			return bad("region %s failover: %v", r.Name, err)
		}
	}
	if err := c.knownRegions(c.Default); err != nil {
		return bad("default: %v", err)
	}
	for i := range c.Edges {
		e := &c.Edges[i]
		e.Addr = e.Addr.Unmap() // ::ffff:a.b.c.d is an A record's a.b.c.d
		if !c.validEdge(*e) {
			return bad("edge %q: needs a name, an IP addr, an http(s) ready_url and a known region", e.Name)
		}
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

// validEdge reports an edge that can be answered with and probed.
func (c *Config) validEdge(e Edge) bool {
	return e.Name != "" && e.Addr.IsValid() && strings.HasPrefix(e.ReadyURL, "http") && c.knownRegion(e.Region)
}

func (c *Config) knownRegion(name string) bool {
	return slices.ContainsFunc(c.Regions, func(r Region) bool { return r.Name == name })
}

func (c *Config) knownRegions(names []string) error {
	for _, n := range names {
		if !c.knownRegion(n) {
			return fmt.Errorf("unknown region %q", n)
		}
	}
	return nil
}
