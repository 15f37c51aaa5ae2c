// The cluster as a whole: starting it, finding its leader, waiting for
// its edges, and closing it.

package localcluster

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/raft"

	"github.com/aloft/aloft/blobstore"
	"github.com/aloft/aloft/internal/wait"
	"github.com/aloft/aloft/origin/api"
)

// Cluster is a running cluster. Its methods are safe to call from
// several goroutines, but stopping and starting one node from two at
// once is not meaningful.
type Cluster struct {
	// Origins are the origin nodes, o1 first.
	Origins []*Origin
	// Edges are the edges, in Config.Edges order.
	Edges []*Edge

	cfg     Config
	dir     string
	tempDir bool

	linkMu   sync.Mutex // in-memory raft links (Config.InmemRaft)
	isolated map[int]bool
}

// Start starts the cluster cfg describes: o1 bootstraps, the other
// origins join it one by one, then the edges start in order. It returns
// once every origin has caught up with the leader and every edge is
// running (not yet synced: see WaitAll). On an error it stops what it
// started.
func Start(ctx context.Context, cfg Config) (*Cluster, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	c := &Cluster{cfg: cfg, dir: cfg.Dir, isolated: map[int]bool{}}
	if c.dir == "" {
		if c.dir, err = os.MkdirTemp("", "localcluster-"); err != nil {
			return nil, fmt.Errorf("localcluster: %w", err)
		}
		c.tempDir = true
	}
	if c.cfg.Blobs == nil {
		c.cfg.Blobs = blobstore.NewSharedMem()
	}
	for i := range cfg.Origins {
		c.Origins = append(c.Origins, &Origin{ID: fmt.Sprint("o", i+1), c: c, i: i})
	}
	for _, s := range cfg.Edges {
		c.Edges = append(c.Edges, &Edge{Spec: s, c: c})
	}
	// One at a time: a node joins through o1, and raft takes one
	// configuration change at a time anyway.
	for i := range c.Origins {
		if err := c.StartOrigin(ctx, i); err != nil {
			return nil, errors.Join(err, c.Close())
		}
	}
	for _, e := range c.Edges {
		if err := e.start(); err != nil {
			return nil, errors.Join(err, c.Close())
		}
	}
	return c, nil
}

// Admin is an operator client of origin i with the admin token
// (Origins[i].Admin).
func (c *Cluster) Admin(i int) *api.Client { return c.Origins[i].Admin }

// OriginURLs is every origin's API URL, comma-separated, in order: what
// a remote edge (or `aloft edge --origin`) is given.
func (c *Cluster) OriginURLs() string {
	urls := make([]string, len(c.Origins))
	for i, o := range c.Origins {
		urls[i] = o.URL()
	}
	return strings.Join(urls, ",")
}

// Leader waits until exactly one running origin says it leads and
// returns its index. Two claims (a deposed leader that has not yet
// noticed) count as none.
func (c *Cluster) Leader(ctx context.Context) (int, error) {
	hc := &http.Client{Timeout: time.Second}
	leader := -1
	err := wait.Until(ctx, 10*time.Millisecond, func() bool {
		leader = -1
		claims := 0
		for i, o := range c.Origins {
			if o.Node() == nil {
				continue
			}
			st, err := api.NewClient(o.URL(), c.cfg.AdminToken, hc).NodeSelf(ctx)
			if err == nil && st.State == raft.Leader.String() {
				leader, claims = i, claims+1
			}
		}
		return claims == 1
	})
	if err != nil {
		return -1, fmt.Errorf("localcluster: no leader: %w", err)
	}
	return leader, nil
}

// WaitEdges waits until every running edge serves a catalog at index or
// later.
func (c *Cluster) WaitEdges(ctx context.Context, index uint64) error {
	for _, e := range c.Edges {
		n := e.Node()
		if n == nil {
			continue
		}
		if err := n.WaitIndex(ctx, index); err != nil {
			return fmt.Errorf("localcluster: edge %s serves index %d, want %d: %w", e.Name(), n.Index(), index, err)
		}
	}
	return nil
}

// WaitAll waits until every running edge serves the leader's catalog
// index (as it is when WaitAll finds the leader) and returns that index.
func (c *Cluster) WaitAll(ctx context.Context) (uint64, error) {
	l, err := c.Leader(ctx)
	if err != nil {
		return 0, err
	}
	n := c.Origins[l].Node()
	if n == nil {
		return 0, fmt.Errorf("localcluster: the leader %s stopped", c.Origins[l].ID)
	}
	idx := n.Catalog().Index
	return idx, c.WaitEdges(ctx, idx)
}

// Close stops every edge (first, so their last stats reach the
// origins), then every origin, and removes the data directory Start
// made. It is safe to call more than once.
func (c *Cluster) Close() error {
	var errs []error
	var mu sync.Mutex
	var wg sync.WaitGroup
	collect := func(err error) {
		mu.Lock()
		errs = append(errs, err)
		mu.Unlock()
	}
	for i := range c.Edges {
		wg.Go(func() { collect(c.StopEdge(i)) })
	}
	wg.Wait()
	// Together: stopped one by one, each leader would hand off to the
	// next node to go.
	for i := range c.Origins {
		wg.Go(func() { collect(c.StopOrigin(i)) })
	}
	wg.Wait()
	if c.tempDir {
		collect(os.RemoveAll(c.dir))
		c.tempDir = false
	}
	return errors.Join(errs...)
}
