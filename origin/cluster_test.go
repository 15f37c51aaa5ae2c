package origin

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/aloft/aloft/internal/wait"
	"github.com/aloft/aloft/origin/api"
)

// applyOn commits c through ln's raft.
func applyOn(ln *linNode, c Command) error {
	b, _ := json.Marshal(c)
	return ln.n.rn.raft.Apply(b, 2*time.Second).Error()
}

// applyOnLeader commits c through whichever node leads (never exclude).
// A pause on a loaded machine can cost a leader its lease mid-test; the
// command's idempotency key makes the retry on the next leader safe.
func applyOnLeader(t *testing.T, nodes []*linNode, exclude *linNode, c Command) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := applyOn(linLeader(t, nodes, exclude), c)
		if err == nil {
			return
		}
		if !errors.Is(err, raft.ErrNotLeader) && !errors.Is(err, raft.ErrLeadershipLost) || time.Now().After(deadline) {
			t.Fatalf("apply %s: %v", c.Key, err)
		}
	}
}

// TestCluster_ReplicatesAndSurvivesLeaderLoss: a 3-node cluster built
// with New applies a random mix of every command type to the same state
// on every node; a cut-off leader commits nothing, and the majority's new
// leader holds every acknowledged write and takes new ones.
func TestCluster_ReplicatesAndSurvivesLeaderLoss(t *testing.T) {
	nodes := startLinCluster(t)
	cmds := randomCommands(t, 42, 60)
	for _, c := range cmds[:40] {
		applyOnLeader(t, nodes, nil, c)
	}
	l := linLeader(t, nodes, nil)
	// raft's AppliedIndex runs ahead of the FSM (it is set when entries are
	// handed to it), so wait on the index the FSM itself has applied.
	fsmIndex := func(ln *linNode) (idx uint64) {
		ln.n.rn.fsm.read(func(s *state) { idx = s.Index })
		return idx
	}
	want := l.n.rn.raft.LastIndex()
	wait.For(t, 10*time.Second, "every FSM to apply the writes", func() bool {
		for _, ln := range nodes {
			if fsmIndex(ln) < want {
				return false
			}
		}
		return true
	})
	digestOf := func(ln *linNode) string {
		f := ln.n.rn.fsm
		f.mu.RLock()
		defer f.mu.RUnlock()
		return digest(t, f.s)
	}
	d := digestOf(l)
	for _, ln := range nodes {
		if got := digestOf(ln); got != d {
			t.Fatalf("%s digest differs from the leader's", ln.id)
		}
	}

	cut := l
	isolate(nodes, cut)
	if err := applyOn(cut, cmds[40]); err == nil {
		t.Fatal("an isolated leader committed a write")
	}
	var ackedApps int
	nl := linLeader(t, nodes, cut)
	nl.n.rn.fsm.read(func(s *state) { ackedApps = len(s.Catalog.Apps) })
	if ackedApps == 0 {
		t.Fatal("new leader lost acknowledged apps")
	}
	applyOnLeader(t, nodes, cut, cmd(t, cmdCreateApp, "after-failover", createAppCmd{AppID: "com.after.app"}))
	var has bool
	linLeader(t, nodes, cut).n.rn.fsm.read(func(s *state) { _, has = s.Catalog.Apps["com.after.app"] })
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
	if _, err := n.svc.CreateApp(context.Background(), api.CreateApp{AppID: "Com.Example.App"}, ""); err != nil {
		t.Fatal(err)
	}
	idx := n.Catalog().Index
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	n, cancel, done = start()
	defer func() { cancel(); <-done }()
	if _, err := n.svc.App("com.example.app"); err != nil || n.Catalog().Index < idx {
		t.Fatalf("after restart: %v, index %d < %d", err, n.Catalog().Index, idx)
	}
	if !n.svc.Authenticate("test-admin-token-123456") || n.svc.Authenticate("wrong") {
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
	t.Cleanup(func() { _ = first.hs.ln.Close(); first.rn.shutdown() })
	start := time.Now()
	_, err = New(cfg)
	if err == nil || !strings.Contains(err.Error(), "another aloft on this data directory") {
		t.Fatalf("second node on a held directory: %v", err)
	}
	t.Logf("refused after %v: %v", time.Since(start).Round(time.Millisecond), err)
}
