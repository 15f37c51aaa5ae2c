package origin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/aloft/aloft/origin/api"
)

type testPeer struct {
	id    raft.ServerID
	fsm   *fsm
	raft  *raft.Raft
	trans *raft.InmemTransport
}

// poll waits for cond, failing the test after timeout.
func poll(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

// startCluster starts n raft nodes over the in-memory transport with 50 ms
// timers, each with this package's FSM.
func startCluster(t *testing.T, n int) []*testPeer {
	peers := make([]*testPeer, n)
	var servers []raft.Server
	for i := range peers {
		id := raft.ServerID(fmt.Sprint("n", i))
		addr, trans := raft.NewInmemTransport(raft.ServerAddress(id))
		peers[i] = &testPeer{id: id, fsm: newFSM(), trans: trans}
		servers = append(servers, raft.Server{ID: id, Address: addr})
	}
	for _, a := range peers {
		for _, b := range peers {
			if a != b {
				a.trans.Connect(b.trans.LocalAddr(), b.trans)
			}
		}
	}
	for _, p := range peers {
		c := raft.DefaultConfig()
		c.LocalID = p.id
		c.HeartbeatTimeout, c.ElectionTimeout, c.LeaderLeaseTimeout, c.CommitTimeout = 150*time.Millisecond, 150*time.Millisecond, 150*time.Millisecond, 5*time.Millisecond
		c.LogLevel = "error"
		logs, snaps := raft.NewInmemStore(), raft.NewInmemSnapshotStore()
		if err := raft.BootstrapCluster(c, logs, logs, snaps, p.trans, raft.Configuration{Servers: servers}); err != nil {
			t.Fatal(err)
		}
		r, err := raft.NewRaft(c, p.fsm, logs, logs, snaps, p.trans)
		if err != nil {
			t.Fatal(err)
		}
		p.raft = r
	}
	t.Cleanup(func() {
		for _, p := range peers {
			_ = p.raft.Shutdown().Error()
		}
	})
	return peers
}

func leader(t *testing.T, peers []*testPeer, exclude *testPeer) *testPeer {
	var l *testPeer
	poll(t, 10*time.Second, "a leader", func() bool {
		for _, p := range peers {
			if p != exclude && p.raft.State() == raft.Leader {
				l = p
				return true
			}
		}
		return false
	})
	return l
}

func applyOn(p *testPeer, c Command) error {
	b, _ := json.Marshal(c)
	return p.raft.Apply(b, 2*time.Second).Error()
}

// applyOnLeader commits c through whichever peer leads (never exclude).
// A pause on a loaded machine can cost a leader its lease mid-test; the
// command's idempotency key makes the retry on the next leader safe.
func applyOnLeader(t *testing.T, peers []*testPeer, exclude *testPeer, c Command) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := applyOn(leader(t, peers, exclude), c)
		if err == nil {
			return
		}
		if !errors.Is(err, raft.ErrNotLeader) && !errors.Is(err, raft.ErrLeadershipLost) || time.Now().After(deadline) {
			t.Fatalf("apply %s: %v", c.Key, err)
		}
	}
}

func TestCluster_ReplicatesAndSurvivesLeaderLoss(t *testing.T) {
	peers := startCluster(t, 3)
	cmds := randomCommands(t, 42, 60)
	for _, c := range cmds[:40] {
		applyOnLeader(t, peers, nil, c)
	}
	l := leader(t, peers, nil)
	// raft's AppliedIndex runs ahead of the FSM (it is set when entries are
	// handed to it), so wait on the index the FSM itself has applied.
	fsmIndex := func(p *testPeer) (idx uint64) {
		p.fsm.read(func(s *state) { idx = s.Index })
		return idx
	}
	want := l.raft.LastIndex()
	poll(t, 10*time.Second, "every FSM to apply the writes", func() bool {
		for _, p := range peers {
			if fsmIndex(p) < want {
				return false
			}
		}
		return true
	})
	l.fsm.mu.RLock()
	d := digest(t, l.fsm.s)
	l.fsm.mu.RUnlock()
	for _, p := range peers {
		p.fsm.mu.RLock()
		got := digest(t, p.fsm.s)
		p.fsm.mu.RUnlock()
		if got != d {
			t.Fatalf("%s digest differs", p.id)
		}
	}

	// Cut the leader off: alone it cannot commit; the majority elects a new
	// leader that holds every acknowledged write and accepts new ones.
	l.trans.DisconnectAll()
	for _, p := range peers {
		if p != l {
			p.trans.Disconnect(l.trans.LocalAddr())
		}
	}
	cut := l
	if err := applyOn(cut, cmds[40]); err == nil {
		t.Fatal("an isolated leader committed a write")
	}
	nl := leader(t, peers, cut)
	var ackedApps int
	nl.fsm.read(func(s *state) { ackedApps = len(s.Catalog.Apps) })
	if ackedApps == 0 {
		t.Fatal("new leader lost acknowledged apps")
	}
	applyOnLeader(t, peers, cut, cmd(t, cmdCreateApp, "after-failover", createAppCmd{AppID: "com.after.app"}))
	nl = leader(t, peers, cut)
	var has bool
	nl.fsm.read(func(s *state) { _, has = s.Catalog.Apps["com.after.app"] })
	if !has {
		t.Fatal("write after failover not applied")
	}
}

// TestNode_TCPAndBolt runs the production wiring: a single node on a real
// TCP raft transport with raft-boltdb, restarted on the same directory.
func TestNode_TCPAndBolt(t *testing.T) {
	dir := t.TempDir()
	start := func() (*Node, context.CancelFunc, chan error) {
		cfg := LocalConfig(dir)
		cfg.RaftAddr, cfg.Bootstrap = "127.0.0.1:0", true
		cfg.AdminToken = "test-admin-token-123456"
		cfg.Blobs = NewMemStore()
		n, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		if err := n.Start(ctx); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- n.Run(ctx) }()
		return n, cancel, done
	}
	n, cancel, done := start()
	if _, err := n.CreateApp(context.Background(), api.CreateApp{AppID: "Com.Example.App"}, ""); err != nil {
		t.Fatal(err)
	}
	idx := n.Catalog().Index
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	n, cancel, done = start()
	defer func() { cancel(); <-done }()
	if _, err := n.App("com.example.app"); err != nil || n.Catalog().Index < idx {
		t.Fatalf("after restart: %v, index %d < %d", err, n.Catalog().Index, idx)
	}
	if !n.Authenticate("test-admin-token-123456") || n.Authenticate("wrong") {
		t.Fatal("token check after restart")
	}
	if _, err := os.Stat(filepath.Join(dir, "raft", "raft.db")); err != nil {
		t.Fatal(err)
	}
}

// TestNode_DataDirInUse: a second node on a data directory another one
// holds fails with an error that says so, instead of waiting forever on
// bolt's file lock.
func TestNode_DataDirInUse(t *testing.T) {
	defer func(d time.Duration) { boltLockTimeout = d }(boltLockTimeout)
	boltLockTimeout = 200 * time.Millisecond
	dir := t.TempDir()
	cfg := LocalConfig(dir)
	cfg.RaftAddr, cfg.Blobs, cfg.Bootstrap = "127.0.0.1:0", NewMemStore(), true
	first, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = first.ln.Close(); first.shutdownRaft() })
	start := time.Now()
	_, err = New(cfg)
	if err == nil || !strings.Contains(err.Error(), "another aloft on this data directory") {
		t.Fatalf("second node on a held directory: %v", err)
	}
	t.Logf("refused after %v: %v", time.Since(start).Round(time.Millisecond), err)
}
