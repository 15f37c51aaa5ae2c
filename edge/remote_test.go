package edge_test

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aloft/aloft/edge"
	"github.com/aloft/aloft/internal/wait"
	"github.com/aloft/aloft/localcluster"
	"github.com/aloft/aloft/origin/api"
)

// startCluster runs cfg's cluster (real raft, HTTP and gossip on
// loopback) until the test ends.
func startCluster(t *testing.T, cfg localcluster.Config) *localcluster.Cluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := localcluster.Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Error(err)
		}
	})
	return c
}

// waitAll waits up to 20 s for every running edge to serve the origins'
// catalog index, and returns it.
func waitAll(t *testing.T, c *localcluster.Cluster) uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	idx, err := c.WaitAll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return idx
}

func testZip(t *testing.T, body string) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, _ := zw.Create("index.html")
	_, _ = w.Write([]byte(body))
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func post(t *testing.T, url, body string) map[string]any {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestRemoteOrigin_TwoEdges runs two edges that reach the origin only over
// HTTP: both converge on each publish, serve the bytes, and their stats
// batches reach the origin.
func TestRemoteOrigin_TwoEdges(t *testing.T) {
	c := startCluster(t, localcluster.Config{Edges: []localcluster.EdgeSpec{{}, {}}})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl := c.Admin(0)
	if _, err := cl.CreateApp(ctx, api.CreateApp{AppID: "com.example.app"}); err != nil {
		t.Fatal(err)
	}
	zipBytes := testZip(t, "<html>v1</html>")
	if _, err := cl.PutBundleZip(ctx, "com.example.app", "1.0.1", zipBytes); err != nil {
		t.Fatal(err)
	}
	v, pub := "1.0.1", true
	if _, err := cl.PutChannel(ctx, "com.example.app", "production", api.PutChannel{Bundle: &v, Public: &pub}); err != nil {
		t.Fatal(err)
	}
	waitAll(t, c)
	check := `{"platform":"ios","device_id":"2b7a3c3e-5d0a-4b7e-9c31-1f2e3d4c5b6a","app_id":"com.example.app","version_build":"1.0.0","version_name":"1.0.0","plugin_version":"8.51.23"}`
	for _, e := range c.Edges {
		m := post(t, e.URL()+"/updates", check)
		if m["version"] != "1.0.1" {
			t.Fatalf("edge %s answered %v", e.Name(), m)
		}
		resp, err := http.Get(m["url"].(string))
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		sum := sha256.Sum256(got)
		if hex.EncodeToString(sum[:]) != m["checksum"] || !bytes.Equal(got, zipBytes) {
			t.Fatal("served bytes differ from the published zip")
		}
		post(t, e.URL()+"/stats", `{"app_id":"com.example.app","version_name":"1.0.1","action":"set","device_id":"2b7a3c3e-5d0a-4b7e-9c31-1f2e3d4c5b6a","platform":"ios"}`)
	}
	var st api.AppStats
	sctx, scancel := context.WithTimeout(ctx, 10*time.Second)
	defer scancel()
	err := wait.Until(sctx, 20*time.Millisecond, func() bool {
		var err error
		st, err = cl.Stats(ctx, "com.example.app")
		if err != nil {
			t.Fatal(err)
		}
		return len(st.Versions) == 1 && st.Versions[0].Installs == 2
	})
	if err != nil {
		t.Fatalf("stats from both edges did not arrive: %+v", st)
	}
}

// TestRemoteOrigin_EdgeServesWhileOriginDown: once an edge holds the
// catalog and has the bundle cached, it keeps answering checks and serving
// the bytes with the origin gone, and it reports itself healthy.
func TestRemoteOrigin_EdgeServesWhileOriginDown(t *testing.T) {
	// No pre-fetch: the second release below must stay uncached until a
	// device asks, and a pre-fetch racing the origin's stop sometimes
	// cached it first (about one run in twenty).
	c := startCluster(t, localcluster.Config{Edges: []localcluster.EdgeSpec{{
		Tune: func(cfg *edge.Config) { cfg.PrefetchMaxBytes = -1 },
	}}})
	e := c.Edges[0].Node()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl := c.Admin(0)
	if _, err := cl.CreateApp(ctx, api.CreateApp{AppID: "com.example.app"}); err != nil {
		t.Fatal(err)
	}
	zipBytes := testZip(t, "<html>offline</html>")
	if _, err := cl.PutBundleZip(ctx, "com.example.app", "1.0.1", zipBytes); err != nil {
		t.Fatal(err)
	}
	v, pub := "1.0.1", true
	if _, err := cl.PutChannel(ctx, "com.example.app", "production", api.PutChannel{Bundle: &v, Public: &pub}); err != nil {
		t.Fatal(err)
	}
	waitAll(t, c)
	check := `{"platform":"android","device_id":"2b7a3c3e-5d0a-4b7e-9c31-1f2e3d4c5b6a","app_id":"com.example.app","version_build":"1.0.0","version_name":"1.0.0","plugin_version":"8.51.23"}`
	url := post(t, "http://"+e.Addr()+"/updates", check)["url"].(string)
	get := func() []byte {
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("download: %d %s", resp.StatusCode, b)
		}
		return b
	}
	// The cache admits asynchronously: download until one is served from
	// it (a hit), so the bytes are there before the origin goes away.
	wait.For(t, 10*time.Second, "the bundle to land in the edge's cache", func() bool { get(); return cacheHits(t, e) > 0 })

	// A second release the edge learns of but nobody downloads yet.
	if _, err := cl.PutBundleZip(ctx, "com.example.app", "1.0.2", testZip(t, "<html>cold</html>")); err != nil {
		t.Fatal(err)
	}
	v2 := "1.0.2"
	if _, err := cl.PutChannel(ctx, "com.example.app", "production", api.PutChannel{Bundle: &v2}); err != nil {
		t.Fatal(err)
	}
	waitAll(t, c)

	if err := c.StopOrigin(0); err != nil {
		t.Fatal(err)
	}
	m := post(t, "http://"+e.Addr()+"/updates", check)
	if m["version"] != "1.0.2" {
		t.Fatalf("with the origin down the edge answered %v", m)
	}
	if !bytes.Equal(get(), zipBytes) {
		t.Fatal("cached bundle not served with the origin down")
	}
	// The uncached one: a prompt 503 the plugin retries, never a hang.
	start := time.Now()
	resp, err := http.Get(m["url"].(string))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	took := time.Since(start)
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" || !strings.Contains(string(body), "retryAfterSeconds") {
		t.Fatalf("uncached download with the origin down: %d Retry-After=%q %s", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	if took > 5*time.Second {
		t.Fatalf("uncached download with the origin down took %v", took)
	}
	t.Logf("figure: uncached download with the origin down: 503 + Retry-After in %v", took)
	resp, err = http.Get("http://" + e.Addr() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("healthz %d with a catalog in hand", resp.StatusCode)
	}
}

// cacheHits reads aloft_edge_cache_hits from the edge's /metrics.
func cacheHits(t *testing.T, e *edge.Node) float64 {
	t.Helper()
	resp, err := http.Get("http://" + e.Addr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "aloft_edge_cache_hits "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
	}
	t.Fatal("aloft_edge_cache_hits missing from /metrics")
	return 0
}

// TestRemoteOrigin_NextNodeAtOnce: with a dead node first in its list,
// the edge tries the next at once rather than pausing a retry interval
// (an hour here) between nodes of one round.
func TestRemoteOrigin_NextNodeAtOnce(t *testing.T) {
	c := startCluster(t, localcluster.Config{})
	if _, err := c.Admin(0).CreateApp(context.Background(), api.CreateApp{AppID: "com.example.app"}); err != nil {
		t.Fatal(err)
	}
	e, err := c.AddEdge(localcluster.EdgeSpec{OriginURL: "http://127.0.0.1:1," + c.OriginURLs(),
		Tune: func(cfg *edge.Config) { cfg.RetryInterval = time.Hour }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := e.Node().WaitIndex(ctx, c.Origins[0].Node().Catalog().Index); err != nil {
		t.Fatalf("the edge did not reach the live node: %v", err)
	}
}
