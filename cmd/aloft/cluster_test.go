package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aloft/aloft/blobstore/s3test"
	"github.com/aloft/aloft/origin/api"
)

const clusterToken = "binary-cluster-token-0123456789"

// freeAddr reserves a loopback port and frees it for a child to bind: a
// raft address is a member's identity and must survive its restarts.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestBinary_ThreeOriginCluster: three `aloft origin` processes on one
// real S3 server (versitygw), formed with --bootstrap and --join, written
// to through a follower with the CLI, the leader killed with SIGKILL,
// written to again, the leader restarted and caught up; every bundle
// downloads intact through an edge, and an object damaged inside the S3
// server's directory is detected, not served.
func TestBinary_ThreeOriginCluster(t *testing.T) {
	bin := testBin(t)
	dir := t.TempDir()
	s3 := s3test.Start(t)
	s3.Bucket(t, "aloft")
	env := []string{"ALOFT_ADMIN_TOKEN=" + clusterToken, "AWS_ACCESS_KEY_ID=" + s3.AccessKey, "AWS_SECRET_ACCESS_KEY=" + s3.SecretKey}
	raft := map[string]string{"o1": freeAddr(t), "o2": freeAddr(t), "o3": freeAddr(t)}
	origin := func(id string, extra ...string) *proc {
		args := append([]string{"origin", "--node-id", id, "--data", filepath.Join(dir, id),
			"--raft-addr", raft[id], "--api-addr", "127.0.0.1:0", "--gc-interval", "0",
			"--s3-endpoint", s3.Endpoint, "--s3-bucket", "aloft", "--s3-insecure",
			// Short raft timers: a dead leader is replaced in well under a second.
			"--raft-heartbeat", "200ms", "--raft-election", "200ms"}, extra...)
		return startProc(t, bin, env, args...)
	}
	nodes := map[string]*proc{"o1": origin("o1", "--bootstrap")}
	join := strings.TrimPrefix(nodes["o1"].url, "http://") // host:port, as an operator types it
	nodes["o2"] = origin("o2", "--join", join)
	nodes["o3"] = origin("o3", "--join", "127.0.0.1:1,"+join) // a dead address first: the join moves on
	cli := func(node string, args ...string) ([]byte, error) {
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "ALOFT_API="+nodes[node].url, "ALOFT_TOKEN="+clusterToken, "HOME="+dir)
		return cmd.CombinedOutput()
	}
	status := func(node string) api.ClusterStatus {
		out, err := cli(node, "cluster", "status", "--json")
		var st api.ClusterStatus
		if err != nil || json.Unmarshal(out, &st) != nil {
			return api.ClusterStatus{}
		}
		return st
	}
	if st := status("o3"); st.LeaderID != "o1" || len(st.Nodes) != 3 {
		t.Fatalf("cluster status through o3: %+v", st)
	}
	web := filepath.Join(dir, "dist")
	_ = os.MkdirAll(web, 0o755)
	_ = os.WriteFile(filepath.Join(web, "index.html"), []byte("<html>cluster</html>"), 0o644)
	for _, args := range [][]string{
		{"app", "create", "com.example.app"},
		{"channel", "create", "production", "--app", "com.example.app", "--public"},
		{"bundle", "upload", web, "--app", "com.example.app", "--version", "1.0.1", "--channel", "production"},
	} {
		if out, err := cli("o2", args...); err != nil {
			t.Fatalf("aloft %v through a follower: %v\n%s", args, err, out)
		}
	}

	// SIGKILL the leader; the survivors elect one and take the next
	// publish (retried by the test while the election runs: an attempt
	// that errors may still have committed, so success is "listed").
	if err := nodes["o1"].cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-nodes["o1"].done
	_ = os.WriteFile(filepath.Join(web, "index.html"), []byte("<html>cluster 2</html>"), 0o644)
	listed := func() bool {
		out, err := cli("o3", "bundle", "list", "--app", "com.example.app", "--json")
		return err == nil && strings.Contains(string(out), `"1.0.2"`)
	}
	if !pollFor(60*time.Second, func() bool {
		_, _ = cli("o2", "bundle", "upload", web, "--app", "com.example.app", "--version", "1.0.2", "--channel", "production")
		return listed()
	}) {
		t.Fatalf("no publish after the leader's death; status %+v", status("o2"))
	}

	// The old leader comes back on its data and catches up.
	nodes["o1"] = origin("o1")
	if !pollFor(30*time.Second, func() bool {
		st := status("o2")
		i := slices.IndexFunc(st.Nodes, func(n api.NodeStatus) bool { return n.NodeID == "o1" })
		if i < 0 || st.LeaderID == "" || st.Nodes[i].Error != "" {
			return false
		}
		lead := slices.IndexFunc(st.Nodes, func(n api.NodeStatus) bool { return n.NodeID == st.LeaderID })
		return lead >= 0 && st.Nodes[i].AppliedIndex >= st.Nodes[lead].CommitIndex
	}) {
		log := nodes["o1"].stderr.String()
		t.Fatalf("o1 did not catch up: %+v\no1's log (last 4 KiB):\n%s", status("o2"), log[max(0, len(log)-4096):])
	}
	if out, err := cli("o1", "bundle", "list", "--app", "com.example.app"); err != nil || !strings.Contains(string(out), "1.0.2") {
		t.Fatalf("o1 after restart: %v\n%s", err, out)
	}

	// An edge on the restarted node serves the publish made while it was dead.
	edgeTok := func() string {
		out, err := cli("o1", "token", "create", "edge", "--role", "edge", "--json")
		var tok struct{ Token string }
		if err != nil || json.Unmarshal(out, &tok) != nil {
			t.Fatalf("token create: %v\n%s", err, out)
		}
		return tok.Token
	}()
	edgeOn := func(node string) *proc {
		return startProc(t, bin, []string{"ALOFT_TOKEN=" + edgeTok}, "edge", "--addr", "127.0.0.1:0", "--origin", nodes[node].url,
			"--allowed-hosts", "127.0.0.1", "--spool", filepath.Join(dir, "spool-"+node), "--data-dir", filepath.Join(dir, "edgedata-"+node))
	}
	e := edgeOn("o1")
	body := `{"platform":"ios","device_id":"2b7a3c3e-5d0a-4b7e-9c31-1f2e3d4c5b6a","app_id":"com.example.app","version_build":"1.0.0","version_name":"1.0.0","plugin_version":"8.51.23"}`
	var answer struct{ Version, URL, Checksum string }
	if !pollFor(15*time.Second, func() bool {
		return json.Unmarshal([]byte(postCheck(e.url, body)), &answer) == nil && answer.Version == "1.0.2"
	}) {
		t.Fatalf("edge on o1 never served 1.0.2: %s", postCheck(e.url, body))
	}
	// Both bundles, one uploaded while o1 led and one while it was dead,
	// download intact through the edge.
	bundles, err := api.NewClient(nodes["o2"].url, clusterToken, nil).Bundles(t.Context(), "com.example.app")
	if err != nil || len(bundles) != 2 {
		t.Fatalf("bundles: %v %v", bundles, err)
	}
	for _, b := range bundles {
		got := download(t, e.url+"/b/"+b.Zip+"/x.zip")
		if sum := sha256.Sum256(got); hex.EncodeToString(sum[:]) != b.Zip {
			t.Fatalf("bundle %s downloaded damaged (%d bytes)", b.Version, len(got))
		}
	}
	// Flip a byte of 1.0.2's zip inside versitygw's directory: a fresh
	// edge (nothing cached) must refuse to serve it.
	obj := s3.ObjectPath("aloft", answer.Checksum[:2]+"/"+answer.Checksum)
	raw, err := os.ReadFile(obj)
	if err != nil {
		t.Fatalf("the zip's object in the S3 server: %v", err)
	}
	raw[len(raw)/2] ^= 0xff
	if err := os.WriteFile(obj, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	fresh := edgeOn("o3")
	if !pollFor(15*time.Second, func() bool { return strings.Contains(postCheck(fresh.url, body), `"version":"1.0.2"`) }) {
		t.Fatal("the fresh edge never got the catalog")
	}
	resp, err := http.Get(fresh.url + "/b/" + answer.Checksum + "/x.zip")
	if err != nil {
		t.Fatal(err)
	}
	served, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	// The origin's verifying reader cuts its answer short of the damaged
	// object's length, which the edge cannot tell from a broken
	// connection: it refuses with blob_unavailable, 503 + Retry-After (a
	// failed fill) or 502 (bad bytes seen); any other answer would be a
	// different failure, or bad bytes served.
	if sum := sha256.Sum256(served); (resp.StatusCode != http.StatusBadGateway && resp.StatusCode != http.StatusServiceUnavailable) || !strings.Contains(string(served), "blob_unavailable") ||
		hex.EncodeToString(sum[:]) == answer.Checksum {
		t.Fatalf("a damaged object: %d, %d bytes: %.200s", resp.StatusCode, len(served), served)
	}
}

// download GETs url and fails the test unless it answers 200.
func download(t *testing.T, url string) []byte {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, b)
	}
	return b
}

// postCheck sends an update check and returns the answer's body.
func postCheck(edge, body string) string {
	resp, err := http.Post(edge+"/updates", "application/json", strings.NewReader(body))
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
