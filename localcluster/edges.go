// The edges: building each one's configuration from its spec, starting,
// stopping and restarting them on the same data and addresses.

package localcluster

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"sync"

	"github.com/aloft/aloft/edge"
	"github.com/aloft/aloft/gossip"
)

// Edge is one edge of a Cluster. Its device address (URL) and gossip
// address stay the same across StopEdge and RestartEdge.
type Edge struct {
	// Spec is what the edge was started from, its Name filled in.
	Spec EdgeSpec

	c *Cluster

	mu         sync.Mutex
	addr       string // bound at the first start, pinned for restarts
	gossipAddr string
	node       *edge.Node
	stop       context.CancelFunc
	done       chan error
}

// Name is the edge's name.
func (e *Edge) Name() string { return e.Spec.Name }

// Node is the running edge, or nil while it is stopped. RestartEdge
// replaces it with a new one.
func (e *Edge) Node() *edge.Node {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.node
}

// URL is the edge's device-facing base URL, "http://127.0.0.1:port",
// the same after a restart.
func (e *Edge) URL() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return "http://" + e.addr
}

// GossipAddr is the address other edges join this one's gossip at (""
// without gossip), the same after a restart.
func (e *Edge) GossipAddr() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.gossipAddr
}

// config builds the edge's configuration for its next start. A remote
// edge gets a new RemoteOrigin each time, as a restarted process would.
func (e *Edge) config() (edge.Config, error) {
	s, c := e.Spec, e.c
	cfg := edge.LocalConfig()
	cfg.Name, cfg.Region, cfg.PeerToken, cfg.Logger = s.Name, s.Region, c.cfg.PeerToken, c.cfg.Logger
	dir := filepath.Join(c.dir, "edges", s.Name)
	if s.DataDir {
		cfg.DataDir = filepath.Join(dir, "data")
	}
	if s.Spool {
		cfg.SpoolDir = filepath.Join(dir, "spool")
	}
	if s.InProcess {
		n := c.Origins[s.Origin].Node()
		if n == nil {
			return cfg, fmt.Errorf("localcluster: edge %s calls origin %s, which is stopped", s.Name, c.Origins[s.Origin].ID)
		}
		cfg.Origin = n
	} else {
		urls := s.OriginURL
		if urls == "" {
			urls = c.OriginURLs()
		}
		cfg.Origin = edge.NewRemoteOrigin(urls, c.cfg.AdminToken)
	}
	e.mu.Lock()
	if e.addr != "" {
		cfg.Addr = e.addr
	}
	gaddr := e.gossipAddr
	e.mu.Unlock()
	if s.Gossip {
		g := gossip.LocalConfig()
		if gaddr != "" {
			// The same port: peers that saw it leave take it back at once.
			_, port, _ := net.SplitHostPort(gaddr)
			g.BindPort, _ = strconv.Atoi(port)
		}
		for _, p := range c.Edges {
			if a := p.GossipAddr(); p != e && a != "" && p.Node() != nil {
				g.Join = append(g.Join, a)
			}
		}
		cfg.Gossip = &g
	}
	if s.Tune != nil {
		s.Tune(&cfg)
	}
	return cfg, nil
}

// start builds and runs the edge. edge.New loads the data directory, so
// when start returns a restarted edge already serves what it kept.
func (e *Edge) start() error {
	cfg, err := e.config()
	if err != nil {
		return err
	}
	n, err := edge.New(cfg)
	if err != nil {
		return fmt.Errorf("localcluster: edge %s: %w", e.Spec.Name, err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	e.mu.Lock()
	e.node, e.stop, e.done = n, stop, done
	e.addr, e.gossipAddr = n.Addr(), n.GossipAddr()
	e.mu.Unlock()
	return nil
}

// AddEdge starts one more edge, as if it had been the last of
// Config.Edges (a default name "e<N>", N its place in Edges), and
// appends it to Edges: for edges configured from what the running
// cluster holds (keys it signs with, say), or that join later. Call it
// from the goroutine that owns the cluster: Edges grows.
func (c *Cluster) AddEdge(s EdgeSpec) (*Edge, error) {
	specs := make([]EdgeSpec, 0, len(c.Edges)+1)
	for _, e := range c.Edges {
		specs = append(specs, e.Spec)
	}
	cfg := c.cfg
	cfg.Edges = append(specs, s)
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	e := &Edge{Spec: cfg.Edges[len(cfg.Edges)-1], c: c}
	if err := e.start(); err != nil {
		return nil, err
	}
	c.Edges = append(c.Edges, e)
	return e, nil
}

// StopEdge stops edge i and waits for it (it ships its last stats for up
// to 5 s first, as at any shutdown); stopping a stopped edge does
// nothing. Its data directory and spool stay for RestartEdge.
func (c *Cluster) StopEdge(i int) error {
	e := c.Edges[i]
	e.mu.Lock()
	stop, done := e.stop, e.done
	e.node, e.stop, e.done = nil, nil, nil
	e.mu.Unlock()
	if stop == nil {
		return nil
	}
	stop()
	if err := <-done; err != nil {
		return fmt.Errorf("localcluster: edge %s: %w", e.Spec.Name, err)
	}
	return nil
}

// RestartEdge stops edge i if it runs and starts it again with the same
// spec, data directory and addresses. With EdgeSpec.DataDir the new edge
// serves its last verified catalog as soon as RestartEdge returns,
// whether or not any origin is up.
func (c *Cluster) RestartEdge(i int) error {
	if err := c.StopEdge(i); err != nil {
		return err
	}
	return c.Edges[i].start()
}
