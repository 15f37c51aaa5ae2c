// Cluster membership as the Node orchestrates it: joining at start,
// waiting until this node has caught up, and the duties of whichever node
// leads. Raft's side is in raft.go, the cluster routes in clusterapi.go.

package origin

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/hashicorp/raft"

	"github.com/aloft/aloft/origin/api"
)

// Join backoff: from the first value, doubling, up to the second.
const (
	joinBackoffMin = 100 * time.Millisecond
	joinBackoffMax = 5 * time.Second
)

// advertisedAPI is the API base URL other nodes use for this one;
// scheme is this node's own ("https" when it serves TLS).
func advertisedAPI(cfg *Config, scheme, bound string) (string, error) {
	if cfg.APIAdvertise != "" {
		return normalizeURL(cfg.APIAdvertise, scheme), nil
	}
	host, _, _ := net.SplitHostPort(bound)
	if ip := net.ParseIP(host); (cfg.RaftAddr != "" || cfg.Transport != nil) && ip != nil && ip.IsUnspecified() {
		return "", fmt.Errorf("origin: the API binds all interfaces (%s): set APIAdvertise (--api-advertise) to the URL other nodes reach it at", bound)
	}
	return scheme + "://" + bound, nil
}

// normalizeURL turns host:port into scheme://host:port and drops a
// trailing slash. A bare address takes this node's scheme: a cluster
// serves its API over TLS on every node or on none.
func normalizeURL(s, scheme string) string {
	s = strings.TrimRight(strings.TrimSpace(s), "/")
	if !strings.Contains(s, "://") {
		s = scheme + "://" + s
	}
	return s
}

// Start gets the node ready to serve: a fresh node joins the cluster
// (retrying until a member agrees), then Start waits until a leader
// exists and this node's state machine has caught up with it. The leader
// also does its duties (the empty catalog's first index, the admin token,
// its own member record) before Start returns.
func (n *Node) Start(ctx context.Context) error {
	if n.rn.needJoin {
		if err := n.join(ctx); err != nil {
			return err
		}
	}
	if err := n.rn.waitCaughtUp(ctx); err != nil {
		return err
	}
	if n.rn.raft.State() == raft.Leader {
		n.rn.leadership(time.Now())
		return n.leaderDuties(ctx)
	}
	if n.rn.memberURL(n.cfg.NodeID) != n.hs.apiURL {
		// Restarted at another address: tell the leader (a join of a
		// known node only updates its record). Not here but once Run
		// serves the API: after a whole-cluster restart every member is
		// in Start, none answers a join yet, and waiting here for one
		// would hold all of them until their contexts end.
		n.reannounce = true
	}
	return nil
}

// join asks the Join addresses, in turn and with backoff, to add this
// node, until one agrees or ctx ends.
func (n *Node) join(ctx context.Context) error {
	req := api.JoinRequest{NodeID: n.cfg.NodeID, RaftAddr: string(n.rn.trans.LocalAddr()), APIURL: n.hs.apiURL}
	targets := n.cfg.Join
	if len(targets) == 0 {
		// Known node re-announcing: any member will forward it.
		n.rn.fsm.read(func(s *state) {
			for id, m := range s.Members {
				if id != n.cfg.NodeID {
					targets = append(targets, m.APIURL)
				}
			}
		})
	}
	if len(targets) == 0 {
		return errors.New("origin: no member address to join through: pass --join with a member's API address")
	}
	hc := n.hs.memberClient(10 * time.Second)
	backoff := joinBackoffMin
	for attempt := 1; ; attempt++ {
		var errs []error
		for _, t := range targets {
			err := api.NewClient(normalizeURL(t, n.hs.scheme()), n.cfg.AdminToken, hc).Join(ctx, req)
			if err == nil {
				n.log.Info("joined the cluster", "via", t, "attempt", attempt)
				return nil
			}
			errs = append(errs, fmt.Errorf("%s: %w", t, err))
		}
		n.log.Warn("join failed; retrying", "attempt", attempt, "backoff", backoff, "err", errors.Join(errs...))
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("origin: join %v: %w (last errors: %w)", targets, ctx.Err(), errors.Join(errs...))
		case <-t.C:
		}
		backoff = min(2*backoff, joinBackoffMax)
	}
}

// leaderDuties are idempotent writes whichever node leads makes.
func (n *Node) leaderDuties(ctx context.Context) error {
	if n.svc.Catalog().Index == 0 {
		if _, err := n.rn.apply(ctx, cmdInitCatalog, "init-catalog", struct{}{}); err != nil {
			return err
		}
	}
	if n.rn.memberURL(n.cfg.NodeID) != n.hs.apiURL {
		if _, err := n.rn.apply(ctx, cmdSetMember, "", setMemberCmd{ID: n.cfg.NodeID, APIURL: n.hs.apiURL}); err != nil {
			return err
		}
	}
	if err := n.svc.ensureSigningKey(ctx); err != nil {
		return err
	}
	if n.cfg.AdminToken != "" {
		return n.svc.ensureToken(ctx, "admin", n.cfg.AdminToken)
	}
	return nil
}

// leaderLoop does the leader's duties each time this node wins an
// election, so a new leader's API address is known to the followers
// that forward to it.
func (n *Node) leaderLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case lead := <-n.rn.raft.LeaderCh():
			if !lead {
				continue
			}
			n.rn.leadership(time.Now())
			dctx, cancel := context.WithTimeout(ctx, n.cfg.ApplyTimeout)
			err := n.rn.raft.Barrier(n.cfg.ApplyTimeout).Error()
			if err == nil {
				err = n.leaderDuties(dctx)
			}
			cancel()
			if err != nil && ctx.Err() == nil {
				// The next election retries; until then followers may not
				// know where to forward (they answer no_leader).
				n.log.Warn("leader duties failed", "err", err)
			}
		}
	}
}
