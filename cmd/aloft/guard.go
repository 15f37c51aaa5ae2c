// Flags that bound what clients can do to a node: connection caps,
// timeouts, and which hosts download links may name. Shared by `aloft
// dev`, `aloft origin` and `aloft edge`.

package main

import (
	"flag"
	"fmt"
	"net/netip"
	"os"
	"strings"

	"github.com/aloft/aloft/edge"
	"github.com/aloft/aloft/netguard"
	"github.com/aloft/aloft/origin"
)

// edgeGuardFlags registers the device port's limits on fs; the returned
// function parses the list flags into c once fs is parsed.
func edgeGuardFlags(fs *flag.FlagSet, c *edge.Config) func() error {
	hosts := fs.String("allowed-hosts", "", "comma-separated hosts (or host:port) download links may be built from when --public-url is empty")
	proxies := fs.String("trusted-proxies", "", "comma-separated proxy addresses or CIDRs whose X-Forwarded-Proto/Host are believed")
	fs.IntVar(&c.MaxConns, "max-conns", c.MaxConns, "most device connections held open (0: half the descriptor limit, at most 100000)")
	fs.IntVar(&c.MaxConnsPerIP, "max-conns-per-ip", c.MaxConnsPerIP, "most device connections from one client IP (0: no cap)")
	fs.DurationVar(&c.ReadTimeout, "read-timeout", c.ReadTimeout, "longest time to receive one device request, headers and body")
	fs.DurationVar(&c.WriteTimeout, "write-timeout", c.WriteTimeout, "longest time to send one answer, a download included")
	fs.DurationVar(&c.IdleTimeout, "idle-timeout", c.IdleTimeout, "close device keep-alive connections idle this long")
	return func() error {
		c.AllowedHosts = splitList(*hosts)
		for _, p := range splitList(*proxies) {
			pfx, err := parsePrefix(p)
			if err != nil {
				return fmt.Errorf("--trusted-proxies: %w", err)
			}
			c.TrustedProxies = append(c.TrustedProxies, pfx)
		}
		return nil
	}
}

// edgeStatsFlags registers the bounds of stats intake on fs.
func edgeStatsFlags(fs *flag.FlagSet, c *edge.Config) {
	fs.DurationVar(&c.StatsFlushInterval, "stats-flush", c.StatsFlushInterval, "how often stats go to the spool: what a crash can lose")
	fs.IntVar(&c.StatsDeviceLimit, "stats-device-limit", c.StatsDeviceLimit, "stats events per device per minute before 429, counted across the edge's region (0: off)")
	fs.IntVar(&c.StatsAppLimit, "stats-app-limit", c.StatsAppLimit, "stats events per app per minute before 429, counted across the edge's region (0: off)")
}

// originGuardFlags registers the operator API's limits on fs. prefix is
// "" for `aloft origin` and "api-" for `aloft dev`, whose plain names
// belong to the device port.
func originGuardFlags(fs *flag.FlagSet, c *origin.Config, prefix string) {
	fs.IntVar(&c.APIMaxConns, "api-max-conns", c.APIMaxConns, "most operator API connections held open (0: a fifth of the descriptor limit, at most 10000)")
	fs.IntVar(&c.APIMaxConnsPerIP, "api-max-conns-per-ip", c.APIMaxConnsPerIP, "most operator API connections from one client IP (0: no cap)")
	fs.IntVar(&c.APIRateLimit, "api-rate-limit", c.APIRateLimit, "operator API requests per token per minute on this node before 429 (edge tokens are not limited; 0: off)")
	fs.DurationVar(&c.ReadHeaderTimeout, prefix+"header-timeout", c.ReadHeaderTimeout, "longest time to receive an API request's headers")
	fs.DurationVar(&c.BodyTimeout, prefix+"body-timeout", c.BodyTimeout, "longest pause allowed inside an API request body (uploads of any size pass)")
	fs.DurationVar(&c.IdleTimeout, prefix+"idle-timeout", c.IdleTimeout, "close API keep-alive connections idle this long")
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// parsePrefix takes a CIDR or a lone address (a /32 or /128).
func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		return netip.ParsePrefix(s)
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// raiseFileLimit lifts the descriptor limit the connection caps derive
// from; failing to is worth a warning, not a refusal to start.
func raiseFileLimit(name string) {
	if _, err := netguard.RaiseFileLimit(); err != nil {
		fmt.Fprintf(os.Stderr, "aloft %s: cannot raise the open-file limit: %v\n", name, err)
	}
}
