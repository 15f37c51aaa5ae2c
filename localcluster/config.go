// The cluster's configuration: how many origins, which edges, and the
// tweaks a test or the bench applies to each node's own Config.

package localcluster

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/aloft/aloft/edge"
	"github.com/aloft/aloft/origin"
)

// DefaultAdminToken is the admin token of a cluster whose Config names
// none. It is a test secret: every cluster on loopback shares it.
const DefaultAdminToken = "localcluster-admin-token-0123456789"

// DefaultPeerToken is the edges' peer secret when Config names none.
const DefaultPeerToken = "localcluster-peer-token-0123456789"

// Config describes a cluster for Start.
type Config struct {
	// Origins is the number of origin nodes: 1, 3 or 5 (an even count
	// tolerates no more failures than the odd one below it). Default 1.
	// Node i is named "o<i+1>"; o1 bootstraps, the others join it.
	Origins int
	// Edges are started in order once every origin is up.
	Edges []EdgeSpec
	// AdminToken is every origin's admin token, what Admin clients and
	// remote edges authenticate with. Default DefaultAdminToken.
	AdminToken string
	// PeerToken is the secret edges present on each other's peer routes.
	// Default DefaultPeerToken.
	PeerToken string
	// Dir holds every node's data (<Dir>/origins/o1, <Dir>/edges/e1, …).
	// Default a new temporary directory, removed by Close; a given one is
	// left in place.
	Dir string
	// Blobs is the store every origin shares (a cluster refuses
	// node-local stores). Default blobstore.NewSharedMem().
	Blobs origin.BlobStore
	// InmemRaft carries raft over in-memory transports connected to each
	// other instead of loopback TCP, so a test can cut a node off
	// (Cluster.Isolate) and heal it. The operator API stays real HTTP.
	InmemRaft bool
	// TuneOrigin adjusts origin i's configuration after the harness's
	// choices (origin.LocalConfig, ids, addresses, bootstrap or join) and
	// before New, at its first start and at every restart.
	TuneOrigin func(i int, c *origin.Config)
	// Logger receives every node's logs. Nil: the nodes' own default
	// (slog.Default).
	Logger *slog.Logger
}

// EdgeSpec describes one edge.
type EdgeSpec struct {
	// Name is the edge's name (to the origin's edge list and its gossip
	// peers); unique. Default "e<N>", N its 1-based place in Config.Edges.
	Name string
	// Region groups edges that fill their caches from each other.
	Region string
	// InProcess makes the edge call origin node Origin directly, as
	// `aloft dev` wires it, instead of over HTTP. The edge holds that
	// node: after StopOrigin/StartOrigin of it, RestartEdge the edge too.
	InProcess bool
	// Origin is the index in Cluster.Origins of an in-process edge's node.
	Origin int
	// OriginURL, when set, is the comma-separated origin list a remote
	// edge is given instead of every origin's URL: one node only, or an
	// address where nothing listens to cut the edge off the origins.
	OriginURL string
	// DataDir keeps the edge's last verified catalog in
	// <Dir>/edges/<Name>/data, so a restarted edge serves from it at once
	// with the origins down.
	DataDir bool
	// Spool keeps the edge's stats batches in <Dir>/edges/<Name>/spool.
	Spool bool
	// Gossip joins the edge to the cluster's gossip (gossip.LocalConfig,
	// joining the edges that already gossip), with the peer token set.
	Gossip bool
	// Tune adjusts the edge's configuration after the harness's choices
	// (edge.LocalConfig, name, region, origin, directories, gossip) and
	// before edge.New, at the first start and at every restart; it may
	// wrap cfg.Origin.
	Tune func(*edge.Config)
}

// withDefaults fills what Config leaves empty (Dir and Blobs are filled
// by Start) and refuses what cannot work.
func (c Config) withDefaults() (Config, error) {
	if c.Origins == 0 {
		c.Origins = 1
	}
	if c.Origins != 1 && c.Origins != 3 && c.Origins != 5 {
		return c, fmt.Errorf("localcluster: %d origins; run 1, 3 or 5", c.Origins)
	}
	if c.AdminToken == "" {
		c.AdminToken = DefaultAdminToken
	}
	if c.PeerToken == "" {
		c.PeerToken = DefaultPeerToken
	}
	c.Edges = append([]EdgeSpec(nil), c.Edges...)
	names := map[string]bool{}
	for i := range c.Edges {
		s := &c.Edges[i]
		if s.Name == "" {
			s.Name = fmt.Sprint("e", i+1)
		}
		if names[s.Name] {
			return c, fmt.Errorf("localcluster: two edges named %q", s.Name)
		}
		names[s.Name] = true
		if s.InProcess && (s.Origin < 0 || s.Origin >= c.Origins) {
			return c, fmt.Errorf("localcluster: edge %s calls origin %d of %d", s.Name, s.Origin, c.Origins)
		}
		if s.InProcess && s.OriginURL != "" {
			return c, errors.New("localcluster: edge " + s.Name + " is in process: it has no OriginURL")
		}
	}
	return c, nil
}
