// Package geodb writes the small GeoIP database the local cluster and the
// geodns tests route by: a MaxMind DB (GeoLite2-Country shaped, which
// CoreDNS's geoip plugin reads through its City lookups) mapping a few
// test subnets to a country and a continent. It is generated, never
// downloaded: a production GeoDNS uses a vendor's database instead, and
// nothing in the aloft binary links this package.
package geodb

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
)

// ErrBadNetwork is returned for a Network without a valid prefix, a
// two-letter country or a two-letter continent code.
var ErrBadNetwork = errors.New("geodb: bad network")

// Network places one subnet.
type Network struct {
	// Prefix is the subnet (IPv4 or IPv6).
	Prefix netip.Prefix
	// Country is an ISO 3166-1 alpha-2 code, e.g. "DE".
	Country string
	// Continent is a GeoIP continent code: AF, AN, AS, EU, NA, OC, SA.
	Continent string
}

// ParseNetwork reads "PREFIX=COUNTRY/CONTINENT", e.g.
// "192.0.2.0/24=DE/EU", the form deploy/cluster's scripts pass.
func ParseNetwork(s string) (Network, error) {
	p, place, ok := strings.Cut(s, "=")
	country, continent, ok2 := strings.Cut(place, "/")
	prefix, err := netip.ParsePrefix(strings.TrimSpace(p))
	n := Network{Prefix: prefix, Country: strings.ToUpper(country), Continent: strings.ToUpper(continent)}
	if !ok || !ok2 || err != nil {
		return n, fmt.Errorf("%w: %q, want PREFIX=COUNTRY/CONTINENT", ErrBadNetwork, s)
	}
	return n, n.check()
}

func (n Network) check() error {
	if !n.Prefix.IsValid() || len(n.Country) != 2 || len(n.Continent) != 2 {
		return fmt.Errorf("%w: %v=%s/%s", ErrBadNetwork, n.Prefix, n.Country, n.Continent)
	}
	return nil
}

// Write writes a database of nets to path, replacing it atomically (a
// reader that reopens it sees the old one or the new one, whole).
func Write(path string, nets []Network) error {
	// GeoLite2-Country: a type the MaxMind readers (and so CoreDNS) accept
	// for country and city lookups, and honest about what it holds.
	tree, err := mmdbwriter.New(mmdbwriter.Options{
		DatabaseType: "GeoLite2-Country",
		Description:  map[string]string{"en": "Aloft test networks (generated)"},
		// The test subnets are documentation and private ranges, which the
		// writer refuses by default as reserved.
		IncludeReservedNetworks: true,
		RecordSize:              24,
	})
	if err != nil {
		return fmt.Errorf("geodb: %w", err)
	}
	for _, n := range nets {
		if err := n.check(); err != nil {
			return err
		}
		rec := mmdbtype.Map{
			"country":   mmdbtype.Map{"iso_code": mmdbtype.String(n.Country)},
			"continent": mmdbtype.Map{"code": mmdbtype.String(n.Continent)},
		}
		p := n.Prefix.Masked()
		ipnet := &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
		if err := tree.Insert(ipnet, rec); err != nil {
			return fmt.Errorf("geodb: insert %v: %w", p, err)
		}
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".geodb-*")
	if err != nil {
		return fmt.Errorf("geodb: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tree.WriteTo(tmp); err != nil {
		tmp.Close()
		return fmt.Errorf("geodb: write: %w", err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return fmt.Errorf("geodb: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("geodb: write: %w", err)
	}
	return os.Rename(tmp.Name(), path)
}
