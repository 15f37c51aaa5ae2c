// The flags of `aloft edge` that place it in a region: its name, region,
// data directory, cache size, the catalog keys it trusts, and its gossip
// and peer settings.

package main

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"

	"github.com/aloft/aloft/edge"
	"github.com/aloft/aloft/gossip"
)

// edgeRegionFlags registers the flags; the returned func applies them to
// c once parsed.
func edgeRegionFlags(fs *flag.FlagSet, c *edge.Config) func() error {
	fs.StringVar(&c.Name, "name", "", "this edge's name, unique in the cluster (default: host name and device port)")
	fs.StringVar(&c.Region, "region", os.Getenv("ALOFT_REGION"), "region: edges of one region fill their caches from each other (env ALOFT_REGION)")
	fs.StringVar(&c.DataDir, "data-dir", "./aloft-edge-data", "keeps the last verified catalog and the trusted keys, so a restart serves at once with the origin down (empty: memory only)")
	fs.DurationVar(&c.DataSyncDelay, "data-sync-delay", c.DataSyncDelay, "a catalog delta is written to --data-dir at once and fsynced within this long, one fsync for every delta meanwhile; a machine crash may lose that much, caught up from the origin at the start (0: fsync each delta)")
	fs.Int64Var(&c.Cache.MaxBytes, "cache-bytes", c.Cache.MaxBytes, "bytes of bundles and files kept in memory")
	fs.Int64Var(&c.PrefetchMaxBytes, "prefetch-max-bytes", c.PrefetchMaxBytes, "fetch new bundles up to this size before the first device asks (negative: off)")
	trust := fs.String("trust-key", os.Getenv("ALOFT_TRUST_KEY"), "comma-separated catalog keys to trust, ID=BASE64 (from GET /api/v1/sync/keys); empty: trust the origin's keys at the first sync (env ALOFT_TRUST_KEY)")
	gossipBind := fs.String("gossip-bind", "", "gossip listen address host:port (empty: no gossip, no peer fill)")
	gossipAdvertise := fs.String("gossip-advertise", "", "gossip address peers reach this edge at, host:port (default: the bind address)")
	join := fs.String("join", "", "comma-separated gossip addresses of edges to join")
	keyFile := fs.String("gossip-key-file", os.Getenv("ALOFT_GOSSIP_KEY_FILE"), "file holding the gossip encryption key: 16, 24 or 32 bytes, base64 (env ALOFT_GOSSIP_KEY_FILE)")
	label := fs.String("gossip-label", "aloft", "cluster label: gossip from another cluster is ignored")
	fs.StringVar(&c.PeerToken, "peer-token", os.Getenv("ALOFT_PEER_TOKEN"), "secret edges present on each other's peer routes (env ALOFT_PEER_TOKEN; required with --gossip-bind)")
	fs.StringVar(&c.PeerURL, "peer-url", "", "base URL peers reach this edge's device port at (default: http:// and --addr)")
	advertise := fs.String("advertise-addr", "", "IP devices reach this edge at, reported to the origin with the readiness URL (--peer-url + /readyz) so aloft geodns --origin can put it in DNS (empty: not reported)")
	return func() error {
		keys, err := parseTrustKeys(*trust)
		if err != nil {
			return err
		}
		c.TrustKeys = keys
		if *advertise != "" {
			a, err := netip.ParseAddr(*advertise)
			if err != nil || a.Zone() != "" {
				return fmt.Errorf("--advertise-addr %q: want an IP address", *advertise)
			}
			c.AdvertiseAddr = a.Unmap()
		}
		if *gossipBind == "" {
			if *join != "" || *keyFile != "" {
				return errors.New("--join and --gossip-key-file need --gossip-bind")
			}
			return nil
		}
		g := gossip.DefaultConfig()
		g.Label = *label
		if g.BindAddr, g.BindPort, err = splitHostPort(*gossipBind); err != nil {
			return fmt.Errorf("--gossip-bind: %w", err)
		}
		if *gossipAdvertise != "" {
			if g.AdvertiseAddr, g.AdvertisePort, err = splitHostPort(*gossipAdvertise); err != nil {
				return fmt.Errorf("--gossip-advertise: %w", err)
			}
		}
		for _, j := range strings.Split(*join, ",") {
			if j = strings.TrimSpace(j); j != "" {
				g.Join = append(g.Join, j)
			}
		}
		if *keyFile == "" {
			return errors.New("--gossip-key-file is required with --gossip-bind: gossip is encrypted (make one: head -c 32 /dev/urandom | base64)")
		}
		b, err := os.ReadFile(*keyFile)
		if err != nil {
			return fmt.Errorf("--gossip-key-file: %w", err)
		}
		if g.SecretKey, err = base64.StdEncoding.DecodeString(strings.TrimSpace(string(b))); err != nil {
			return fmt.Errorf("--gossip-key-file: not base64: %w", err)
		}
		c.Gossip = &g
		return nil
	}
}

func splitHostPort(s string) (string, int, error) {
	h, p, err := net.SplitHostPort(s)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("bad port %q", p)
	}
	return h, port, nil
}

// parseTrustKeys reads ID=BASE64,… into public keys.
func parseTrustKeys(s string) (map[string]ed25519.PublicKey, error) {
	out := map[string]ed25519.PublicKey{}
	for _, kv := range strings.Split(s, ",") {
		if kv = strings.TrimSpace(kv); kv == "" {
			continue
		}
		id, b64, ok := strings.Cut(kv, "=")
		pub, err := base64.StdEncoding.DecodeString(b64)
		if !ok || id == "" || err != nil || len(pub) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("--trust-key %q: want ID=BASE64 of a 32-byte ed25519 public key", kv)
		}
		out[id] = pub
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}
