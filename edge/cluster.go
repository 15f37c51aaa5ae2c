// The edge's region: gossip membership (gossip/), the ring that names the
// owner of each object among the region's live edges (ring/), and the
// hooks the rest of the edge calls (start, loop, stop, announce). Peer
// fill is in peerfill.go and peerblob.go, pre-fetch in prefetch.go.

package edge

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aloft/aloft/cache"
	"github.com/aloft/aloft/gossip"
	"github.com/aloft/aloft/ring"
)

// leaveTimeout bounds waiting for the leave message at shutdown; peers
// that miss it detect the failure instead, which only costs them time.
const leaveTimeout = 2 * time.Second

// cluster is an edge's region state. It exists on every edge (pre-fetch
// needs it alone too); gossip and the ring only with Config.Gossip.
type cluster struct {
	n       *Node
	name    string // this edge's member name
	peerURL string // where peers reach this edge's peer routes
	token   [32]byte
	hc      *http.Client // peer fills; shared by every peer source

	g  atomic.Pointer[gossip.Node] // nil without gossip, and until gossip.New returns
	rg atomic.Pointer[region]      // nil: no ring (yet), fill from the origin

	rebuildMu sync.Mutex // serializes rebuild: the latest member list wins

	share *share // region-wide rate limits; nil without gossip or limits

	// pullTurn rotates pullSomePeer over the members; pullFailed is when
	// a pull from each member last failed (cleared by a success).
	pullTurn   atomic.Uint64
	pullMu     sync.Mutex
	pullFailed map[string]time.Time

	jobs chan prefetchJob
	// prefetchPending counts jobs queued or running (a gauge).
	prefetchPending atomic.Int64
	metrics         clusterMetrics
}

// region is one immutable snapshot of the ring over the region's live
// edges, with the ordered sources for each owner other than this edge,
// built once per membership change so a miss allocates nothing.
type region struct {
	ring *ring.Ring
	srcs map[string][]cache.Source // owner → [that peer, then the origin]
	key  string                    // the members and URLs it was built from
}

// startCluster builds the region state and, when Config.Gossip is set,
// joins the region's gossip.
func (n *Node) startCluster() error {
	c := &cluster{
		n:       n,
		name:    n.name,
		peerURL: strings.TrimRight(n.cfg.PeerURL, "/"),
		token:   sha256.Sum256([]byte(n.cfg.PeerToken)),
		hc:      newPeerClient(n.cfg.Cache),
		jobs:    make(chan prefetchJob, prefetchQueue),
	}
	if c.peerURL == "" {
		c.peerURL = "http://" + reachableAddr(n.Addr())
	}
	c.metrics = newClusterMetrics(n.cfg.Registry, c)
	n.cl = c
	if n.cfg.Gossip == nil {
		return nil
	}
	gc := *n.cfg.Gossip
	gc.Join = slices.Clone(gc.Join)
	gc.Name = c.name
	gc.Meta = gossip.Meta{Region: n.cfg.Region, PublicURL: n.cfg.PublicURL, PeerURL: c.peerURL, Index: n.Index()}
	if gc.Logger == nil {
		gc.Logger = n.cfg.Logger.With("component", "gossip")
	}
	gc.OnMembers = c.rebuild
	gc.OnAnnounce = func(a gossip.Announcement) { n.catalogHint(a.Index, a.From.Meta.PeerURL) }
	if sh := newShare(map[byte]*limiter{shareChecks: n.limiter, shareStatsDevices: n.statsDevices,
		shareCheckApps: n.apps, shareStatsApps: n.statsApps}); len(sh.lims) > 0 && n.cfg.RateLimitShare > 0 {
		c.share = sh
		gc.OnMessage = sh.receive
	}
	g, err := gossip.New(gc)
	if err != nil {
		return fmt.Errorf("edge: gossip: %w", err)
	}
	c.g.Store(g)
	// OnMembers may have run before g was stored and found nothing.
	c.rebuild()
	n.log.Info("gossip started", "name", c.name, "region", n.cfg.Region, "gossip", g.Addr(), "peer_url", c.peerURL)
	return nil
}

// clusterLoop runs the pre-fetch workers until ctx ends. Gossip runs on
// goroutines of its own.
func (n *Node) clusterLoop(ctx context.Context) {
	var wg sync.WaitGroup
	for range prefetchWorkers {
		wg.Add(1)
		go func() { defer wg.Done(); n.cl.prefetchLoop(ctx) }()
	}
	if n.cl.share != nil {
		wg.Add(1)
		go func() { defer wg.Done(); n.cl.shareLoop(ctx, n.cfg.RateLimitShare) }()
	}
	wg.Wait()
}

// stopCluster leaves the gossip cluster, so peers drop this edge from
// their rings at once rather than after failure detection.
func (n *Node) stopCluster() {
	c := n.cl
	if g := c.g.Load(); g != nil {
		if err := g.Leave(leaveTimeout); err != nil {
			n.log.Warn("gossip leave failed; peers will detect the departure", "err", err)
		}
		if err := g.Close(); err != nil {
			n.log.Warn("gossip close failed", "err", err)
		}
	}
	c.hc.CloseIdleConnections()
}

// announce tells the region's peers that this edge installed a state.
// gossip.Announce also raises the Index in this edge's member metadata.
func (n *Node) announce(index uint64, digest [32]byte) {
	if g := n.cl.g.Load(); g != nil {
		g.Announce(index, digest)
	}
}

// resting reports a member whose last pull failed less than d ago.
func (c *cluster) resting(member string, now time.Time, d time.Duration) bool {
	c.pullMu.Lock()
	defer c.pullMu.Unlock()
	at, ok := c.pullFailed[member]
	return ok && now.Sub(at) < d
}

// notePull records how a pull from member went.
func (c *cluster) notePull(member string, err error, now time.Time) {
	c.pullMu.Lock()
	defer c.pullMu.Unlock()
	if err == nil {
		delete(c.pullFailed, member)
		return
	}
	if c.pullFailed == nil {
		c.pullFailed = map[string]time.Time{}
	}
	// Members come and go (pod names): forget old failures so the map
	// holds the recent ones only.
	for m, at := range c.pullFailed {
		if now.Sub(at) > time.Hour {
			delete(c.pullFailed, m)
		}
	}
	c.pullFailed[member] = now
}

// rebuild replaces the ring with one over the live members of this
// edge's region, itself included. Members that publish no PeerURL cannot
// be asked for anything, so they stay off the ring (every edge sees the
// same metadata, so all rings agree).
func (c *cluster) rebuild() {
	g := c.g.Load()
	if g == nil {
		return
	}
	c.rebuildMu.Lock()
	defer c.rebuildMu.Unlock()
	urls := map[string]string{c.name: c.peerURL}
	for _, m := range g.Members() {
		// Anti-entropy for the catalog: a member whose metadata says it
		// serves a newer index than ours is a hint, like an announcement
		// this edge missed (it joined later, or the broadcast was lost).
		if m.Name != c.name && m.Meta.Index > c.n.Index() && m.Meta.PeerURL != "" {
			c.n.catalogHint(m.Meta.Index, strings.TrimRight(m.Meta.PeerURL, "/"))
		}
		if m.Name != c.name && m.Meta.Region == c.n.cfg.Region && m.Meta.PeerURL != "" {
			urls[m.Name] = strings.TrimRight(m.Meta.PeerURL, "/")
		}
	}
	names := make([]string, 0, len(urls))
	var key strings.Builder
	for name := range urls {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		key.WriteString(name + "\x00" + urls[name] + "\x00")
	}
	// Metadata changes (a member's catalog Index) call OnMembers too;
	// they do not move owners.
	if old := c.rg.Load(); old != nil && old.key == key.String() {
		return
	}
	r := &region{ring: ring.New(names, 0), srcs: make(map[string][]cache.Source, len(names)), key: key.String()}
	for _, name := range names {
		if name != c.name {
			r.srcs[name] = append([]cache.Source{c.peerSource(name, urls[name])}, c.n.srcs...)
		}
	}
	c.rg.Store(r)
	c.n.log.Info("region ring changed", "region", c.n.cfg.Region, "members", names)
}

// sources is where a miss of object sha is filled from: the origin when
// this edge owns sha (or there is no ring), else the owner, then the
// origin. Lock-free: one atomic load and a map lookup.
func (c *cluster) sources(sha string) []cache.Source {
	r := c.rg.Load()
	if r == nil {
		return c.n.srcs
	}
	if s, ok := r.srcs[r.ring.Owner(sha)]; ok {
		return s
	}
	return c.n.srcs
}

// ringMembers is how many edges the ring holds (1 or 0 without gossip).
func (c *cluster) ringMembers() int {
	if r := c.rg.Load(); r != nil {
		return r.ring.Len()
	}
	return 0
}

// defaultName is Config.Name's default: the host name and device port.
func defaultName(addr string) string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "edge"
	}
	_, port, _ := net.SplitHostPort(addr)
	return host + ":" + port
}

// reachableAddr is addr with a wildcard bind address (0.0.0.0, ::)
// replaced by the host name: peers cannot dial a wildcard.
func reachableAddr(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		if h, err := os.Hostname(); err == nil && h != "" {
			return net.JoinHostPort(h, port)
		}
	}
	return net.JoinHostPort(host, port)
}

// GossipAddr is the address other edges join this one's gossip at, or ""
// without gossip.
func (n *Node) GossipAddr() string {
	if g := n.cl.g.Load(); g != nil {
		return g.Addr()
	}
	return ""
}
