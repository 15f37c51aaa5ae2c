package origin

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/aloft/aloft/blobstore"
	"github.com/aloft/aloft/internal/wait"
	"github.com/aloft/aloft/origin/api"
)

const clusterToken = "cluster-test-admin-token-0123"

// clusterNode is one origin.New node of an in-process cluster on real
// loopback TCP (raft and API), restartable on its data directory.
type clusterNode struct {
	t    *testing.T
	id   string
	dir  string
	n    *Node
	stop context.CancelFunc
	done chan error
}

func startClusterNode(t *testing.T, id, dir string, tweak func(*Config)) *clusterNode {
	t.Helper()
	cfg := LocalConfig(dir)
	cfg.NodeID, cfg.AdminToken, cfg.RaftAddr = id, clusterToken, "127.0.0.1:0"
	cfg.GCInterval, cfg.BlobsShared = 0, true // these tests store no blobs
	if tweak != nil {
		tweak(&cfg)
	}
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	sctx, scancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer scancel()
	if err := n.Start(sctx); err != nil {
		_ = n.Run(canceledCtx())
		t.Fatalf("start %s: %v", id, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &clusterNode{t: t, id: id, dir: dir, n: n, stop: cancel, done: make(chan error, 1)}
	go func() { c.done <- n.Run(ctx) }()
	t.Cleanup(func() { c.halt() })
	return c
}

func canceledCtx() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}

// halt stops the node gracefully (handing leadership off) and waits.
func (c *clusterNode) halt() {
	if c.stop == nil {
		return
	}
	c.stop()
	c.stop = nil
	if err := <-c.done; err != nil {
		c.t.Errorf("%s: %v", c.id, err)
	}
}

func (c *clusterNode) client() *api.Client {
	return api.NewClient("http://"+c.n.APIAddr(), clusterToken, nil)
}

func (c *clusterNode) leads() bool { return c.n.rn.raft.State() == raft.Leader }

func startThree(t *testing.T) []*clusterNode {
	t.Helper()
	root := t.TempDir()
	first := startClusterNode(t, "o1", filepath.Join(root, "o1"), func(c *Config) { c.Bootstrap = true })
	nodes := []*clusterNode{first}
	for _, id := range []string{"o2", "o3"} {
		nodes = append(nodes, startClusterNode(t, id, filepath.Join(root, id), func(c *Config) { c.Join = []string{first.n.APIAddr()} }))
	}
	return nodes
}

// leaderWithApp waits for the cluster's leader and creates
// com.example.app through it.
func leaderWithApp(t *testing.T, nodes []*clusterNode) *clusterNode {
	t.Helper()
	var leader *clusterNode
	wait.For(t, 10*time.Second, "a leader", func() bool {
		for _, c := range nodes {
			if c.leads() {
				leader = c
			}
		}
		return leader != nil
	})
	if _, err := leader.client().CreateApp(context.Background(), api.CreateApp{AppID: "com.example.app"}); err != nil {
		t.Fatal(err)
	}
	return leader
}

func appIDs(t *testing.T, cl *api.Client, consistent bool) []string {
	t.Helper()
	path := api.Prefix + "/apps"
	if consistent {
		path += "?consistent=true"
	}
	var apps []api.App
	if err := cl.Do(context.Background(), "GET", path, nil, "", &apps); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, a := range apps {
		ids = append(ids, a.ID)
	}
	return ids
}

// TestCluster_JoinForwardAndFailover builds three nodes with origin.New:
// joins through the API, writes through followers, consistent reads, a
// graceful leader stop handing off, a restart catching up, and removal.
func TestCluster_JoinForwardAndFailover(t *testing.T) {
	nodes := startThree(t)
	ctx := context.Background()
	st, err := nodes[2].client().ClusterStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.LeaderID != "o1" || len(st.Nodes) != 3 {
		t.Fatalf("status %+v", st)
	}
	for _, ns := range st.Nodes {
		if ns.Error != "" || !ns.Voter || ns.AppliedIndex == 0 || ns.APIURL == "" {
			t.Fatalf("member %+v", ns)
		}
	}

	// A write through a follower is forwarded; the answer names its index.
	resp, err := rawPost(nodes[1], api.Prefix+"/apps", `{"app_id":"com.example.one"}`)
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("write through a follower: %v %v", resp, err)
	}
	resp.Body.Close()
	if resp.Header.Get(api.HeaderIndex) == "" {
		t.Fatal("a forwarded write carries no index")
	}
	// A consistent read through the other follower sees it at once.
	if ids := appIDs(t, nodes[2].client(), true); !slices.Contains(ids, "com.example.one") {
		t.Fatalf("consistent read on a follower: %v", ids)
	}
	// The audit names the token the leader authenticated, not the
	// follower that forwarded the write.
	var page api.AuditPage
	if err := nodes[2].client().Do(ctx, "GET", api.PathAudit+"?app=com.example.one&consistent=true", nil, "", &page); err != nil ||
		len(page.Entries) != 1 || page.Entries[0].Actor != "admin" || page.Entries[0].Action != "create_app" {
		t.Fatalf("audit of the forwarded write: %+v %v", page, err)
	}

	// Reads are local, unless the client has seen a newer index than the
	// follower holds: then the leader answers.
	servedBy := func(after string) string {
		req, _ := http.NewRequest("GET", "http://"+nodes[2].n.APIAddr()+api.Prefix+"/apps", nil)
		req.Header.Set("Authorization", "Bearer "+clusterToken)
		if after != "" {
			req.Header.Set(api.HeaderAfter, after)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.Header.Get(api.HeaderNode)
	}
	if by := servedBy(""); by != "o3" {
		t.Fatalf("a plain read on o3 was served by %q", by)
	}
	if by := servedBy("999999999"); by != "o1" {
		t.Fatalf("a read after an index o3 lacks was served by %q, want the leader", by)
	}

	// The leader stops gracefully: it hands off, and writes go on.
	nodes[0].halt()
	var next *clusterNode
	wait.For(t, 10*time.Second, "a new leader", func() bool {
		for _, c := range nodes[1:] {
			if c.leads() {
				next = c
				return true
			}
		}
		return false
	})
	var follower *clusterNode
	for _, c := range nodes[1:] {
		if c != next {
			follower = c
		}
	}
	wait.For(t, 10*time.Second, "a write through the follower after the hand-off", func() bool {
		_, err := follower.client().CreateApp(ctx, api.CreateApp{AppID: "com.example.two"})
		return err == nil || isCode(err, api.CodeAppExists)
	})

	// The old leader restarts on its data: no bootstrap, no join; it
	// catches up before Start returns.
	// Raft addresses are the members' identity: it comes back on its own
	// (the API moves to a new port, which it announces).
	raftAddr := string(nodes[0].n.rn.trans.LocalAddr())
	again := startClusterNode(t, "o1", nodes[0].dir, func(c *Config) { c.RaftAddr = raftAddr })
	if ids := appIDs(t, again.client(), false); !slices.Contains(ids, "com.example.two") {
		t.Fatalf("restarted node did not catch up: %v", ids)
	}

	// It announced its new API address: the leader can reach it.
	wait.For(t, 10*time.Second, "the restarted node's status through the leader", func() bool {
		st, err := next.client().ClusterStatus(ctx)
		if err != nil {
			return false
		}
		for _, ns := range st.Nodes {
			if ns.NodeID == "o1" {
				return ns.Error == "" && ns.APIURL == "http://"+again.n.APIAddr() && ns.AppliedIndex > 0
			}
		}
		return false
	})

	// Removal.
	if err := again.client().RemoveNode(ctx, follower.id); err != nil {
		t.Fatal(err)
	}
	wait.For(t, 10*time.Second, "two members", func() bool {
		st, err := again.client().ClusterStatus(ctx)
		return err == nil && len(st.Nodes) == 2
	})
	if err := again.client().RemoveNode(ctx, "nobody"); !isCode(err, api.CodeNotFound) {
		t.Fatalf("removing an unknown node: %v", err)
	}
}

// TestCluster_NoLeaderAnswers503: with quorum gone, a write gets a clear
// 503 no_leader (or not_leader in passing) with Retry-After, never a hang.
func TestCluster_NoLeaderAnswers503(t *testing.T) {
	nodes := startThree(t)
	nodes[1].halt()
	nodes[2].halt()
	wait.For(t, 30*time.Second, "a 503 naming the missing leader", func() bool {
		resp, err := rawPost(nodes[0], api.Prefix+"/apps", `{"app_id":"com.example.lost"}`)
		if err != nil {
			return false
		}
		var e api.Error
		_ = json.NewDecoder(resp.Body).Decode(&e)
		resp.Body.Close()
		return resp.StatusCode == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") != "" && e.Code == api.CodeNoLeader
	})
}

// rawPost sends body to one node's API with the admin token.
func rawPost(c *clusterNode, path, body string) (*http.Response, error) {
	req, err := http.NewRequest("POST", "http://"+c.n.APIAddr()+path, strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+clusterToken)
	req.Header.Set("Content-Type", "application/json")
	hc := http.Client{Timeout: 20 * time.Second}
	return hc.Do(req)
}

func isCode(err error, code string) bool {
	var e *api.Error
	return errors.As(err, &e) && e.Code == code
}

// TestNode_FreshClusterNodeNeedsBootstrapOrJoin: a fresh TCP node that is
// told neither is refused with words that say what to do.
func TestNode_FreshClusterNodeNeedsBootstrapOrJoin(t *testing.T) {
	cfg := LocalConfig(t.TempDir())
	cfg.RaftAddr = "127.0.0.1:0"
	if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), "--bootstrap") {
		t.Fatalf("New = %v", err)
	}
	cfg.Bootstrap, cfg.Join = true, []string{"127.0.0.1:1"}
	if err := cfg.Validate(); err == nil {
		t.Fatal("Bootstrap and Join together were accepted")
	}
}

// TestCluster_RefusesNodeLocalBlobs: a cluster on node-local blob
// directories would lose bundles at the first failover: joining is
// refused on both sides, saying what to configure.
func TestCluster_RefusesNodeLocalBlobs(t *testing.T) {
	cfg := LocalConfig(t.TempDir())
	cfg.NodeID, cfg.AdminToken, cfg.RaftAddr, cfg.Join = "o9", clusterToken, "127.0.0.1:0", []string{"127.0.0.1:1"}
	if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), "--s3-endpoint") {
		t.Fatalf("joining with a local directory: %v", err)
	}
	lone := startClusterNode(t, "o1", t.TempDir(), func(c *Config) { c.Bootstrap, c.BlobsShared = true, false })
	err := lone.client().Join(context.Background(), api.JoinRequest{NodeID: "o2", RaftAddr: "127.0.0.1:1", APIURL: "http://127.0.0.1:1"})
	if !isCode(err, api.CodeBadRequest) || !strings.Contains(err.Error(), "shares") {
		t.Fatalf("admitting a node to a local-directory cluster: %v", err)
	}
}

// TestCluster_NewLeaderKeepsBlobsThroughGrace: marks of blobs in use live
// in the leader's memory; a new leader has none of its predecessor's, so
// for their lifetime it collects nothing, and says so.
func TestCluster_NewLeaderKeepsBlobsThroughGrace(t *testing.T) {
	shared := blobstore.NewSharedMem()
	root := t.TempDir()
	tweak := func(c *Config) { c.Blobs = shared }
	first := startClusterNode(t, "o1", filepath.Join(root, "o1"), func(c *Config) { tweak(c); c.Bootstrap = true })
	nodes := []*clusterNode{first}
	for _, id := range []string{"o2", "o3"} {
		nodes = append(nodes, startClusterNode(t, id, filepath.Join(root, id), func(c *Config) { tweak(c); c.Join = []string{first.n.APIAddr()} }))
	}
	ctx := context.Background()
	orphan := []byte("an upload on its way to a publish")
	sum := sha256.Sum256(orphan)
	sha := hex.EncodeToString(sum[:])
	if _, err := nodes[1].client().PutBlob(ctx, sha, bytes.NewReader(orphan), int64(len(orphan))); err != nil {
		t.Fatal(err) // forwarded: o1 marks it
	}
	nodes[0].halt()
	var next *clusterNode
	wait.For(t, 10*time.Second, "a new leader", func() bool {
		for _, c := range nodes[1:] {
			if c.leads() {
				next = c
			}
		}
		return next != nil
	})
	zero := int64(0)
	rep, err := next.n.svc.CollectGarbage(ctx, api.CollectGarbage{MinAgeSeconds: &zero})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := shared.Size(ctx, sha); err != nil || rep.Deleted != 0 || rep.GraceSeconds <= 0 {
		t.Fatalf("a new leader collected during its grace: %+v, blob: %v", rep, err)
	}
}

// TestConfig_Validate_RaftTimers: raft refuses a lease longer than the
// heartbeat at start; Validate says so first, in words.
func TestConfig_Validate_RaftTimers(t *testing.T) {
	cfg := LocalConfig(t.TempDir())
	cfg.LeaderLeaseTimeout = 2 * cfg.HeartbeatTimeout
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "lease") {
		t.Fatalf("a lease over the heartbeat: %v", err)
	}
	cfg = LocalConfig(t.TempDir())
	cfg.ElectionTimeout = time.Millisecond
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "5ms") {
		t.Fatalf("a 1ms election timeout: %v", err)
	}
}
