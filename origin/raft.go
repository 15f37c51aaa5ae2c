// The raft side of an origin node: the log and snapshot stores, the
// transport, starting raft (bootstrapping a first node), committing
// commands, and what this node knows of leadership. It knows nothing of
// HTTP, blobs or the catalog's meaning: the FSM applies, the catalog
// service decides what to commit.

package origin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"go.etcd.io/bbolt"

	"github.com/aloft/aloft/origin/api"
)

// handOffTimeout bounds the leadership transfer at a graceful shutdown.
const handOffTimeout = 5 * time.Second

// raftNode is this node's member of the raft cluster.
type raftNode struct {
	cfg    *Config
	log    *slog.Logger
	fsm    *fsm
	raft   *raft.Raft
	trans  raft.Transport
	stores []interface{ Close() error }
	// fresh is true when raft had no state at start; needJoin when such a
	// node must ask the cluster to add it.
	fresh, needJoin bool
	leadMu          sync.Mutex // guards leadTerm and leadSince
	leadTerm        uint64     // the raft term leadSince belongs to
	leadSince       time.Time  // when this node was first seen leading in leadTerm
}

// leading reports whether this node is the raft leader now.
func (rn *raftNode) leading() bool { return rn.raft.State() == raft.Leader }

// multiNode reports whether raft's configuration has other servers.
func (rn *raftNode) multiNode() bool {
	f := rn.raft.GetConfiguration()
	return f.Error() == nil && len(f.Configuration().Servers) > 1
}

// boltLockTimeout bounds waiting for another process's lock on the raft log.
var boltLockTimeout = 10 * time.Second

func (rn *raftNode) open() error {
	dir := filepath.Join(rn.cfg.DataDir, "raft")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("origin: raft dir: %w", err)
	}
	// bolt locks its file; without a timeout a second process on the same
	// data directory (or a restart racing the old one's exit) waits forever.
	store, err := raftboltdb.New(raftboltdb.Options{Path: filepath.Join(dir, "raft.db"), BoltOptions: &bbolt.Options{Timeout: boltLockTimeout}})
	if err != nil {
		return fmt.Errorf("origin: open raft log %s (another aloft on this data directory?): %w", filepath.Join(dir, "raft.db"), err)
	}
	rn.stores = append(rn.stores, store)
	snaps, err := raft.NewFileSnapshotStoreWithLogger(dir, 2, rn.hclog())
	if err != nil {
		return fmt.Errorf("origin: snapshot store: %w", err)
	}
	addr, err := rn.openTransport()
	if err != nil {
		return err
	}
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(rn.cfg.NodeID)
	rc.HeartbeatTimeout, rc.ElectionTimeout, rc.LeaderLeaseTimeout = rn.cfg.HeartbeatTimeout, rn.cfg.ElectionTimeout, rn.cfg.LeaderLeaseTimeout
	rc.Logger = rn.hclog()
	existing, err := raft.HasExistingState(store, store, snaps)
	if err != nil {
		return fmt.Errorf("origin: inspect raft state: %w", err)
	}
	rn.fresh = !existing
	switch {
	case existing:
	case (rn.cfg.RaftAddr == "" && rn.cfg.Transport == nil) || rn.cfg.Bootstrap:
		boot := raft.Configuration{Servers: []raft.Server{{ID: rc.LocalID, Address: addr}}}
		if err := raft.BootstrapCluster(rc, store, store, snaps, rn.trans, boot); err != nil {
			return fmt.Errorf("origin: bootstrap raft: %w", err)
		}
	case len(rn.cfg.Join) > 0:
		rn.needJoin = true // raft starts empty and waits for the leader
	default:
		return fmt.Errorf("origin: %s has no raft state: start the first node of a new cluster with --bootstrap, the others with --join ADDR", rn.cfg.DataDir)
	}
	r, err := raft.NewRaft(rc, rn.fsm, store, store, snaps, rn.trans)
	if err != nil {
		return fmt.Errorf("origin: start raft: %w", err)
	}
	rn.raft = r
	return nil
}

// hclog routes raft's logs into the node's slog logger, so a test's
// discard logger silences raft too. Warnings stay out: raft warns on every
// ordinary election ("heartbeat timeout reached"), which a lone dev node
// goes through at each start; errors still show.
func (rn *raftNode) hclog() hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{Name: "raft", Level: hclog.Error, Output: slogWriter{rn.log}, DisableTime: true})
}

type slogWriter struct{ l *slog.Logger }

func (w slogWriter) Write(p []byte) (int, error) {
	w.l.Error(strings.TrimSpace(string(p)))
	return len(p), nil
}

// waitLeader blocks until this node leads (or ctx ends); a single node
// elects itself within a few election timeouts.
func (rn *raftNode) waitLeader(ctx context.Context) error {
	obs := make(chan raft.Observation, 4)
	o := raft.NewObserver(obs, false, nil)
	rn.raft.RegisterObserver(o)
	defer rn.raft.DeregisterObserver(o)
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for rn.raft.State() != raft.Leader {
		select {
		case <-ctx.Done():
			return fmt.Errorf("origin: no leadership: %w", ctx.Err())
		case <-obs:
		case <-t.C:
		}
	}
	return nil
}

func (rn *raftNode) shutdown() {
	if rn.raft != nil {
		if err := rn.raft.Shutdown().Error(); err != nil {
			rn.log.Warn("raft shutdown", "err", err)
		}
	}
	if c, ok := rn.trans.(interface{ Close() error }); ok {
		_ = c.Close()
	}
	rn.closeStores()
}

func (rn *raftNode) closeStores() {
	for _, s := range rn.stores {
		_ = s.Close()
	}
	rn.stores = nil
}

// apply commits one command through raft and returns the FSM's result.
// key makes retries safe; an empty key gets a fresh one. The actor is the
// token ctx was authenticated with (withActor), else this node itself.
func (rn *raftNode) apply(ctx context.Context, t CommandType, key string, payload any) (result, error) {
	if key == "" {
		key = api.NewIdempotencyKey()
	}
	actor := actorOf(ctx)
	if actor == "" {
		actor = "origin:" + rn.cfg.NodeID
	}
	b, err := encodeCommand(t, key, actor, time.Now().UnixMilli(), payload)
	if err != nil {
		return result{}, err
	}
	timeout := rn.cfg.ApplyTimeout
	if dl, ok := ctx.Deadline(); ok {
		timeout = min(timeout, time.Until(dl))
	}
	f := rn.raft.Apply(b, timeout)
	if err := f.Error(); err != nil {
		if errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) {
			return result{}, fmt.Errorf("%w: %w", ErrNotLeader, err)
		}
		return result{}, fmt.Errorf("origin: raft apply: %w", err)
	}
	r, _ := f.Response().(result)
	return r, r.Err
}

// openTransport opens the raft transport and returns this node's raft
// address as the others should dial it.
func (rn *raftNode) openTransport() (raft.ServerAddress, error) {
	if rn.cfg.Transport != nil {
		rn.trans = rn.cfg.Transport
		return rn.trans.LocalAddr(), nil
	}
	if rn.cfg.RaftAddr == "" {
		addr, t := raft.NewInmemTransport(raft.ServerAddress("inmem-" + rn.cfg.NodeID))
		rn.trans = t
		return addr, nil
	}
	var adv net.Addr
	if rn.cfg.RaftAdvertise != "" {
		a, err := net.ResolveTCPAddr("tcp", rn.cfg.RaftAdvertise)
		if err != nil {
			return "", fmt.Errorf("origin: raft advertise address %q: %w", rn.cfg.RaftAdvertise, err)
		}
		adv = a
	}
	t, err := raft.NewTCPTransportWithLogger(rn.cfg.RaftAddr, adv, 3, 10*time.Second, rn.hclog())
	if err != nil {
		return "", fmt.Errorf("origin: raft transport on %s (set --raft-advertise when binding all interfaces): %w", rn.cfg.RaftAddr, err)
	}
	rn.trans = t
	return t.LocalAddr(), nil
}

// waitCaughtUp blocks until a leader exists and this node has applied
// what it knows to be committed, including the catalog's first index.
func (rn *raftNode) waitCaughtUp(ctx context.Context) error {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	var lastCommit uint64
	steady := 0
	for {
		_, leader := rn.raft.LeaderWithID()
		if leader != "" {
			if rn.raft.State() == raft.Leader {
				// A fresh leader first commits a no-op; a barrier makes
				// the state machine current. Replaying a long log can
				// outlast one barrier's enqueue timeout: wait for ctx,
				// not for ApplyTimeout.
				err := rn.raft.Barrier(rn.cfg.ApplyTimeout).Error()
				if !errors.Is(err, raft.ErrEnqueueTimeout) || ctx.Err() != nil {
					return err
				}
				continue
			}
			// A follower learns the leader's commit index only with the
			// entries it is sent, so the first answer may be part of the
			// way: the commit index must also hold still for a few polls
			// (several heartbeat rounds) before the follower counts as
			// caught up.
			commit, _ := strconv.ParseUint(rn.raft.Stats()["commit_index"], 10, 64)
			if commit > 0 && commit == lastCommit && rn.raft.AppliedIndex() >= commit && rn.fsm.index() > 0 {
				if steady++; steady >= 3 {
					return nil
				}
			} else {
				steady = 0
			}
			lastCommit = commit
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("origin: no leader, or not caught up with it (leader %q): %w", leader, ctx.Err())
		case <-t.C:
		}
	}
}

// handOff transfers leadership before a graceful shutdown, so the cluster
// takes writes again without waiting out an election timeout.
func (rn *raftNode) handOff() {
	if rn.raft == nil || rn.raft.State() != raft.Leader {
		return
	}
	f := rn.raft.GetConfiguration()
	if f.Error() != nil || len(f.Configuration().Servers) < 2 {
		return
	}
	done := make(chan error, 1)
	go func() { done <- rn.raft.LeadershipTransfer().Error() }()
	select {
	case err := <-done:
		if err != nil {
			rn.log.Warn("leadership hand-off failed; the others will elect one", "err", err)
		}
	case <-time.After(handOffTimeout):
		rn.log.Warn("leadership hand-off timed out; the others will elect one")
	}
}

// raftErr maps raft's leadership errors to ErrNotLeader.
func raftErr(op string, err error) error {
	if errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) || errors.Is(err, raft.ErrLeadershipTransferInProgress) {
		return fmt.Errorf("%w: %s: %w", ErrNotLeader, op, err)
	}
	return fmt.Errorf("origin: %s: %w", op, err)
}

// gcGrace is how long this node must still keep every blob after winning
// leadership of a multi-node cluster (0: none). A lone node has had no
// predecessor whose marks it lacks.
func (rn *raftNode) gcGrace(now time.Time) time.Duration {
	since := rn.leadership(now)
	if !rn.multiNode() {
		return 0
	}
	return max(0, minUsedWindow-now.Sub(since))
}

// leadership returns when this node began leading in the current raft
// term, recording now if this is the first it hears of that term. Called
// by the leadership loop and by the collector, whichever runs first: the
// loop hears of an election asynchronously, and a later start only
// lengthens the grace, which is the safe side.
func (rn *raftNode) leadership(now time.Time) time.Time {
	term, _ := strconv.ParseUint(rn.raft.Stats()["term"], 10, 64)
	rn.leadMu.Lock()
	defer rn.leadMu.Unlock()
	if term != rn.leadTerm || rn.leadSince.IsZero() {
		rn.leadTerm, rn.leadSince = term, now
	}
	return rn.leadSince
}

// memberURL returns the API URL of node id, "" when unknown.
func (rn *raftNode) memberURL(id string) string {
	var u string
	rn.fsm.read(func(s *state) { u = s.Members[id].APIURL })
	return u
}
