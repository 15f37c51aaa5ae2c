// Tests of region membership: rings per region, metadata and
// announcements through gossip, a graceful departure, and the defaults
// of Name and PeerURL.

package edge

import (
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aloft/aloft/gossip"
	"github.com/aloft/aloft/internal/wait"
)

// member finds name in g's member list.
func member(g *gossip.Node, name string) (gossip.Member, bool) {
	for _, m := range g.Members() {
		if m.Name == name {
			return m, true
		}
	}
	return gossip.Member{}, false
}

// TestCluster_RingsPerRegion: edges of two regions share one gossip
// cluster but each region's ring holds only its own edges; a member's
// metadata carries its region, URLs and the index it announced; an edge
// that stops leaves every ring at once.
func TestCluster_RingsPerRegion(t *testing.T) {
	store := newBlobStore(false)
	eu := startRegion(t, store, 2, nil)
	cfg := regionConfig(store, "edge-us", eu[0].cl.g.Load().Addr())
	cfg.Region, cfg.PublicURL = "us", "https://us.example.com"
	us, stopUS := runStoppable(t, cfg)
	third := regionConfig(store, "edge-2", eu[0].cl.g.Load().Addr())
	euThird, stopThird := runStoppable(t, third)
	eu = append(eu, euThird)
	waitRing(t, 3, eu...)
	waitRing(t, 1, us)
	wait.For(t, 20*time.Second, "edge-us known in eu", func() bool { _, ok := member(eu[0].cl.g.Load(), "edge-us"); return ok })
	if got := eu[0].cl.rg.Load().ring.Members(); strings.Join(got, ",") != "edge-0,edge-1,edge-2" {
		t.Fatalf("eu ring %v", got)
	}
	m, _ := member(eu[0].cl.g.Load(), "edge-us")
	if m.Meta.Region != "us" || m.Meta.PublicURL != "https://us.example.com" || m.Meta.PeerURL != "http://"+us.Addr() {
		t.Fatalf("edge-us as eu sees it: %+v", m.Meta)
	}

	us.announce(42, [32]byte{1})
	wait.For(t, 20*time.Second, "the announced index in edge-us's metadata", func() bool {
		m, ok := member(eu[1].cl.g.Load(), "edge-us")
		return ok && m.Meta.Index == 42
	})
	stopUS()

	stopThird()
	waitRing(t, 2, eu[:2]...)
	// What edge-2 owned moved to the two left; each edge asks the owner
	// first, then the origin, and fills what it owns from the origin.
	r := eu[0].cl.rg.Load()
	for i := range 100 {
		sha := store.put(payload(64, i))
		if o := r.ring.Owner(sha); o == "edge-2" {
			t.Fatalf("%s still owned by the departed edge-2", sha)
		}
		srcs := eu[0].cl.sources(sha)
		p, viaPeer := srcs[0].(*peerSource)
		switch {
		case r.ring.Owner(sha) == "edge-0" && viaPeer:
			t.Fatalf("edge-0 asks a peer for %s, which it owns", sha)
		case r.ring.Owner(sha) == "edge-1" && (!viaPeer || p.owner != "edge-1" || len(srcs) != 2):
			t.Fatalf("edge-0 fills %s, owned by edge-1, from %v", sha, srcs)
		}
	}
}

// TestCluster_Defaults: Name defaults to the host name and device port,
// PeerURL to http:// and the bound address; a wildcard bind address is
// replaced by the host name, which peers can dial.
func TestCluster_Defaults(t *testing.T) {
	store := newBlobStore(false)
	cfg := regionConfig(store, "")
	n := runEdge(t, cfg)
	host, _ := os.Hostname()
	_, port, _ := net.SplitHostPort(n.Addr())
	if n.cl.name != host+":"+port || n.cl.peerURL != "http://"+n.Addr() {
		t.Fatalf("name %q, peer URL %q", n.cl.name, n.cl.peerURL)
	}
	if got := n.cl.g.Load().Local().Meta.PeerURL; got != n.cl.peerURL {
		t.Fatalf("gossip PeerURL %q", got)
	}
	if got := reachableAddr("0.0.0.0:7080"); got != net.JoinHostPort(host, "7080") {
		t.Fatalf("wildcard: %q", got)
	}
	if got := reachableAddr("[::]:7080"); got != net.JoinHostPort(host, "7080") {
		t.Fatalf("IPv6 wildcard: %q", got)
	}
}
