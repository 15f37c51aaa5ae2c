// The files CoreDNS reads, rendered from Config, pure: the Corefile (one
// server block per region view, matched on the geoip plugin's continent
// and country, then the default block) and each view's zone file.

package geodns

import (
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"strings"
)

// ZonePath is where view's zone file lives under dir.
func ZonePath(dir, view string) string { return filepath.Join(dir, "zones", view+".zone") }

// CorefilePath is where the Corefile lives under dir.
func CorefilePath(dir string) string { return filepath.Join(dir, "Corefile") }

// Corefile renders the CoreDNS configuration for c. View blocks come
// first and the default block last: CoreDNS takes the first block of a
// zone whose view matches, and a block without a view matches all.
func Corefile(c *Config) []byte {
	host, port, _ := net.SplitHostPort(c.Listen)
	var b strings.Builder
	fmt.Fprintf(&b, "# Written by aloft geodns from its configuration; edits are lost.\n")
	for _, r := range c.Regions {
		fmt.Fprintf(&b, "%s:%s {\n  bind %s\n", c.Zone, port, host)
		fmt.Fprintf(&b, "  view %s {\n    expr %s\n  }\n", r.Name, viewExpr(r))
		// edns-subnet: a device's resolver forwards the device's subnet
		// (RFC 7871); without it every device of a resolver would be
		// placed where the resolver is.
		fmt.Fprintf(&b, "  geoip %s {\n    edns-subnet\n  }\n  metadata\n", c.GeoIPDB)
		fileBlock(&b, c, r.Name)
		b.WriteString("}\n")
	}
	fmt.Fprintf(&b, "%s:%s {\n  bind %s\n", c.Zone, port, host)
	fileBlock(&b, c, DefaultView)
	b.WriteString("}\n")
	return []byte(b.String())
}

func fileBlock(b *strings.Builder, c *Config, view string) {
	fmt.Fprintf(b, "  errors\n  file %s %s {\n    reload %s\n  }\n", ZonePath(c.Dir, view), c.Zone, c.Reload)
}

// viewExpr matches a client whose continent or country is the region's.
func viewExpr(r Region) string {
	var terms []string
	if len(r.Continents) > 0 {
		terms = append(terms, "metadata('geoip/continent/code') in "+exprList(r.Continents))
	}
	if len(r.Countries) > 0 {
		terms = append(terms, "metadata('geoip/country/code') in "+exprList(r.Countries))
	}
	if len(terms) == 0 {
		return "false"
	}
	return strings.Join(terms, " || ")
}

func exprList(codes []string) string {
	q := make([]string, len(codes))
	for i, c := range codes {
		// Codes are two letters; anything else is dropped, never quoted
		// into the expression.
		if len(c) == 2 && strings.Trim(strings.ToUpper(c), "ABCDEFGHIJKLMNOPQRSTUVWXYZ") == "" {
			q[i] = "'" + strings.ToUpper(c) + "'"
		} else {
			q[i] = "''"
		}
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// Zone renders view's zone file: SOA (serial, which must grow for
// CoreDNS to reload), NS, and the host's A/AAAA records.
func Zone(c *Config, a Answer, serial uint32) []byte {
	var b strings.Builder
	ttl := c.TTL
	fmt.Fprintf(&b, "; serial %d, region %q, fail-open %v\n", serial, a.Region, a.FailOpen)
	fmt.Fprintf(&b, "$ORIGIN %s.\n", c.Zone)
	fmt.Fprintf(&b, "@ %d IN SOA ns.%s. hostmaster.%s. %d 60 30 3600 %d\n", ttl, c.Zone, c.Zone, serial, ttl)
	fmt.Fprintf(&b, "@ %d IN NS ns.%s.\n", ttl, c.Zone)
	if host, _, err := net.SplitHostPort(c.Listen); err == nil {
		if ip, err := netip.ParseAddr(host); err == nil {
			fmt.Fprintf(&b, "ns %d IN %s %s\n", ttl, rrType(ip), ip)
		}
	}
	for _, ip := range a.Addrs {
		fmt.Fprintf(&b, "%s %d IN %s %s\n", c.Host, ttl, rrType(ip), ip)
	}
	return []byte(b.String())
}

func rrType(ip netip.Addr) string {
	if ip.Is4() {
		return "A"
	}
	return "AAAA"
}
