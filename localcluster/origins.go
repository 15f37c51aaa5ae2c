// The origin nodes: building each one's configuration, starting them
// (alone or together), stopping them, and the in-memory raft links a test
// can cut.

package localcluster

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"sync"
	"time"

	"github.com/hashicorp/raft"

	"github.com/aloft/aloft/origin"
	"github.com/aloft/aloft/origin/api"
)

// AdminRetry is how long Origin.Admin retries a request a leader change
// refused.
const AdminRetry = 15 * time.Second

// Origin is one origin node of a Cluster. Its ID, URL and raft address
// stay the same across StopOrigin and StartOrigin: raft knows a member by
// its address, and remote edges know the URLs they were given.
type Origin struct {
	// ID is the node's raft id, "o1" to "o5".
	ID string
	// Admin is an operator client of this node with the admin token. It
	// keeps working across restarts (same URL), reads its own writes like
	// any api.Client, and retries through leader changes for up to
	// AdminRetry (one idempotency key per write): a 50 ms raft timer can
	// move leadership under a write at any time, and a test that checks
	// what the write did should not fail on when it ran. Tests of the
	// refusals themselves make a client of their own.
	Admin *api.Client

	c *Cluster
	i int

	mu       sync.Mutex
	url      string // set at the first start
	apiAddr  string // the bound addresses, pinned for restarts
	raftAddr string
	node     *origin.Node
	stop     context.CancelFunc
	done     chan error
	trans    *raft.InmemTransport // with Config.InmemRaft
}

// Node is the running node, or nil while it is stopped. StartOrigin
// replaces it with a new one.
func (o *Origin) Node() *origin.Node {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.node
}

// URL is the node's operator API base URL, the same after a restart.
func (o *Origin) URL() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.url
}

// config is the node's configuration for its next start: the local
// preset with this cluster's id, token and shared store, bootstrapping
// (o1) or joining o1 when fresh (a node with raft state ignores both),
// and after the first start the addresses it bound then.
func (o *Origin) config() origin.Config {
	c := o.c
	cfg := origin.LocalConfig(filepath.Join(c.dir, "origins", o.ID))
	cfg.NodeID, cfg.AdminToken, cfg.Blobs, cfg.Logger = o.ID, c.cfg.AdminToken, c.cfg.Blobs, c.cfg.Logger
	if o.i == 0 {
		cfg.Bootstrap = true
	} else {
		cfg.Join = []string{c.Origins[0].URL()}
	}
	o.mu.Lock()
	if o.apiAddr != "" {
		cfg.APIAddr = o.apiAddr
	}
	cfg.RaftAddr = "127.0.0.1:0"
	if o.raftAddr != "" {
		cfg.RaftAddr = o.raftAddr
	}
	o.mu.Unlock()
	if c.cfg.InmemRaft {
		cfg.RaftAddr, cfg.Transport = "", c.connect(o)
	}
	if c.cfg.TuneOrigin != nil {
		c.cfg.TuneOrigin(o.i, &cfg)
	}
	return cfg
}

// StartOrigin starts the stopped origins named by index, on their data
// directories and addresses, and returns once each has caught up with a
// leader. They start together: after every origin was stopped, no one of
// them finds a quorum alone.
func (c *Cluster) StartOrigin(ctx context.Context, idx ...int) error {
	nodes := make([]*origin.Node, 0, len(idx))
	abandon := func(err error) error {
		for _, n := range nodes {
			err = errors.Join(err, n.Run(canceled())) // closes what New opened
		}
		return err
	}
	for _, i := range idx {
		if i < 0 || i >= len(c.Origins) {
			return abandon(fmt.Errorf("localcluster: no origin %d", i))
		}
		if c.Origins[i].Node() != nil {
			return abandon(fmt.Errorf("localcluster: origin %s is running", c.Origins[i].ID))
		}
		n, err := origin.New(c.Origins[i].config())
		if err != nil {
			return abandon(fmt.Errorf("localcluster: origin %s: %w", c.Origins[i].ID, err))
		}
		nodes = append(nodes, n)
	}
	errs := make([]error, len(nodes))
	var wg sync.WaitGroup
	for k, n := range nodes {
		wg.Go(func() {
			if err := n.Start(ctx); err != nil {
				errs[k] = fmt.Errorf("localcluster: start origin %s: %w", c.Origins[idx[k]].ID, err)
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return abandon(err)
	}
	for k, n := range nodes {
		if err := c.Origins[idx[k]].run(ctx, n); err != nil {
			return err
		}
	}
	return nil
}

// run serves n as this origin until StopOrigin, and pins the addresses
// it bound at its first start.
func (o *Origin) run(ctx context.Context, n *origin.Node) error {
	rctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(rctx) }()
	o.mu.Lock()
	o.node, o.stop, o.done = n, stop, done
	first := o.url == ""
	if first {
		o.url, o.apiAddr = n.URL(), n.APIAddr()
		o.Admin = api.NewClient(o.url, o.c.cfg.AdminToken, &http.Client{Timeout: 30 * time.Second})
		o.Admin.SetRetry(AdminRetry)
	}
	o.mu.Unlock()
	if !first || o.c.cfg.InmemRaft {
		return nil
	}
	// The node's raft address, for its restarts: raft knows members by
	// it. The node tells it only through its API.
	st, err := o.Admin.NodeSelf(ctx)
	if err != nil {
		return fmt.Errorf("localcluster: origin %s's raft address: %w", o.ID, err)
	}
	o.mu.Lock()
	o.raftAddr = st.RaftAddr
	o.mu.Unlock()
	return nil
}

// StopOrigin stops origin i gracefully (a leader hands leadership off
// first) and waits for it; stopping a stopped origin does nothing. Its
// data stays for StartOrigin.
func (c *Cluster) StopOrigin(i int) error {
	o := c.Origins[i]
	o.mu.Lock()
	stop, done := o.stop, o.done
	o.node, o.stop, o.done = nil, nil, nil
	o.mu.Unlock()
	if stop == nil {
		return nil
	}
	stop()
	err := <-done
	if c.cfg.InmemRaft {
		// The others see it gone at once, as over TCP.
		c.linkMu.Lock()
		c.disconnect(o)
		o.trans = nil
		c.linkMu.Unlock()
	}
	if err != nil {
		return fmt.Errorf("localcluster: origin %s: %w", o.ID, err)
	}
	return nil
}

// connect makes a new in-memory raft transport for o and links it with
// every other origin's that is not cut off.
func (c *Cluster) connect(o *Origin) *raft.InmemTransport {
	_, t := raft.NewInmemTransport(raft.ServerAddress("inmem-" + o.ID))
	c.linkMu.Lock()
	defer c.linkMu.Unlock()
	o.trans = t
	for _, p := range c.Origins {
		if p != o && p.trans != nil && !c.isolated[o.i] && !c.isolated[p.i] {
			t.Connect(p.trans.LocalAddr(), p.trans)
			p.trans.Connect(t.LocalAddr(), t)
		}
	}
	return t
}

// disconnect cuts every raft link to and from o.
func (c *Cluster) disconnect(o *Origin) {
	if o.trans == nil {
		return
	}
	o.trans.DisconnectAll()
	for _, p := range c.Origins {
		if p != o && p.trans != nil {
			p.trans.Disconnect(o.trans.LocalAddr())
		}
	}
}

// Isolate cuts origin i's raft links to every other origin (its API
// stays reachable, so a client can still ask it, and be refused); Heal
// restores them. Only with Config.InmemRaft.
func (c *Cluster) Isolate(i int) error {
	if !c.cfg.InmemRaft {
		return errors.New("localcluster: Isolate needs Config.InmemRaft")
	}
	c.linkMu.Lock()
	defer c.linkMu.Unlock()
	c.isolated[i] = true
	c.disconnect(c.Origins[i])
	return nil
}

// Heal restores every raft link Isolate cut.
func (c *Cluster) Heal() error {
	if !c.cfg.InmemRaft {
		return errors.New("localcluster: Heal needs Config.InmemRaft")
	}
	c.linkMu.Lock()
	defer c.linkMu.Unlock()
	clear(c.isolated)
	for _, a := range c.Origins {
		for _, b := range c.Origins {
			if a != b && a.trans != nil && b.trans != nil {
				a.trans.Connect(b.trans.LocalAddr(), b.trans)
			}
		}
	}
	return nil
}

func canceled() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}
