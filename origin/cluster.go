// Cluster membership: bootstrapping or joining, waiting until this node
// has caught up, the duties of whichever node leads, handing leadership
// off at shutdown, and the cluster routes (join, status, remove).

package origin

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/raft"

	"github.com/aloft/aloft/origin/api"
)

// Join backoff: from the first value, doubling, up to the second.
const (
	joinBackoffMin = 100 * time.Millisecond
	joinBackoffMax = 5 * time.Second
)

// handOffTimeout bounds the leadership transfer at a graceful shutdown.
const handOffTimeout = 5 * time.Second

// openTransport opens the raft transport and returns this node's raft
// address as the others should dial it.
func (n *Node) openTransport() (raft.ServerAddress, error) {
	if n.cfg.Transport != nil {
		n.trans = n.cfg.Transport
		return n.trans.LocalAddr(), nil
	}
	if n.cfg.RaftAddr == "" {
		addr, t := raft.NewInmemTransport(raft.ServerAddress("inmem-" + n.cfg.NodeID))
		n.trans = t
		return addr, nil
	}
	var adv net.Addr
	if n.cfg.RaftAdvertise != "" {
		a, err := net.ResolveTCPAddr("tcp", n.cfg.RaftAdvertise)
		if err != nil {
			return "", fmt.Errorf("origin: raft advertise address %q: %w", n.cfg.RaftAdvertise, err)
		}
		adv = a
	}
	t, err := raft.NewTCPTransportWithLogger(n.cfg.RaftAddr, adv, 3, 10*time.Second, n.hclog())
	if err != nil {
		return "", fmt.Errorf("origin: raft transport on %s (set --raft-advertise when binding all interfaces): %w", n.cfg.RaftAddr, err)
	}
	n.trans = t
	return t.LocalAddr(), nil
}

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
	if n.needJoin {
		if err := n.join(ctx); err != nil {
			return err
		}
	}
	if err := n.waitCaughtUp(ctx); err != nil {
		return err
	}
	if n.raft.State() == raft.Leader {
		n.leadership(time.Now())
		return n.leaderDuties(ctx)
	}
	if n.memberURL(n.cfg.NodeID) != n.apiURL {
		// Restarted at another address: tell the leader (a join of a
		// known node only updates its record).
		return n.join(ctx)
	}
	return nil
}

// join asks the Join addresses, in turn and with backoff, to add this
// node, until one agrees or ctx ends.
func (n *Node) join(ctx context.Context) error {
	req := api.JoinRequest{NodeID: n.cfg.NodeID, RaftAddr: string(n.trans.LocalAddr()), APIURL: n.apiURL}
	targets := n.cfg.Join
	if len(targets) == 0 {
		// Known node re-announcing: any member will forward it.
		n.fsm.read(func(s *state) {
			for id, m := range s.Members {
				if id != n.cfg.NodeID {
					targets = append(targets, m.APIURL)
				}
			}
		})
	}
	hc := n.memberClient(10 * time.Second)
	backoff := joinBackoffMin
	for attempt := 1; ; attempt++ {
		var errs []error
		for _, t := range targets {
			err := api.NewClient(normalizeURL(t, n.scheme()), n.cfg.AdminToken, hc).Join(ctx, req)
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

// waitCaughtUp blocks until a leader exists and this node has applied
// what it knows to be committed, including the catalog's first index.
func (n *Node) waitCaughtUp(ctx context.Context) error {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		_, leader := n.raft.LeaderWithID()
		if leader != "" {
			if n.raft.State() == raft.Leader {
				// A fresh leader first commits a no-op; a barrier makes
				// the state machine current.
				return n.raft.Barrier(n.cfg.ApplyTimeout).Error()
			}
			commit, _ := strconv.ParseUint(n.raft.Stats()["commit_index"], 10, 64)
			if commit > 0 && n.raft.AppliedIndex() >= commit && n.Catalog().Index > 0 {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("origin: no leader, or not caught up with it (leader %q): %w", leader, ctx.Err())
		case <-t.C:
		}
	}
}

// leaderDuties are idempotent writes whichever node leads makes.
func (n *Node) leaderDuties(ctx context.Context) error {
	if n.Catalog().Index == 0 {
		if _, err := n.apply(ctx, cmdInitCatalog, "init-catalog", struct{}{}); err != nil {
			return err
		}
	}
	if n.memberURL(n.cfg.NodeID) != n.apiURL {
		if _, err := n.apply(ctx, cmdSetMember, "", setMemberCmd{ID: n.cfg.NodeID, APIURL: n.apiURL}); err != nil {
			return err
		}
	}
	if n.cfg.AdminToken != "" {
		return n.ensureToken(ctx, "admin", n.cfg.AdminToken)
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
		case lead := <-n.raft.LeaderCh():
			if !lead {
				continue
			}
			n.leadership(time.Now())
			dctx, cancel := context.WithTimeout(ctx, n.cfg.ApplyTimeout)
			err := n.raft.Barrier(n.cfg.ApplyTimeout).Error()
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

// handOff transfers leadership before a graceful shutdown, so the cluster
// takes writes again without waiting out an election timeout.
func (n *Node) handOff() {
	if n.raft == nil || n.raft.State() != raft.Leader {
		return
	}
	f := n.raft.GetConfiguration()
	if f.Error() != nil || len(f.Configuration().Servers) < 2 {
		return
	}
	done := make(chan error, 1)
	go func() { done <- n.raft.LeadershipTransfer().Error() }()
	select {
	case err := <-done:
		if err != nil {
			n.log.Warn("leadership hand-off failed; the others will elect one", "err", err)
		}
	case <-time.After(handOffTimeout):
		n.log.Warn("leadership hand-off timed out; the others will elect one")
	}
}

// errLocalBlobs refuses a cluster whose blobs would live apart: a bundle
// uploaded while one node led would be missing on the others.
var errLocalBlobs = fmt.Errorf("%w: a cluster needs a blob store every node shares: configure S3 on every node (--s3-endpoint, see docs/storage.md) or, if the blob directory is shared storage, --blobs-shared", ErrInvalid)

func (n *Node) sharedBlobs() bool { return n.cfg.BlobsShared || n.blobs.Shared() }

func (n *Node) postJoin(w http.ResponseWriter, r *http.Request) (int, any, error) {
	if !n.sharedBlobs() {
		return 0, nil, errLocalBlobs
	}
	var req api.JoinRequest
	if err := decodeBody(w, r, &req); err != nil {
		return 0, nil, err
	}
	if req.NodeID == "" || req.RaftAddr == "" || req.APIURL == "" {
		return 0, nil, invalid("a join needs node_id, raft_addr and api_url")
	}
	f := n.raft.AddVoter(raft.ServerID(req.NodeID), raft.ServerAddress(req.RaftAddr), 0, n.cfg.ApplyTimeout)
	if err := f.Error(); err != nil {
		return 0, nil, raftErr("add voter", err)
	}
	if _, err := n.apply(r.Context(), cmdSetMember, idemKey(r), setMemberCmd{ID: req.NodeID, APIURL: normalizeURL(req.APIURL, n.scheme())}); err != nil {
		return 0, nil, err
	}
	n.log.Info("node joined", "id", req.NodeID, "raft", req.RaftAddr, "api", req.APIURL)
	return http.StatusNoContent, nil, nil
}

func (n *Node) deleteMember(w http.ResponseWriter, r *http.Request) (int, any, error) {
	id := r.PathValue("id")
	known := false
	if f := n.raft.GetConfiguration(); f.Error() == nil {
		for _, s := range f.Configuration().Servers {
			known = known || string(s.ID) == id
		}
	}
	if !known {
		return 0, nil, fmt.Errorf("%w: no cluster member %q (see aloft cluster status)", ErrNotFound, id)
	}
	if err := n.raft.RemoveServer(raft.ServerID(id), 0, n.cfg.ApplyTimeout).Error(); err != nil {
		return 0, nil, raftErr("remove server", err)
	}
	_, err := n.apply(r.Context(), cmdDeleteMember, idemKey(r), deleteMemberCmd{ID: id})
	return http.StatusNoContent, nil, err
}

// raftErr maps raft's leadership errors to ErrNotLeader.
func raftErr(op string, err error) error {
	if errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) || errors.Is(err, raft.ErrLeadershipTransferInProgress) {
		return fmt.Errorf("%w: %s: %w", ErrNotLeader, op, err)
	}
	return fmt.Errorf("origin: %s: %w", op, err)
}

// self is this node's own status.
func (n *Node) self() api.NodeStatus {
	st := n.raft.Stats()
	commit, _ := strconv.ParseUint(st["commit_index"], 10, 64)
	_, leader := n.raft.LeaderWithID()
	s := api.NodeStatus{NodeID: n.cfg.NodeID, RaftAddr: string(n.trans.LocalAddr()), APIURL: n.apiURL,
		State: n.raft.State().String(), AppliedIndex: n.raft.AppliedIndex(), CommitIndex: commit,
		LeaderID: string(leader), LastContactMS: -1}
	if n.raft.State() == raft.Leader {
		s.LastContactMS = 0
	} else if lc := n.raft.LastContact(); !lc.IsZero() {
		s.LastContactMS = time.Since(lc).Milliseconds()
	}
	if f := n.raft.GetConfiguration(); f.Error() == nil {
		for _, srv := range f.Configuration().Servers {
			if string(srv.ID) == n.cfg.NodeID {
				s.Voter = srv.Suffrage == raft.Voter
			}
		}
	}
	return s
}

func (n *Node) getSelf(_ http.ResponseWriter, _ *http.Request) (int, any, error) {
	return http.StatusOK, n.self(), nil
}

// getCluster lists raft's configuration with each member's own report,
// asked of it with the caller's token.
func (n *Node) getCluster(_ http.ResponseWriter, r *http.Request) (int, any, error) {
	f := n.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return 0, nil, raftErr("configuration", err)
	}
	_, leader := n.raft.LeaderWithID()
	servers := f.Configuration().Servers
	out := api.ClusterStatus{LeaderID: string(leader), Nodes: make([]api.NodeStatus, len(servers))}
	hc := n.memberClient(2 * time.Second)
	var wg sync.WaitGroup
	for i, srv := range servers {
		id := string(srv.ID)
		if id == n.cfg.NodeID {
			out.Nodes[i] = n.self()
			continue
		}
		url := n.memberURL(id)
		base := api.NodeStatus{NodeID: id, RaftAddr: string(srv.Address), APIURL: url, Voter: srv.Suffrage == raft.Voter, LastContactMS: -1}
		if url == "" {
			base.Error = "no API address known for this node"
			out.Nodes[i] = base
			continue
		}
		wg.Go(func() {
			ns, err := api.NewClient(url, bearer(r), hc).NodeSelf(r.Context())
			if err != nil {
				base.Error = err.Error()
				out.Nodes[i] = base
				return
			}
			ns.Voter = base.Voter
			out.Nodes[i] = ns
		})
	}
	wg.Wait()
	return http.StatusOK, out, nil
}
